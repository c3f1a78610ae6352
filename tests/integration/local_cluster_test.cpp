// The local PostgreSQL cluster `serve` starts in embedded mode
// (adapters/postgres/local_cluster.hpp) and the connection facility over it
// (adapters/postgres/connection.hpp): start, answer, stop without leaving a process, start
// again on the same directory, and the bounded, cached health check /readyz asks.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "postgres/connection.hpp"
#include "adapters/postgres/local_cluster.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::adapters::postgres {
namespace {

using shopstream::postgres::database_url;
using shopstream::postgres::health;
using shopstream::postgres::ping;
using shopstream::postgres::query_one;

using namespace std::chrono_literals;
using testing::temp_dir;

database_url url_of(const std::string& text) {
    auto url = database_url::parse(text);
    if (!url) throw std::runtime_error(url.error().message);
    return *url;
}

// The server runs as `nobody` under root: it must get through the test's directory.
std::filesystem::path cluster_dir(const temp_dir& dir) {
    std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
    return dir.path() / "postgres";
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

TEST(local_cluster, starts_answers_stops_and_leaves_no_process) {
    temp_dir dir;
    local_cluster_options options;
    options.directory = cluster_dir(dir);
    auto started = local_cluster::start(options);
    ASSERT_TRUE(started.has_value()) << started.error();
    auto& cluster = **started;
    EXPECT_TRUE(cluster.initialized());
    EXPECT_TRUE(cluster.running());
    ASSERT_GT(cluster.pid(), 0);
    EXPECT_TRUE(process_exists(cluster.pid()));
    EXPECT_EQ(cluster.url("db"), "postgresql://" + cluster.user() + "@127.0.0.1:" + std::to_string(cluster.port()) + "/db");
    if (::geteuid() == 0) {
        EXPECT_NE(cluster.user(), "root");
    }

    const auto url = url_of(cluster.url());
    ASSERT_TRUE(ping(url, 5s).has_value());
    auto directory = query_one(url, "SHOW data_directory", 5s);
    ASSERT_TRUE(directory.has_value()) << directory.error();
    ASSERT_TRUE(directory->has_value());
    EXPECT_TRUE(std::filesystem::equivalent(**directory, cluster.data_directory()));
    auto version = query_one(url, "SHOW server_version_num", 5s);
    ASSERT_TRUE(version.has_value() && version->has_value());
    EXPECT_EQ(std::stoi(**version) / 10000, 15);
    auto fsync = query_one(url, "SHOW fsync", 5s);
    ASSERT_TRUE(fsync.has_value() && fsync->has_value());
    EXPECT_EQ(**fsync, "on");  // durable unless asked otherwise

    const pid_t pid = cluster.pid();
    const auto status = cluster.stop();
    EXPECT_TRUE(status.success()) << status.describe();
    EXPECT_FALSE(cluster.running());
    EXPECT_FALSE(process_exists(pid)) << "postmaster " << pid << " outlived stop()";
    EXPECT_FALSE(std::filesystem::exists(cluster.data_directory() / "postmaster.pid"));
    EXPECT_FALSE(ping(url, 2s).has_value());
    EXPECT_TRUE(cluster.stop().success());  // idempotent
}

TEST(local_cluster, restarts_on_its_directory_with_its_data) {
    temp_dir dir;
    local_cluster_options options;
    options.directory = cluster_dir(dir);
    options.durable = false;
    {
        auto first = local_cluster::start(options);
        ASSERT_TRUE(first.has_value()) << first.error();
        ASSERT_TRUE((*first)->ensure_database("kept").has_value());
        ASSERT_TRUE((*first)->ensure_database("kept").has_value());  // already there: fine
        const auto url = url_of((*first)->url("kept"));
        ASSERT_TRUE(query_one(url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('still here')", 10s).has_value());
        auto fsync = query_one(url, "SHOW fsync", 5s);
        ASSERT_TRUE(fsync.has_value() && fsync->has_value());
        EXPECT_EQ(**fsync, "off");
        EXPECT_FALSE((*first)->ensure_database("no; DROP").has_value());
    }  // destroyed: stopped
    auto second = local_cluster::start(options);
    ASSERT_TRUE(second.has_value()) << second.error();
    EXPECT_FALSE((*second)->initialized());
    auto value = query_one(url_of((*second)->url("kept")), "SELECT v FROM t", 5s);
    ASSERT_TRUE(value.has_value()) << value.error();
    EXPECT_EQ(value->value_or(""), "still here");
}

// A second server on a directory in use: its first line says why (the lock file).
TEST(local_cluster, a_cluster_in_use_is_refused_with_postgres_reason_on_the_first_line) {
    temp_dir dir;
    local_cluster_options options;
    options.directory = cluster_dir(dir);
    auto first = local_cluster::start(options);
    ASSERT_TRUE(first.has_value()) << first.error();
    auto second = local_cluster::start(options);
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, errc::start_failed) << second.error();
    const std::string line = second.error().message.substr(0, second.error().message.find('\n'));
    EXPECT_NE(line.find("FATAL:"), std::string::npos) << second.error().message;
    EXPECT_NE(line.find("postmaster.pid"), std::string::npos) << second.error().message;
    EXPECT_NE(line.find("(see " + (options.directory / "server.log").string() + ")"), std::string::npos) << line;
    EXPECT_TRUE(ping(url_of((*first)->url()), 5s).has_value()) << "the first server was disturbed";
}

TEST(local_cluster, a_directory_the_server_user_cannot_enter_is_refused_in_one_sentence) {
    if (::geteuid() != 0) GTEST_SKIP() << "only root switches the server to another user";
    temp_dir dir;  // 0700, root's
    local_cluster_options options;
    options.directory = dir.path() / "postgres";
    auto started = local_cluster::start(options);
    ASSERT_FALSE(started.has_value());
    EXPECT_EQ(started.error().code, errc::permission_denied) << started.error();
    EXPECT_NE(started.error().message.find("cannot enter " + dir.path().string() + " (mode 0700)"), std::string::npos)
        << started.error().message;
}

TEST(local_cluster, a_server_that_dies_is_reported_by_the_health_check_after_its_cache) {
    temp_dir dir;
    local_cluster_options options;
    options.directory = cluster_dir(dir);
    auto started = local_cluster::start(options);
    ASSERT_TRUE(started.has_value()) << started.error();
    const auto url = url_of((*started)->url());
    health cached(url, 2s, 1h);
    health fresh(url, 2s, 0ms);
    EXPECT_EQ(cached.check(), std::nullopt);
    EXPECT_EQ(fresh.check(), std::nullopt);

    ASSERT_TRUE((*started)->stop().success());
    EXPECT_EQ(cached.check(), std::nullopt) << "asked the server again within its cache time";
    const auto down = fresh.check();
    ASSERT_TRUE(down.has_value());
    EXPECT_EQ(down->code, errc::connection_failed) << *down;
    EXPECT_EQ(down->message.rfind("unreachable: ", 0), 0U) << *down;
    EXPECT_EQ(down->message.find('\n'), std::string::npos) << *down;
}

// A peer that accepts TCP connections and never speaks: the deadline, not the server, ends
// the wait.
TEST(postgres_connection, a_silent_server_cannot_hold_a_query_past_its_timeout) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* generic = reinterpret_cast<sockaddr*>(&address);  // NOLINT: the sockets API
    ASSERT_EQ(::bind(fd, generic, sizeof address), 0);
    ASSERT_EQ(::listen(fd, 8), 0);
    ASSERT_EQ(::getsockname(fd, generic, &length), 0);
    const auto url = url_of("postgresql://u@127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/db");

    const auto began = std::chrono::steady_clock::now();
    auto answer = ping(url, 500ms);
    const auto took = std::chrono::steady_clock::now() - began;
    ::close(fd);
    ASSERT_FALSE(answer.has_value());
    EXPECT_EQ(answer.error().code, errc::timed_out) << answer.error();
    EXPECT_NE(answer.error().message.find("no answer within 500 ms"), std::string::npos) << answer.error().message;
    EXPECT_GE(took, 450ms);
    EXPECT_LT(took, 3s);
}

TEST(postgres_connection, a_closed_port_fails_at_once_in_one_line) {
    const auto began = std::chrono::steady_clock::now();
    auto answer = ping(url_of("postgresql://u@127.0.0.1:1/db"), 5s);
    ASSERT_FALSE(answer.has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - began, 2s);
    EXPECT_EQ(answer.error().code, errc::connection_failed) << answer.error();
    EXPECT_NE(answer.error().message.find("Connection refused"), std::string::npos) << answer.error().message;
    EXPECT_EQ(answer.error().message.find('\n'), std::string::npos) << answer.error().message;
}

}  // namespace
}  // namespace shopstream::adapters::postgres

