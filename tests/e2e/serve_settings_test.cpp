// `serve`'s settings for the outside world (issue 10): --kafka-config and
// --kafka-config-file (checked at start in one line, given to every client, secrets never
// logged), the topic guarantee check's line on a cluster that cannot describe configs,
// the secrets of the default run kept in the data dir (the JWT secret, the local
// PostgreSQL's SCRAM password; both mode 0600, neither logged), and the default run on
// its local Kafka keeping every event across SIGTERM and SIGKILL restarts.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/auth/jwt.hpp"
#include "postgres/connection.hpp"
#include "tests/support/process.hpp"
#include "tests/support/serve_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;

const std::string secret = "e2e-settings-secret-0123456789abcdef-0123";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

unsigned mode_of(const std::filesystem::path& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 ? info.st_mode & 07777 : 0;
}

std::string first_line(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// The HTTP status of GET `path` with `token`.
int status_of(const std::string& base, const std::string& path, const std::string& token) {
    auto out = run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "-H",
                    "Authorization: Bearer " + token, base + path},
                   30s);
    if (!out || !out->status.success()) throw std::runtime_error("curl failed");
    return std::stoi(out->standard_output);
}

TEST(serve_kafka_config, bad_settings_fail_at_start_in_one_line_with_exit_2_and_no_secret) {
    temp_dir dir;
    std::ofstream(dir.path() / "bad.properties") << "# comment\nsecurity.protocol=SSL\nno-equals-sign\n";
    struct expectation {
        std::vector<std::string> args;
        std::string says;
    };
    for (const auto& e : std::vector<expectation>{
             {{"--kafka-config", "security.protocol"}, "--kafka-config: expected key=value, got 'security.protocol'"},
             {{"--kafka-config", "security.protocl=SSL"}, "Kafka setting security.protocl=SSL: "},
             {{"--kafka-config", "security.protocol=carrier-pigeon"}, "Kafka setting security.protocol=carrier-pigeon"},
             {{"--kafka-config", "sasl.password.typo=hunter2"}, "Kafka setting sasl.password.typo=***: "},
             {{"--kafka-config", "enable.idempotence=false"}, "enable.idempotence is set by shopstream itself"},
             {{"--kafka-config", "bootstrap.servers=elsewhere:9092"}, "use --brokers"},
             {{"--kafka-config-file", (dir.path() / "missing.properties").string()}, "cannot read the Kafka settings file"},
             {{"--kafka-config-file", (dir.path() / "bad.properties").string()}, "bad.properties:3: expected key=value"},
         }) {
        std::vector<std::string> argv = {SHOPSTREAM_BINARY, "serve", "--listen", "127.0.0.1:0"};
        argv.insert(argv.end(), e.args.begin(), e.args.end());
        auto out = run(argv, 60s);
        ASSERT_TRUE(out.has_value()) << out.error();
        EXPECT_EQ(out->status, (exit_status{false, 2, 0})) << e.args[1] << ": " << out->standard_error;
        const auto lines = lines_of(out->standard_error);
        ASSERT_EQ(lines.size(), 1U) << out->standard_error;
        EXPECT_NE(lines[0].find(e.says), std::string::npos) << lines[0];
        EXPECT_EQ(lines[0].find("hunter2"), std::string::npos) << "a secret in the log: " << lines[0];
    }
}

// The saga's and the gateway worker's settings, from a flag or its environment variable:
// a bad value stops serve before anything starts, exit 2, one line naming the flag and
// what it takes.
TEST(serve_saga_settings, bad_values_fail_at_start_in_one_line_naming_the_flag) {
    struct expectation {
        std::vector<std::string> args;
        std::vector<std::pair<std::string, std::string>> environment;
        std::string says;
    };
    for (const auto& e : std::vector<expectation>{
             {{"--payment-max-in-flight", "0"}, {}, "--payment-max-in-flight: Value 0 not in range 1 to 1000000"},
             {{"--payment-max-in-flight", "1000001"}, {}, "--payment-max-in-flight: Value 1000001 not in range"},
             {{"--payment-max-in-flight", "many"}, {}, "--payment-max-in-flight: Value many not in range"},
             {{}, {{"SHOPSTREAM_PAYMENT_MAX_IN_FLIGHT", "0"}}, "--payment-max-in-flight: Value 0 not in range"},
             {{"--payment-timeout", "fast"}, {}, "--payment-timeout: 'fast' is not a duration"},
             {{}, {{"SHOPSTREAM_PAYMENT_TIMEOUT", "0ms"}}, "--payment-timeout: "},
             {{"--payment-breaker", "1.5/20/10s/5s"}, {}, "--payment-breaker: expected RATE/CALLS/WINDOW/OPEN"},
             {{"--payment-gateway", "ftp://pay.example"}, {}, "--payment-gateway: expected simulator or an http:// or https:// URL"},
             {{"--roles", "api,payments"}, {}, "--roles: unknown role 'payments'"},
         }) {
        std::vector<std::string> argv = {SHOPSTREAM_BINARY, "serve", "--listen", "127.0.0.1:0"};
        argv.insert(argv.end(), e.args.begin(), e.args.end());
        const std::string what = e.args.empty() ? e.environment.front().first : e.args.front();
        auto out = run(argv, 60s, e.environment);
        ASSERT_TRUE(out.has_value()) << out.error();
        EXPECT_EQ(out->status, (exit_status{false, 2, 0})) << what << ": " << out->standard_error;
        const auto lines = lines_of(out->standard_error);
        ASSERT_EQ(lines.size(), 1U) << out->standard_error;
        EXPECT_NE(lines[0].find(e.says), std::string::npos) << lines[0];
    }
}

