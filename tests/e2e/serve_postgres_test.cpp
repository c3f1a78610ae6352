// `serve` and PostgreSQL (issue #4): the local PostgreSQL of the embedded mode shows in
// /readyz, going down shows there too, and it never outlives serve (SIGTERM, SIGINT, a
// failed start); a --postgres nobody answers at fails fast in one line with exit code 1,
// a bad URL with 2, and the flag wins over SHOPSTREAM_POSTGRES.
#include <gtest/gtest.h>

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/serve_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string secret = "e2e-postgres-secret-0123456789abcdef-0123";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// The local PostgreSQL runs as `nobody` under root: it must get through the directory.
void make_traversable(const temp_dir& dir) {
    std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
}

struct readyz {
    int status = 0;
    json body;
};

readyz get_readyz(const std::string& base) {
    auto out = run({"curl", "-s", "--max-time", "10", "-w", "\n%{http_code}", base + "/readyz"}, 20s);
    if (!out || !out->status.success()) throw std::runtime_error("curl /readyz failed");
    const auto newline = out->standard_output.rfind('\n');
    return {std::stoi(out->standard_output.substr(newline + 1)),
            json::parse(out->standard_output.substr(0, newline), nullptr, false)};
}

// Polls /readyz until `done` holds, for up to 20 s; returns the last answer.
template <class Predicate>
readyz wait_readyz(const std::string& base, Predicate done) {
    readyz last;
    for (int i = 0; i < 200; ++i) {
        last = get_readyz(base);
        if (done(last)) break;
        std::this_thread::sleep_for(100ms);
    }
    return last;
}