namespace shopstream::adapters::postgres {
namespace {

using shopstream::postgres::database_url;
using shopstream::postgres::health;
using shopstream::postgres::ping;
using shopstream::postgres::query_one;

using namespace std::chrono_literals;
using testing::temp_dir;

// What serve's default run relies on: a password set at initdb, SCRAM only (also over the
// unix socket), the same password after a restart, a wrong or missing one refused.
TEST(local_cluster, a_password_is_required_over_scram_and_survives_a_restart) {
    temp_dir dir;
    local_cluster_options options;
    options.directory = cluster_dir(dir);
    options.password = "0123456789abcdef0123";
    std::string no_password_url;
    {
        auto started = local_cluster::start(options);
        ASSERT_TRUE(started.has_value()) << started.error();
        auto& cluster = **started;
        EXPECT_EQ(cluster.url("db"), "postgresql://" + cluster.user() + ":0123456789abcdef0123@127.0.0.1:" +
                                         std::to_string(cluster.port()) + "/db");
        auto method = query_one(url_of(cluster.url()), "SHOW password_encryption", 5s);
        ASSERT_TRUE(method.has_value()) << method.error();
        EXPECT_EQ(method->value_or(""), "scram-sha-256");
        auto rules = query_one(url_of(cluster.url()),
                               "SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules", 5s);
        ASSERT_TRUE(rules.has_value()) << rules.error();
        EXPECT_EQ(rules->value_or(""), "scram-sha-256");
        EXPECT_FALSE(std::filesystem::exists(options.directory / "initdb.pwfile"));

        const std::string port = std::to_string(cluster.port());
        no_password_url = "postgresql://" + cluster.user() + "@127.0.0.1:" + port + "/postgres";
        auto wrong = ping(url_of("postgresql://" + cluster.user() + ":wrong@127.0.0.1:" + port + "/postgres"), 5s);
        ASSERT_FALSE(wrong.has_value());
        EXPECT_NE(wrong.error().message.find("password authentication failed"), std::string::npos) << wrong.error();
        auto none = ping(url_of(no_password_url), 5s);
        EXPECT_FALSE(none.has_value());
        cluster.stop();
    }
    auto again = local_cluster::start(options);
    ASSERT_TRUE(again.has_value()) << again.error();
    EXPECT_FALSE((*again)->initialized());
    EXPECT_TRUE(ping(url_of((*again)->url()), 5s).has_value());
}

TEST(local_cluster, a_cluster_made_without_a_password_is_refused_when_one_is_asked) {
    temp_dir dir;
    local_cluster_options options;
    options.directory = cluster_dir(dir);
    {
        auto trusting = local_cluster::start(options);
        ASSERT_TRUE(trusting.has_value()) << trusting.error();
    }
    options.password = "0123456789abcdef0123";
    auto refused = local_cluster::start(options);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, errc::trusts_without_password) << refused.error();
    EXPECT_NE(refused.error().message.find("accepts connections without the password"), std::string::npos) << refused.error();
}

}  // namespace
}  // namespace shopstream::adapters::postgres