// A listen address another socket holds: serve stops at start with exit 1 and one line
// naming the address and the cause (server::start's errc::address_in_use), after the
// rest of the start (cluster, store, tail) ran and was torn down again.
TEST(serve_listen, an_address_in_use_fails_the_start_in_one_line_naming_it) {
    const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(holder, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    ASSERT_EQ(::bind(holder, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(holder, 1), 0);
    socklen_t length = sizeof address;
    ASSERT_EQ(::getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length), 0);
    const std::string listen = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));

    auto out = run({SHOPSTREAM_BINARY, "serve", "--listen", listen, "--kafka", "mock", "--jwt-secret", secret}, 120s);
    ::close(holder);
    ASSERT_TRUE(out.has_value()) << out.error();
    EXPECT_EQ(out->status, (exit_status{false, 1, 0})) << out->standard_error;
    std::vector<std::string> errors;
    for (const auto& line : lines_of(out->standard_error)) {
        if (line.find("[error]") != std::string::npos) errors.push_back(line);
    }
    ASSERT_EQ(errors.size(), 1U) << out->standard_error;
    EXPECT_NE(errors[0].find("cannot listen on " + listen), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("in use"), std::string::npos) << errors[0];
    EXPECT_EQ(out->standard_output.find("listening on"), std::string::npos) << out->standard_output;
}

// The settings reach the clients: the same start that gets past Kafka (and stops at the
// unreachable PostgreSQL) stops at Kafka once its clients are told to speak TLS to a
// plaintext broker. The settings line masks the password; nothing shows it.
TEST(serve_kafka_config, settings_reach_the_clients_and_secrets_are_masked_in_the_log) {
    temp_dir dir;
    const auto cluster = spawn_cluster(SHOPSTREAM_BINARY, 2);
    std::ofstream(dir.path() / "kafka.properties") << "# file settings\nsasl.username=shop\nsasl.password=hunter2\n";
    const std::vector<std::string> serve = {SHOPSTREAM_BINARY, "serve", "--brokers", cluster.bootstrap(),
                                            "--partitions", "2", "--data-dir", (dir.path() / "data").string(),
                                            "--jwt-secret", secret, "--postgres",
                                            "postgresql://shop@127.0.0.1:1/orders", "--kafka-config-file",
                                            (dir.path() / "kafka.properties").string()};

    auto plain = run(serve, 60s);
    ASSERT_TRUE(plain.has_value()) << plain.error();
    EXPECT_EQ(plain->status, (exit_status{false, 1, 0})) << plain->standard_error;
    EXPECT_NE(plain->standard_error.find("Kafka client settings: sasl.password=*** sasl.username=shop"),
              std::string::npos)
        << plain->standard_error;
    // librdkafka's mock implements no DescribeConfigs: one line says the check did not run.
    EXPECT_NE(plain->standard_error.find("topic guarantees NOT checked"), std::string::npos) << plain->standard_error;
    EXPECT_NE(plain->standard_error.find("cannot reach PostgreSQL"), std::string::npos) << plain->standard_error;
    EXPECT_EQ(plain->standard_error.find("hunter2"), std::string::npos) << plain->standard_error;

    auto with_tls = serve;
    with_tls.insert(with_tls.end(), {"--kafka-config", "security.protocol=SSL"});
    auto refused = run(with_tls, 60s);
    ASSERT_TRUE(refused.has_value()) << refused.error();
    EXPECT_EQ(refused->status, (exit_status{false, 1, 0})) << refused->standard_error;
    EXPECT_NE(refused->standard_error.find("cannot reach Kafka at " + cluster.bootstrap()), std::string::npos)
        << refused->standard_error;
    EXPECT_EQ(refused->standard_error.find("cannot reach PostgreSQL"), std::string::npos) << refused->standard_error;
    EXPECT_EQ(refused->standard_error.find("hunter2"), std::string::npos) << refused->standard_error;
}

