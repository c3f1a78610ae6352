#include "tests/support/postgres_fixture.hpp"

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <pqxx/pqxx>

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;

constexpr int start_attempts = 5;          // each on a new port, in case another took it
constexpr auto initdb_timeout = 120s;
constexpr auto ready_timeout = 60s;        // generous: sanitizers and loaded CI machines
constexpr auto shutdown_timeout = 15s;     // then SIGKILL

std::string env_or(const char* name, std::string fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

// The tail of a log file, for error messages.
std::string tail_of(const std::filesystem::path& file, std::size_t max_bytes = 4000) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return "(no " + file.string() + ")";
    std::stringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
    return text;
}

struct os_user {
    std::string name;
    std::optional<uid_t> uid;  // set when the server must switch to this user
    std::optional<gid_t> gid;
};

result<os_user, std::string> server_user() {
    std::array<char, 4096> buffer{};
    passwd entry{};
    passwd* found = nullptr;
    if (::geteuid() != 0) {
        // Already unprivileged: the server runs as this user.
        ::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found);
        if (found == nullptr) return fail("postgres fixture: no passwd entry for uid " + std::to_string(::geteuid()));
        return os_user{found->pw_name, std::nullopt, std::nullopt};
    }
    const std::string name = env_or("SHOPSTREAM_TEST_PG_USER", "nobody");
    ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
        return fail("postgres fixture: running as root and there is no user '" + name +
                    "' to run PostgreSQL as (set SHOPSTREAM_TEST_PG_USER)");
    }
    if (found->pw_uid == 0) {
        return fail("postgres fixture: SHOPSTREAM_TEST_PG_USER=" + name + " is root; PostgreSQL refuses that");
    }
    return os_user{found->pw_name, found->pw_uid, found->pw_gid};
}

// A port that was free a moment ago: the kernel's pick for 127.0.0.1:0.
result<int, std::string> free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    // sockaddr_in -> sockaddr is how the sockets API is meant to be called.
    auto* generic = reinterpret_cast<sockaddr*>(&address);  // NOLINT
    if (::bind(fd, generic, sizeof address) != 0 || ::getsockname(fd, generic, &length) != 0) {
        const int error = errno;
        ::close(fd);
        return fail(std::string("bind 127.0.0.1:0: ") + std::strerror(error));
    }
    ::close(fd);
    return static_cast<int>(ntohs(address.sin_port));
}

}  // namespace

