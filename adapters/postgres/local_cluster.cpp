#include "adapters/postgres/local_cluster.hpp"

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "postgres/connection.hpp"

namespace shopstream::adapters::postgres {

using shopstream::postgres::database_url;
using shopstream::postgres::query_one;
namespace {

using namespace std::chrono_literals;

constexpr int start_attempts = 5;  // each on a new port, in case another process took it
constexpr auto initdb_timeout = 120s;
constexpr auto shutdown_timeout = 15s;  // then SIGKILL

std::filesystem::path bindir() {
    const char* value = std::getenv("SHOPSTREAM_PG_BINDIR");
    return value != nullptr && *value != '\0' ? value : "/usr/lib/postgresql/15/bin";
}

struct os_user {
    std::string name;
    std::optional<uid_t> uid;  // set when the server must switch to this user
    std::optional<gid_t> gid;
};

result<os_user, error> server_user(const std::string& wanted) {
    std::array<char, 4096> buffer{};
    passwd entry{};
    passwd* found = nullptr;
    if (::geteuid() != 0) {
        // Already unprivileged: the server runs as this user.
        ::getpwuid_r(::geteuid(), &entry, buffer.data(), buffer.size(), &found);
        if (found == nullptr) return fail(error{errc::no_server_user, "no passwd entry for uid " + std::to_string(::geteuid())});
        return os_user{found->pw_name, std::nullopt, std::nullopt};
    }
    ::getpwnam_r(wanted.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
        return fail(error{errc::no_server_user, "this process runs as root, PostgreSQL refuses to, and there is no user '" +
                                                    wanted + "' to run it as"});
    }
    if (found->pw_uid == 0) {
        return fail(error{errc::no_server_user, "user '" + wanted + "' is root; PostgreSQL refuses to run as root"});
    }
    return os_user{found->pw_name, found->pw_uid, found->pw_gid};
}

std::string octal_mode(mode_t mode) {
    std::array<char, 8> text{};
    std::snprintf(text.data(), text.size(), "%04o", static_cast<unsigned>(mode & 07777));
    return text.data();
}

// The server, running as `user`, must be able to enter every directory above its own.
result<void, error> reachable_by(const std::filesystem::path& directory, const os_user& user) {
    if (!user.uid) return {};
    for (std::filesystem::path p = directory.parent_path(); !p.empty(); p = p.parent_path()) {
        struct stat info {};
        if (::stat(p.c_str(), &info) != 0) return fail(error{errc::io, "stat " + p.string() + ": " + std::strerror(errno)});
        const bool ok = info.st_uid == *user.uid   ? (info.st_mode & S_IXUSR) != 0
                        : info.st_gid == *user.gid ? (info.st_mode & S_IXGRP) != 0
                                                   : (info.st_mode & S_IXOTH) != 0;
        if (!ok) {
            return fail(error{errc::permission_denied, "PostgreSQL runs as '" + user.name +
                                                           "' (this process is root), which cannot enter " + p.string() +
                                                           " (mode " + octal_mode(info.st_mode) +
                                                           "): make it searchable (chmod o+x " + p.string() + ")"});
        }
        if (p == p.parent_path()) break;
    }
    return {};
}

// A port that was free a moment ago: the kernel's pick for 127.0.0.1:0.
result<int, error> free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(error{errc::io, std::string("socket: ") + std::strerror(errno)});
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    // sockaddr_in -> sockaddr is how the sockets API is meant to be called.
    auto* generic = reinterpret_cast<sockaddr*>(&address);  // NOLINT
    if (::bind(fd, generic, sizeof address) != 0 || ::getsockname(fd, generic, &length) != 0) {
        const int errnum = errno;
        ::close(fd);
        return fail(error{errc::io, std::string("bind 127.0.0.1:0: ") + std::strerror(errnum)});
    }
    ::close(fd);
    return static_cast<int>(ntohs(address.sin_port));
}

// The first line of an error: the log's last FATAL/PANIC/error line, and where the log is;
// its tail follows on the next lines.
std::string log_summary(const std::filesystem::path& log) {
    std::ifstream in(log);
    std::string reason;
    for (std::string line; std::getline(in, line);) {
        if (line.find("FATAL:") != std::string::npos || line.find("PANIC:") != std::string::npos ||
            line.find("error:") != std::string::npos) {
            reason = line;
        }
    }
    return (reason.empty() ? std::string() : ": " + reason) + " (see " + log.string() + "):\n" + tail_of(log);
}

// The code of a child that could not be spawned: a missing binary is not_installed.
errc spawn_code(const os::error& e, errc otherwise) noexcept {
    return e.code == os::errc::not_found ? errc::not_installed : otherwise;
}

// Whether the server's log says it could not bind its port (another process took it
// between our pick and its bind).
bool bind_failed(std::string_view log) {
    return log.find("could not bind") != std::string_view::npos ||
           log.find("could not create any TCP/IP sockets") != std::string_view::npos;
}

// initdb's --pwfile: the password alone, readable by the server's user only; removed by
// the caller once initdb ran.
result<std::filesystem::path, error> write_password_file(const std::filesystem::path& directory,
                                                               const std::string& password, const os_user& user) {
    const auto path = directory / "initdb.pwfile";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail(error{errc::io, "cannot write " + path.string() + ": " + std::strerror(errno)});
    const std::string line = password + "\n";
    const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    const bool owned = !user.uid || ::fchown(fd, *user.uid, *user.gid) == 0;
    ::close(fd);
    if (!written || !owned) {
        std::filesystem::remove(path);
        return fail(error{errc::io, "cannot write " + path.string() + ": " + std::strerror(errno)});
    }
    return path;
}

// A password-protected cluster must not also trust anyone: pg_hba.conf's rule lines
// (comments and blank lines aside) may only use scram-sha-256.
result<void, error> scram_only(const std::filesystem::path& hba) {
    std::ifstream in(hba);
    if (!in) return fail(error{errc::io, "cannot read " + hba.string()});
    for (std::string line; std::getline(in, line);) {
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        if (line.find("scram-sha-256") == std::string::npos) {
            return fail(error{errc::trusts_without_password,
                              hba.string() + " accepts connections without the password ('" + line.substr(first) +
                                  "'): this cluster was created without one; delete " +
                                  hba.parent_path().parent_path().string() + " to create it again with a password"});
        }
    }
    return {};
}

}  // namespace