// Without --jwt-secret and --postgres: the JWT secret and the local PostgreSQL's
// password are generated into the data dir (mode 0600), tokens signed with the kept
// secret are accepted, the PostgreSQL takes that password over TCP and refuses a wrong
// one; neither value reaches the log.
TEST(serve_default_run, the_jwt_secret_and_postgres_password_are_kept_in_the_data_dir_mode_0600) {
    temp_dir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
    const auto data = dir.path() / "data";
    const auto log = dir.path() / "serve.log";
    auto serve = spawn_serve(SHOPSTREAM_BINARY, {"--partitions", "2", "--data-dir", data.string()}, log);

    const std::string jwt_secret = first_line(data / "jwt-secret");
    const std::string pg_password = first_line(data / "postgres-password");
    EXPECT_EQ(mode_of(data / "jwt-secret"), 0600U);
    EXPECT_EQ(mode_of(data / "postgres-password"), 0600U);
    ASSERT_GE(jwt_secret.size(), 32U);
    ASSERT_GE(pg_password.size(), 16U);

    auto authority = adapters::auth::jwt_authority::create(jwt_secret);
    ASSERT_TRUE(authority.has_value()) << authority.error();
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    auto token = authority->mint("customer-7", domain::role::customer, 1h, now);
    ASSERT_TRUE(token.has_value());
    EXPECT_EQ(status_of(serve.base, "/v1/orders/o-none/events", *token), 404);
    auto foreign = adapters::auth::jwt_authority::create(secret)->mint("customer-7", domain::role::customer, 1h, now);
    EXPECT_EQ(status_of(serve.base, "/v1/orders/o-none/events", *foreign), 401);

    const std::string text = read_file(log);
    std::smatch found;
    ASSERT_TRUE(std::regex_search(text, found, std::regex("at postgresql://([a-z]+)@127\\.0\\.0\\.1:([0-9]+)/shopstream")))
        << text;
    const std::string server = "127.0.0.1:" + found[2].str();
    auto right = shopstream::postgres::database_url::parse("postgresql://" + found[1].str() + ":" + pg_password + "@" +
                                                         server + "/shopstream");
    ASSERT_TRUE(right.has_value()) << right.error();
    EXPECT_TRUE(shopstream::postgres::ping(*right, 5s).has_value());
    auto wrong = shopstream::postgres::database_url::parse("postgresql://" + found[1].str() + ":wrong@" + server +
                                                         "/shopstream");
    ASSERT_TRUE(wrong.has_value()) << wrong.error();
    auto refused = shopstream::postgres::ping(*wrong, 5s);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, shopstream::postgres::errc::connection_failed) << refused.error();
    EXPECT_NE(refused.error().message.find("password authentication failed"), std::string::npos) << refused.error();

    EXPECT_EQ(text.find(jwt_secret), std::string::npos) << "the JWT secret is in the log";
    EXPECT_EQ(text.find(pg_password), std::string::npos) << "the PostgreSQL password is in the log";
    EXPECT_NE(text.find("using the one in " + (data / "jwt-secret").string() + " (generated now"), std::string::npos)
        << text;
    auto stopped = stop_serve(serve);
    ASSERT_TRUE(stopped.has_value()) << stopped.error();
    EXPECT_TRUE(stopped->success()) << stopped->describe() << "\n" << read_file(log);
    EXPECT_EQ(first_line(data / "jwt-secret"), jwt_secret);  // kept for the next start
}

struct answer {
    int status = 0;
    std::string body;
};

// One request through curl: status and body.
answer request(const std::string& base, const std::string& method, const std::string& path, const std::string& token,
               const std::string& body = {}) {
    std::vector<std::string> argv = {"curl", "-s", "-S", "--max-time", "30", "-X", method, "-H",
                                     "Authorization: Bearer " + token, "-w", "\n%{http_code}"};
    if (!body.empty()) argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    argv.push_back(base + path);
    auto out = run(argv, 40s);
    if (!out || !out->status.success()) throw std::runtime_error("curl " + method + " " + path + " failed");
    const auto newline = out->standard_output.rfind('\n');
    return {std::stoi(out->standard_output.substr(newline + 1)), out->standard_output.substr(0, newline)};
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// Waits (bounded) until `pid` is gone.
bool gone_within(pid_t pid, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process_exists(pid)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(50ms);  // polling another process' exit
    }
    return true;
}