result<std::unique_ptr<postgres_server>, std::string> postgres_server::start() {
    const std::filesystem::path bindir = env_or("SHOPSTREAM_PG_BINDIR", "/usr/lib/postgresql/15/bin");
    for (const char* program : {"initdb", "postgres"}) {
        if (::access((bindir / program).c_str(), X_OK) != 0) {
            return fail("postgres fixture: " + (bindir / program).string() +
                        " is not executable (install postgresql-15 or set SHOPSTREAM_PG_BINDIR)");
        }
    }
    auto user = server_user();
    if (!user) return fail(std::move(user.error()));

    std::string pattern = (std::filesystem::temp_directory_path() / "shopstream-pg-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        return fail("postgres fixture: mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    // From here on the destructor removes the directory, whatever fails.
    std::unique_ptr<postgres_server> server(new postgres_server());
    server->directory_ = pattern;
    server->user_ = user->name;
    if (user->uid && ::chown(pattern.c_str(), *user->uid, *user->gid) != 0) {
        return fail("postgres fixture: chown " + pattern + " to " + user->name + ": " + std::strerror(errno));
    }

    const auto log = server->directory_ / "initdb.log";
    spawn_options initdb_options({(bindir / "initdb").string(), "--pgdata", server->data_directory().string(),
                                  "--username", user->name, "--auth", "trust", "--no-locale", "--encoding",
                                  "UTF8",
                                  // Only skips syncing initdb's own files; the server keeps fsync=on.
                                  "--no-sync", "--no-instructions"});
    initdb_options.uid = user->uid;
    initdb_options.gid = user->gid;
    initdb_options.working_directory = server->directory_;  // the test's cwd may be closed to `nobody`
    initdb_options.standard_output = output::to_file(log);
    initdb_options.standard_error = output::to_file(log);
    auto initdb = process::spawn(std::move(initdb_options));
    if (!initdb) return fail("postgres fixture: " + initdb.error());
    const auto initdb_status = initdb->wait_for(initdb_timeout);
    if (!initdb_status || !initdb_status->success()) {
        return fail("postgres fixture: initdb " +
                    (initdb_status ? initdb_status->describe() : std::string("timed out")) + ":\n" +
                    tail_of(log));
    }

    std::string last_error;
    for (int attempt = 1; attempt <= start_attempts; ++attempt) {
        auto port = free_loopback_port();
        if (!port) return fail("postgres fixture: " + port.error());
        server->port_ = *port;
        spawn_options options({(bindir / "postgres").string(), "-D", server->data_directory().string(), "-p",
                               std::to_string(*port), "-c", "listen_addresses=127.0.0.1", "-c",
                               "unix_socket_directories=" + server->directory_.string(), "-c",
                               "logging_collector=off"});
        options.uid = user->uid;
        options.gid = user->gid;
        options.working_directory = server->directory_;
        options.standard_output = output::to_file(server->log_file());
        options.standard_error = output::to_file(server->log_file());
        auto postgres = process::spawn(std::move(options));
        if (!postgres) return fail("postgres fixture: " + postgres.error());
        server->server_.emplace(std::move(*postgres));

        const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
        bool ready = false;
        while (!ready) {
            if (const auto ended = server->server_->wait_for(0ms)) {
                last_error = "postgres " + ended->describe() + " while starting:\n" + tail_of(server->log_file());
                break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                last_error = "postgres did not accept connections within " +
                             std::to_string(ready_timeout.count()) + " s:\n" + tail_of(server->log_file());
                break;
            }
            try {
                pqxx::connection connection(server->connection_string());
                pqxx::nontransaction query(connection);
                // Another server may have taken the port since we picked it: only ours has
                // our data directory.
                const auto data_directory = query.exec1("SHOW data_directory")[0].as<std::string>();
                if (std::filesystem::equivalent(data_directory, server->data_directory())) {
                    ready = true;
                } else {
                    std::this_thread::sleep_for(20ms);
                }
            } catch (const std::exception&) {
                std::this_thread::sleep_for(20ms);
            }
        }
        if (ready) return server;
        (void)server->server_->kill();
        server->server_.reset();
        // A port taken between our pick and postgres' bind: try another one.
        if (last_error.find("could not bind") == std::string::npos &&
            last_error.find("could not create any TCP/IP sockets") == std::string::npos) {
            break;
        }
    }
    return fail("postgres fixture: " + last_error);
}

postgres_server::~postgres_server() { (void)stop(); }

std::string postgres_server::connection_string(std::string_view database) const {
    return "postgresql://" + user_ + "@127.0.0.1:" + std::to_string(port_) + "/" + std::string(database);
}

std::string postgres_server::create_database() {
    const std::string name = "test_" + std::to_string(::getpid()) + "_" + std::to_string(++database_counter_);
    try {
        pqxx::connection connection(connection_string());
        pqxx::nontransaction create(connection);  // CREATE DATABASE cannot run in a transaction
        create.exec0("CREATE DATABASE " + create.quote_name(name));
    } catch (const std::exception& e) {
        throw std::runtime_error("postgres fixture: CREATE DATABASE " + name + ": " + e.what() +
                                 "\nserver log:\n" + tail_of(log_file()));
    }
    return name;
}

exit_status postgres_server::stop() {
    if (server_ && server_->running()) {
        (void)server_->send_signal(SIGINT);  // fast shutdown: abort transactions, checkpoint
        auto status = server_->wait_for(shutdown_timeout);
        stopped_ = status ? *status : server_->kill();
    } else if (server_ && !stopped_) {
        stopped_ = server_->wait_for(0ms);
    }
    server_.reset();
    if (!directory_.empty() && !removed_) {
        std::error_code ignored;
        std::filesystem::remove_all(directory_, ignored);
        removed_ = true;
    }
    return stopped_.value_or(exit_status{});
}

postgres_server& shared_postgres() {
    // Function-local statics: constructed on first use, destroyed (server stopped, temp
    // dir removed) when the test binary exits normally. If it is killed instead,
    // PR_SET_PDEATHSIG takes the server down; only the temp dir is left behind.
    static std::mutex mutex;
    static std::unique_ptr<postgres_server> server;
    static std::string error;
    const std::scoped_lock lock(mutex);
    if (server) return *server;
    if (!error.empty()) throw std::runtime_error(error);
    auto started = postgres_server::start();
    if (!started) {
        error = started.error();
        throw std::runtime_error(error);
    }
    server = std::move(*started);
    return *server;
}

}  // namespace shopstream::testing
