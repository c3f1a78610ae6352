// The throwaway PostgreSQL server (tests/support/postgres_fixture.hpp) and the child
// process layer under it (adapters/os/process.hpp, re-exported by tests/support/process.hpp).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/support/postgres_fixture.hpp"
#include "tests/support/process.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;

// errno of a plain TCP connect to 127.0.0.1:port, 0 if it connected.
int connect_errno(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);  // NOLINT
    const int error = rc == 0 ? 0 : errno;
    ::close(fd);
    return error;
}

// The real and effective uid of a process, from /proc.
std::pair<uid_t, uid_t> uids_of(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string field;
    while (status >> field) {
        if (field == "Uid:") {
            uid_t real = 0;
            uid_t effective = 0;
            status >> real >> effective;
            return {real, effective};
        }
    }
    ADD_FAILURE() << "no Uid line for pid " << pid;
    return {0, 0};
}

TEST(postgres_fixture, round_trips_rows) {
    auto& server = shared_postgres();
    pqxx::connection connection(server.connection_string(server.create_database()));
    {
        pqxx::work write(connection);
        write.exec0("CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, price_minor bigint)");
        for (int i = 0; i < 50; ++i) {
            write.exec_params0("INSERT INTO items VALUES ($1, $2, $3)", i, "item \"" + std::to_string(i) + "\" é",
                               std::int64_t{i} * 1'000'000'007);
        }
        write.commit();
    }
    pqxx::read_transaction read(connection);
    const auto rows = read.exec("SELECT id, name, price_minor FROM items ORDER BY id");
    ASSERT_EQ(rows.size(), 50U);
    for (int i = 0; i < 50; ++i) {
        const auto row = rows[static_cast<pqxx::result::size_type>(i)];
        EXPECT_EQ(row[0].as<int>(), i);
        EXPECT_EQ(row[1].as<std::string>(), "item \"" + std::to_string(i) + "\" é");
        EXPECT_EQ(row[2].as<std::int64_t>(), std::int64_t{i} * 1'000'000'007);
    }
}

TEST(postgres_fixture, runs_as_a_non_root_user) {
    auto& server = shared_postgres();
    struct stat data {};
    ASSERT_EQ(::stat(server.data_directory().c_str(), &data), 0);
    EXPECT_NE(data.st_uid, 0U) << "the data directory belongs to root";
    if (::geteuid() != 0) {
        EXPECT_EQ(data.st_uid, ::geteuid());
    }

    pqxx::connection connection(server.connection_string());
    pqxx::nontransaction query(connection);
    const auto row = query.exec1("SELECT current_user, pg_backend_pid()");
    EXPECT_EQ(row[0].as<std::string>(), server.user());
    if (::geteuid() == 0) {
        EXPECT_NE(row[0].as<std::string>(), "root");
    }
    // The backend serving us is a real process of the server: check its credentials.
    const auto [real, effective] = uids_of(row[1].as<int>());
    EXPECT_NE(real, 0U);
    EXPECT_NE(effective, 0U);
    EXPECT_EQ(effective, data.st_uid);
}

TEST(postgres_fixture, keeps_fsync_on) {
    auto& server = shared_postgres();
    pqxx::connection connection(server.connection_string());
    pqxx::nontransaction query(connection);
    EXPECT_EQ(query.exec1("SHOW fsync")[0].as<std::string>(), "on");
    EXPECT_EQ(query.exec1("SHOW server_version_num")[0].as<int>() / 10000, 15);
}

TEST(postgres_fixture, listens_on_loopback_at_the_reported_port) {
    auto& server = shared_postgres();
    ASSERT_GT(server.port(), 0);
    EXPECT_EQ(server.connection_string("db"),
              "postgresql://" + server.user() + "@127.0.0.1:" + std::to_string(server.port()) + "/db");
    EXPECT_EQ(connect_errno(server.port()), 0);
    pqxx::connection connection(server.connection_string());
    pqxx::nontransaction query(connection);
    const auto row = query.exec1("SELECT host(inet_server_addr()), inet_server_port(), "
                                 "current_setting('listen_addresses')");
    EXPECT_EQ(row[0].as<std::string>(), "127.0.0.1");  // NULL (unix socket) would throw
    EXPECT_EQ(row[1].as<int>(), server.port());
    EXPECT_EQ(row[2].as<std::string>(), "127.0.0.1");
}

TEST(postgres_fixture, databases_are_isolated) {
    auto& server = shared_postgres();
    const std::string first = server.create_database();
    const std::string second = server.create_database();
    ASSERT_NE(first, second);

    pqxx::connection a(server.connection_string(first));
    pqxx::connection b(server.connection_string(second));
    {
        pqxx::work tx(a);
        tx.exec0("CREATE TABLE t (v text)");
        tx.exec0("INSERT INTO t VALUES ('only in first')");
        tx.commit();
    }
    {
        pqxx::work tx(b);
        EXPECT_TRUE(tx.exec1("SELECT to_regclass('public.t')")[0].is_null());
        tx.exec0("CREATE TABLE t (v text)");  // no clash with the first database's table
        tx.exec0("INSERT INTO t VALUES ('second'), ('second again')");
        tx.commit();
    }
    pqxx::read_transaction read_a(a);
    EXPECT_EQ(read_a.exec1("SELECT count(*) FROM t")[0].as<int>(), 1);
    EXPECT_EQ(read_a.exec1("SELECT current_database()")[0].as<std::string>(), first);
}

// Its own server, since it stops it.
TEST(postgres_fixture, stop_closes_the_port_and_removes_the_directory) {
    auto started = postgres_server::start();
    ASSERT_TRUE(started.has_value()) << started.error();
    auto& server = **started;
    const int port = server.port();
    const auto directory = server.directory();
    ASSERT_TRUE(std::filesystem::exists(server.data_directory()));
    {
        pqxx::connection connection(server.connection_string());
        EXPECT_TRUE(connection.is_open());
    }

    const exit_status status = server.stop();
    EXPECT_TRUE(status.success()) << "postgres ended with " << status.describe();
    EXPECT_FALSE(server.running());
    EXPECT_EQ(connect_errno(port), ECONNREFUSED);
    EXPECT_FALSE(std::filesystem::exists(directory)) << directory;
    EXPECT_THROW(pqxx::connection(server.connection_string()), pqxx::broken_connection);
}

// ---- the process layer --------------------------------------------------------------

TEST(process, runs_to_completion_capturing_both_streams) {
    auto out = run({"sh", "-c", "echo \"$GREETING\"; echo oops >&2; exit 3"}, 10s, {{"GREETING", "hello"}});
    ASSERT_TRUE(out.has_value()) << out.error();
    EXPECT_EQ(out->standard_output, "hello\n");
    EXPECT_EQ(out->standard_error, "oops\n");
    EXPECT_EQ(out->status, (exit_status{.signaled = false, .code = 3, .signal = 0}));
}

TEST(process, run_kills_what_outlives_its_timeout) {
    const auto began = std::chrono::steady_clock::now();
    auto out = run({"sleep", "30"}, 300ms);
    EXPECT_FALSE(out.has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - began, 5s);
}

TEST(process, reports_a_program_that_cannot_start) {
    auto missing = process::spawn({{"/nonexistent/program"}});
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().code, adapters::os::errc::not_found) << missing.error();
    EXPECT_NE(missing.error().message.find("exec"), std::string::npos) << missing.error().message;
    auto unknown = process::spawn({{"no-such-program-anywhere"}});
    ASSERT_FALSE(unknown.has_value());
    EXPECT_EQ(unknown.error().code, adapters::os::errc::not_found) << unknown.error();
    EXPECT_NE(unknown.error().message.find("not found in PATH"), std::string::npos) << unknown.error();
}

TEST(process, reads_lines_with_a_timeout_and_delivers_signals) {
    auto child = process::spawn({{"sh", "-c", "echo ready; exec sleep 30"}});
    ASSERT_TRUE(child.has_value()) << child.error();
    auto line = child->read_line(10s);
    ASSERT_TRUE(line.has_value()) << line.error();
    EXPECT_EQ(*line, "ready");
    EXPECT_FALSE(child->read_line(100ms).has_value());  // nothing more is written
    EXPECT_FALSE(child->wait_for(50ms).has_value());    // still running
    ASSERT_TRUE(child->send_signal(SIGTERM).has_value());
    const auto status = child->wait_for(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(*status, (exit_status{.signaled = true, .code = 0, .signal = SIGTERM}));
    EXPECT_FALSE(child->send_signal(SIGTERM).has_value());  // already reaped
}

TEST(process, destructor_kills_a_running_child) {
    pid_t pid = 0;
    {
        auto child = process::spawn({{"sleep", "30"}});
        ASSERT_TRUE(child.has_value()) << child.error();
        pid = child->pid();
        EXPECT_EQ(::kill(pid, 0), 0);
    }
    EXPECT_EQ(::kill(pid, 0), -1);  // reaped: no such process any more
    EXPECT_EQ(errno, ESRCH);
}

TEST(process, switches_user_and_dies_with_its_parent) {
    const bool root = ::geteuid() == 0;
    // PR_SET_PDEATHSIG fires when the *thread* that spawned the child exits: spawn from a
    // thread that ends while the child is still running. A credential change clears the
    // setting, so this also checks it is made after setuid.
    std::optional<process> child;
    std::string error;
    std::string first_line;
    std::thread spawner([&] {
        spawn_options options({"sh", "-c", "id -u; exec sleep 30"});
        if (root) {
            options.uid = 65534;
            options.gid = 65534;
        }
        options.working_directory = "/";
        auto spawned = process::spawn(std::move(options));
        if (spawned) {
            first_line = spawned->read_line(10s).value_or("?");  // before the thread ends
            child.emplace(std::move(*spawned));
        } else {
            error = spawned.error().message;
        }
    });
    spawner.join();
    ASSERT_TRUE(child.has_value()) << error;
    EXPECT_EQ(first_line, std::to_string(root ? 65534U : ::geteuid()));
    const auto status = child->wait_for(10s);
    ASSERT_TRUE(status.has_value()) << "the child outlived the thread that spawned it";
    EXPECT_EQ(*status, (exit_status{.signaled = true, .code = 0, .signal = SIGKILL}));
}

}  // namespace
}  // namespace shopstream::testing