// The default run (no --brokers, no --kafka mock): the local Kafka in <data-dir>/kafka.
// Orders placed, then SIGTERM and a restart on the same data dir: every history answer
// is the same, byte for byte, and the first run's token still works; then SIGKILL (the
// JVM and the postmaster die with serve) and a restart: the same again. Prints the time
// from start to `listening on` of each start.
TEST(serve_default_run, every_event_survives_a_sigterm_and_a_sigkill_restart_on_the_local_kafka) {
    temp_dir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
    const auto data = dir.path() / "data";
    // No saga: the histories compared across restarts must not move between the reads.
    const std::vector<std::string> args = {"--kafka", "local", "--partitions", "2", "--data-dir", data.string(),
                                           "--roles", "api,projections"};
    const auto start = [&](const std::string& name) {
        const auto began = std::chrono::steady_clock::now();
        auto serve = spawn_serve(SHOPSTREAM_BINARY, args, dir.path() / (name + ".log"), {}, 240s);
        std::cout << "[ timing   ] " << name << ": ready in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count()
                  << " ms" << std::endl;
        return serve;
    };

    auto first = start("first");
    const std::string first_log = read_file(dir.path() / "first.log");
    EXPECT_NE(first_log.find("started a LOCAL Apache Kafka"), std::string::npos) << first_log;
    EXPECT_NE(first_log.find("log formatted now"), std::string::npos) << first_log;
    EXPECT_NE(first_log.find("has a single broker: every topic keeps ONE copy"), std::string::npos) << first_log;
    auto authority = adapters::auth::jwt_authority::create(first_line(data / "jwt-secret"));
    ASSERT_TRUE(authority.has_value()) << authority.error();
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    const std::string token = *authority->mint("customer-9", domain::role::customer, 2h, now);

    std::map<std::string, std::string> histories;  // order id -> GET .../events body
    const auto place = [&](const std::string& base, int count) {
        for (int i = 0; i < count; ++i) {
            auto placed = request(base, "POST", "/v1/orders", token,
                                  R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"sku-1","quantity":2,"unitPrice":{"amount":1250,"currency":"EUR"}}]})");
            ASSERT_EQ(placed.status, 201) << placed.body;
            const std::string id = nlohmann::json::parse(placed.body).at("orderId");
            if (i % 2 == 0) {
                ASSERT_EQ(request(base, "POST", "/v1/orders/" + id + "/cancel", token).status, 200);
            }
            auto history = request(base, "GET", "/v1/orders/" + id + "/events", token);
            ASSERT_EQ(history.status, 200) << history.body;
            histories[id] = history.body;
        }
    };
    const auto expect_every_history = [&](const std::string& base, const std::string& after) {
        for (const auto& [id, body] : histories) {
            auto again = request(base, "GET", "/v1/orders/" + id + "/events", token);
            EXPECT_EQ(again.status, 200) << after << ": " << id << ": " << again.body;
            EXPECT_EQ(again.body, body) << after << ": " << id;
        }
    };
    ASSERT_NO_FATAL_FAILURE(place(first.base, 6));
    auto stopped = stop_serve(first, 60s);
    ASSERT_TRUE(stopped.has_value()) << stopped.error();
    EXPECT_TRUE(stopped->success()) << stopped->describe() << "\n" << read_file(dir.path() / "first.log");
    EXPECT_NE(read_file(dir.path() / "first.log").find("local Kafka stopped"), std::string::npos);

    auto second = start("second");
    EXPECT_NE(read_file(dir.path() / "second.log").find("existing log"), std::string::npos);
    expect_every_history(second.base, "after SIGTERM");
    ASSERT_NO_FATAL_FAILURE(place(second.base, 4));

    std::smatch jvm;
    const std::string second_log = read_file(dir.path() / "second.log");
    ASSERT_TRUE(std::regex_search(second_log, jvm, std::regex("single node, pid ([0-9]+)"))) << second_log;
    ASSERT_TRUE(second.child.send_signal(SIGKILL).has_value());
    ASSERT_TRUE(second.child.wait_for(30s).has_value());
    EXPECT_TRUE(gone_within(std::stoi(jvm[1].str()), 30s)) << "the JVM outlived a SIGKILLed serve";

    auto third = start("third");
    expect_every_history(third.base, "after SIGKILL");
    EXPECT_EQ(histories.size(), 10U);
    auto last = stop_serve(third, 60s);
    ASSERT_TRUE(last.has_value()) << last.error();
    EXPECT_TRUE(last->success()) << last->describe();
}

}  // namespace
}  // namespace shopstream::testing