serve_process start_serve(const std::vector<std::string>& extra, const std::filesystem::path& log) {
    std::vector<std::string> args = {"--partitions", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return spawn_serve(SHOPSTREAM_BINARY, args, log, {{"SHOPSTREAM_JWT_SECRET", secret}});
}

// The postmaster's pid, from the first line of its lock file.
pid_t postmaster_pid(const std::filesystem::path& data_dir) {
    std::ifstream in(data_dir / "postgres" / "data" / "postmaster.pid");
    pid_t pid = 0;
    in >> pid;
    return pid;
}

TEST(serve_postgres, the_local_postgres_is_in_readyz_and_its_death_makes_serve_unready) {
    temp_dir dir;
    make_traversable(dir);
    const auto data = dir.path() / "data";
    auto serve = start_serve({"--data-dir", data.string()}, dir.path() / "serve.log");

    const auto ready = wait_readyz(serve.base, [](const readyz& r) { return r.status == 200; });
    ASSERT_EQ(ready.status, 200) << ready.body.dump();
    EXPECT_EQ(ready.body.at("checks").at("postgres"), "ok") << ready.body.dump();
    const std::string log = read_file(dir.path() / "serve.log");
    EXPECT_TRUE(std::regex_search(log, std::regex("LOCAL PostgreSQL 15 .* at postgresql://[a-z]+@127\\.0\\.0\\.1:[0-9]+/shopstream")))
        << log;

    const pid_t postmaster = postmaster_pid(data);
    ASSERT_GT(postmaster, 0);
    ASSERT_TRUE(process_exists(postmaster));
    ASSERT_EQ(::kill(postmaster, SIGINT), 0);  // PostgreSQL's fast shutdown, behind serve's back

    const auto down = wait_readyz(serve.base, [](const readyz& r) { return r.status == 503; });
    ASSERT_EQ(down.status, 503) << down.body.dump();
    const std::string why = down.body.at("checks").at("postgres");
    EXPECT_EQ(why.rfind("unreachable: ", 0), 0U) << why;
    EXPECT_EQ(down.body.at("notReady"), json::array({"postgres"})) << down.body.dump();
    EXPECT_EQ(down.body.at("checks").at("tail"), "ok");

    ASSERT_TRUE(serve.child.send_signal(SIGTERM).has_value());
    const auto status = serve.child.wait_for(30s);
    ASSERT_TRUE(status.has_value()) << "serve did not stop on SIGTERM";
    EXPECT_TRUE(status->success()) << status->describe() << "\n" << read_file(dir.path() / "serve.log");
}

// Without --data-dir: the temporary directory, the local PostgreSQL in it and its
// postmaster are all gone once serve has stopped, by SIGTERM or by SIGINT.
TEST(serve_postgres, a_stop_signal_leaves_no_postmaster_and_no_temporary_directory) {
    temp_dir dir;
    for (const int signal : {SIGTERM, SIGINT}) {
        const auto log_file = dir.path() / ("serve-" + std::to_string(signal) + ".log");
        auto serve = start_serve({}, log_file);
        const auto ready = wait_readyz(serve.base, [](const readyz& r) { return r.status == 200; });
        ASSERT_EQ(ready.status, 200) << ready.body.dump();
        EXPECT_EQ(ready.body.at("checks").at("postgres"), "ok");

        std::smatch found;
        const std::string log = read_file(log_file);
        ASSERT_TRUE(std::regex_search(log, found, std::regex("data directory (\\S+) \\(temporary"))) << log;
        const std::filesystem::path data = found[1].str();
        const pid_t postmaster = postmaster_pid(data);
        ASSERT_GT(postmaster, 0) << log;
        ASSERT_TRUE(process_exists(postmaster));

        ASSERT_TRUE(serve.child.send_signal(signal).has_value());
        const auto status = serve.child.wait_for(30s);
        ASSERT_TRUE(status.has_value()) << "serve did not stop on signal " << signal;
        EXPECT_TRUE(status->success()) << status->describe() << "\n" << read_file(log_file);
        EXPECT_FALSE(process_exists(postmaster)) << "postmaster " << postmaster << " outlived serve";
        EXPECT_FALSE(std::filesystem::exists(data)) << data;
        EXPECT_NE(read_file(log_file).find("local PostgreSQL stopped"), std::string::npos) << read_file(log_file);
    }
}

// A start that fails after the local PostgreSQL is up (here: an address not on this
// machine) stops it on the way out.
TEST(serve_postgres, a_failed_start_stops_the_local_postgres) {
    temp_dir dir;
    make_traversable(dir);
    const auto data = dir.path() / "data";
    auto out = run({SHOPSTREAM_BINARY, "serve", "--listen", "203.0.113.1:0", "--partitions", "2", "--data-dir",
                    data.string(), "--jwt-secret", secret},
                   60s);
    ASSERT_TRUE(out.has_value()) << out.error();
    EXPECT_EQ(out->status, (exit_status{false, 1, 0})) << out->standard_error;
    std::smatch found;
    ASSERT_TRUE(std::regex_search(out->standard_error, found, std::regex("LOCAL PostgreSQL 15 \\(pid ([0-9]+)")))
        << out->standard_error;
    const pid_t postmaster = std::stoi(found[1].str());
    EXPECT_FALSE(process_exists(postmaster)) << "postmaster " << postmaster << " outlived serve";
    // A clean fast shutdown removes the lock file; a killed postmaster would leave it.
    EXPECT_TRUE(std::filesystem::exists(data / "postgres" / "data" / "PG_VERSION"));
    EXPECT_FALSE(std::filesystem::exists(data / "postgres" / "data" / "postmaster.pid"));
}

// Nothing answers at --postgres: exit 1 within seconds, and the one line on stderr names it.
TEST(serve_postgres, an_unreachable_postgres_fails_fast_with_one_line_in_either_log_format) {
    temp_dir dir;
    const auto cluster = spawn_cluster(SHOPSTREAM_BINARY, 2);

    for (const std::string format : {"text", "json"}) {
        const auto began = std::chrono::steady_clock::now();
        auto out = run({SHOPSTREAM_BINARY, "serve", "--brokers", cluster.bootstrap(), "--partitions", "2", "--data-dir",
                        (dir.path() / format).string(), "--jwt-secret", secret, "--log-format", format,
                        "--postgres", "postgresql://shop:pw@127.0.0.1:1/orders"},
                       60s);
        const auto took = std::chrono::steady_clock::now() - began;
        ASSERT_TRUE(out.has_value()) << out.error();
        EXPECT_EQ(out->status, (exit_status{false, 1, 0})) << format << ": " << out->standard_error;
        EXPECT_LT(took, 10s) << format;
        auto lines = lines_of(out->standard_error);
        // The mock cluster cannot describe topic configs: one warning says so before PostgreSQL is asked.
        EXPECT_EQ(std::erase_if(lines, [](const std::string& l) { return l.find("topic guarantees NOT checked") != std::string::npos; }), 1U)
            << out->standard_error;
        ASSERT_EQ(lines.size(), 1U) << format << ":\n" << out->standard_error;
        EXPECT_NE(lines[0].find("cannot reach PostgreSQL at shop@127.0.0.1:1/orders: "), std::string::npos)
            << lines[0];
        EXPECT_NE(lines[0].find("Connection refused"), std::string::npos) << lines[0];
        EXPECT_EQ(lines[0].find("pw"), std::string::npos) << "the password is in the log: " << lines[0];
        if (format == "json") {
            const json parsed = json::parse(lines[0], nullptr, false);
            ASSERT_FALSE(parsed.is_discarded()) << lines[0];
            EXPECT_EQ(parsed.value("level", ""), "error");
        }
    }
}

TEST(serve_postgres, the_flag_wins_over_shopstream_postgres) {
    const std::vector<std::string> serve = {SHOPSTREAM_BINARY, "serve", "--listen", "127.0.0.1:0",
                                            "--partitions", "2"};
    // The environment alone is read: a bad URL there is a usage error naming the option.
    auto from_env = run(serve, 60s, {{"SHOPSTREAM_POSTGRES", "not a url"}});
    ASSERT_TRUE(from_env.has_value()) << from_env.error();
    EXPECT_EQ(from_env->status, (exit_status{false, 2, 0})) << from_env->standard_error;
    EXPECT_NE(from_env->standard_error.find("--postgres: not a PostgreSQL connection URL"), std::string::npos)
        << from_env->standard_error;

    // The flag wins: its closed port is what fails, not the environment's bad URL.
    auto argv = serve;
    argv.insert(argv.end(), {"--postgres", "postgresql://127.0.0.1:1/x"});
    auto flag = run(argv, 60s, {{"SHOPSTREAM_POSTGRES", "not a url"}});
    ASSERT_TRUE(flag.has_value()) << flag.error();
    EXPECT_EQ(flag->status, (exit_status{false, 1, 0})) << flag->standard_error;
    EXPECT_NE(flag->standard_error.find("cannot reach PostgreSQL at 127.0.0.1:1/x"), std::string::npos)
        << flag->standard_error;
}

}  // namespace
}  // namespace shopstream::testing