std::string tail_of(const std::filesystem::path& file, std::size_t max_bytes) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return "(no " + file.string() + ")";
    std::stringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
    return text;
}

result<std::unique_ptr<local_cluster>, error> local_cluster::start(local_cluster_options options) {
    const std::filesystem::path bin = bindir();
    for (const char* program : {"initdb", "postgres"}) {
        if (::access((bin / program).c_str(), X_OK) != 0) {
            return fail(error{errc::not_installed, (bin / program).string() + " is not executable (install postgresql-15 or set "
                                                                              "SHOPSTREAM_PG_BINDIR)"});
        }
    }
    auto user = server_user(options.os_user);
    if (!user) return fail(std::move(user.error()));

    std::error_code ec;
    const std::filesystem::path directory = std::filesystem::absolute(options.directory, ec);
    if (ec || directory.empty()) return fail(error{errc::io, "bad directory '" + options.directory.string() + "'"});
    if (std::filesystem::create_directories(directory, ec); ec) {
        return fail(error{ec == std::errc::permission_denied ? errc::permission_denied : errc::io,
                          "cannot create " + directory.string() + ": " + ec.message()});
    }
    if (auto reachable = reachable_by(directory, *user); !reachable) return fail(std::move(reachable.error()));
    if (user->uid && ::chown(directory.c_str(), *user->uid, *user->gid) != 0) {
        return fail(error{errc::permission_denied, "chown " + directory.string() + " to " + user->name + ": " + std::strerror(errno)});
    }
    // The socket, the logs and the cluster are nobody else's business.
    if (::chmod(directory.c_str(), 0700) != 0) {
        return fail(error{errc::permission_denied, "chmod " + directory.string() + ": " + std::strerror(errno)});
    }

    std::unique_ptr<local_cluster> cluster(new local_cluster());
    cluster->directory_ = directory;
    cluster->user_ = user->name;
    cluster->password_ = options.password;

    if (!std::filesystem::exists(cluster->data_directory() / "PG_VERSION")) {
        const auto log = directory / "initdb.log";
        std::vector<std::string> initdb_argv = {(bin / "initdb").string(), "--pgdata", cluster->data_directory().string(),
                                                "--username", user->name, "--no-locale", "--encoding", "UTF8",
                                                // Only skips syncing initdb's own files; the server's settings decide the rest.
                                                "--no-sync", "--no-instructions"};
        std::optional<std::filesystem::path> pwfile;
        if (options.password.empty()) {
            initdb_argv.insert(initdb_argv.end(), {"--auth", "trust"});
        } else {
            auto written = write_password_file(directory, options.password, *user);
            if (!written) return fail(std::move(written.error()));
            pwfile = *written;
            initdb_argv.insert(initdb_argv.end(), {"--auth", "scram-sha-256", "--pwfile", pwfile->string()});
        }
        os::spawn_options initdb_options(std::move(initdb_argv));
        initdb_options.uid = user->uid;
        initdb_options.gid = user->gid;
        initdb_options.working_directory = directory;  // the caller's cwd may be closed to `nobody`
        initdb_options.standard_output = os::output::to_file(log);
        initdb_options.standard_error = os::output::to_file(log);
        auto initdb = os::process::spawn(std::move(initdb_options));
        if (!initdb) {
            if (pwfile) std::filesystem::remove(*pwfile, ec);
            return fail(error{spawn_code(initdb.error(), errc::initdb_failed), "initdb: " + initdb.error().message});
        }
        const auto initdb_status = initdb->wait_for(initdb_timeout);
        if (pwfile) std::filesystem::remove(*pwfile, ec);
        if (!initdb_status || !initdb_status->success()) {
            return fail(error{errc::initdb_failed, "initdb " +
                                                       (initdb_status ? initdb_status->describe() : std::string("timed out")) +
                                                       log_summary(log)});
        }
        cluster->initialized_ = true;
    }

    if (!options.password.empty()) {
        if (auto checked = scram_only(cluster->data_directory() / "pg_hba.conf"); !checked) {
            return fail(std::move(checked.error()));
        }
    }

    // A unix socket path has at most 107 bytes; past that the server listens on TCP only.
    const std::string socket_directory =
        (directory / ".s.PGSQL.65535").string().size() < sizeof(sockaddr_un::sun_path) ? directory.string() : "";
    error last_error{errc::start_failed, {}};
    for (int attempt = 1; attempt <= start_attempts; ++attempt) {
        auto port = options.port != 0 ? result<int, error>(options.port) : free_loopback_port();
        if (!port) return fail(std::move(port.error()));
        cluster->port_ = *port;
        std::vector<std::string> argv = {(bin / "postgres").string(),
                                         "-D",
                                         cluster->data_directory().string(),
                                         "-p",
                                         std::to_string(*port),
                                         "-c",
                                         "listen_addresses=127.0.0.1",
                                         "-c",
                                         "unix_socket_directories=" + socket_directory,
                                         "-c",
                                         "logging_collector=off"};
        if (!options.durable) {
            for (const char* setting : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
                argv.insert(argv.end(), {"-c", setting});
            }
        }
        os::spawn_options server_options(std::move(argv));
        server_options.uid = user->uid;
        server_options.gid = user->gid;
        server_options.working_directory = directory;
        server_options.own_process_group = true;
        // Appended to: a restart keeps what went before, and a second server refused on this
        // directory does not wipe the running one's log.
        server_options.standard_output = os::output::append_to_file(cluster->log_file());
        server_options.standard_error = os::output::append_to_file(cluster->log_file());
        auto postgres = os::process::spawn(std::move(server_options));
        if (!postgres) return fail(error{spawn_code(postgres.error(), errc::start_failed), "postgres: " + postgres.error().message});
        cluster->pid_ = postgres->pid();
        cluster->server_.emplace(std::move(*postgres));

        auto url = database_url::parse(cluster->url());
        if (!url) return fail(std::move(url.error()));
        const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
        bool ready = false;
        while (!ready) {
            if (const auto ended = cluster->server_->wait_for(0ms)) {
                const std::string log = log_summary(cluster->log_file());
                last_error = {bind_failed(log) ? errc::address_in_use : errc::start_failed,
                              "postgres " + ended->describe() + " while starting" + log};
                break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                last_error = {errc::start_failed, "postgres did not accept connections within " +
                                                      std::to_string(options.ready_timeout.count()) + " s" +
                                                      log_summary(cluster->log_file())};
                break;
            }
            // Another server may have taken the port since we picked it: only ours has our
            // data directory.
            auto answer = query_one(*url, "SHOW data_directory", 2s);
            if (answer && *answer && std::filesystem::equivalent(**answer, cluster->data_directory(), ec)) {
                ready = true;
            } else {
                std::this_thread::sleep_for(10ms);
            }
        }
        if (ready) return cluster;
        (void)cluster->server_->kill();
        cluster->server_.reset();
        // A port taken between our pick and postgres' bind: try another one.
        if (last_error.code != errc::address_in_use || options.port != 0) break;
    }
    return fail(std::move(last_error));
}

local_cluster::~local_cluster() { (void)stop(); }

std::string local_cluster::url(std::string_view database) const {
    return "postgresql://" + user_ + (password_.empty() ? std::string() : ":" + password_) + "@127.0.0.1:" + std::to_string(port_) + "/" + std::string(database);
}

result<void, error> local_cluster::ensure_database(std::string_view name) const {
    const bool plain = !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
                                            std::string_view::npos;
    if (!plain) return fail(error{errc::invalid_name, "database name '" + std::string(name) + "': only letters, digits and '_'"});
    auto url = database_url::parse(this->url());
    if (!url) return fail(std::move(url.error()));
    const std::string quoted_name = "\"" + std::string(name) + "\"";
    auto exists = query_one(*url, "SELECT 1 FROM pg_database WHERE datname = '" + std::string(name) + "'", 30s);
    if (!exists) return fail(error{exists.error().code, "looking for database " + quoted_name + ": " + exists.error().message});
    if (*exists) return {};
    if (auto created = query_one(*url, "CREATE DATABASE " + quoted_name, 60s); !created) {
        return fail(error{created.error().code, "CREATE DATABASE " + quoted_name + ": " + created.error().message});
    }
    return {};
}

os::exit_status local_cluster::stop() {
    if (server_ && server_->running()) {
        (void)server_->send_signal(SIGINT);  // fast shutdown: roll back, checkpoint, exit
        auto status = server_->wait_for(shutdown_timeout);
        stopped_ = status ? *status : server_->kill();
    } else if (server_ && !stopped_) {
        stopped_ = server_->wait_for(0ms);
    }
    server_.reset();
    return stopped_.value_or(os::exit_status{});
}

}  // namespace shopstream::adapters::postgres
