#pragma once
// A local PostgreSQL 15 server this process owns: `serve`'s embedded mode (in
// <data-dir>/postgres) and the tests' throwaway server (tests/support/postgres_fixture.hpp)
// are both this.
//
// start() runs `initdb` into <directory>/data unless a cluster is already there, then
// starts `postgres` directly as a child process (not through pg_ctl, so this object owns
// its pid and the server dies with this process through PR_SET_PDEATHSIG, even when this
// process is SIGKILLed; it gets a process group of its own, so a terminal's Ctrl-C does
// not stop it behind our back). It listens on 127.0.0.1 only, on a free port picked by the
// kernel, with its unix socket in <directory>; with a `password`, initdb sets it for the
// superuser and pg_hba.conf accepts only SCRAM-SHA-256 (an existing cluster that still
// trusts connections is refused), without one trust authentication (the tests' servers). PostgreSQL refuses to run as root: when this process is root the server
// runs as `os_user` (default `nobody`), which owns <directory> and must be able to enter
// every directory above it (checked, with a one-line error); the database superuser has
// that OS user's name. Binaries come from /usr/lib/postgresql/15/bin (env
// SHOPSTREAM_PG_BINDIR to change).
//
// stop() is PostgreSQL's fast shutdown (SIGINT to the postmaster, what `pg_ctl stop -m
// fast` sends: roll back open transactions, checkpoint, exit), then SIGKILL if that takes
// longer than 15 s.
//
// Thread-safety: the accessors and url() are safe from any thread; start(), stop() and
// destruction from one thread, the one that should outlive the server (PR_SET_PDEATHSIG
// fires when the spawning thread ends).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/os/process.hpp"
#include "base/result.hpp"
#include "postgres/errc.hpp"

namespace shopstream::adapters::postgres {

// The cluster's errors are PostgreSQL's errc (postgres/errc.hpp, below projections/ and adapters/).
using shopstream::postgres::errc;
using shopstream::postgres::error;

struct local_cluster_options {
    // Holds data/ (the cluster), server.log, initdb.log and the unix socket; created when
    // absent. A cluster already in data/ is started as it is.
    std::filesystem::path directory;
    // Who runs the server when this process is root.
    std::string os_user = "nobody";
    // false: fsync, synchronous_commit and full_page_writes off, for data that is only as
    // durable as an ephemeral log anyway; a crash of the machine may then corrupt it.
    bool durable = true;
    // The superuser's password (SCRAM-SHA-256 only, set at initdb); empty: trust.
    std::string password;
    std::chrono::seconds ready_timeout{60};  // generous: sanitizers and loaded CI machines
    // 0: a free loopback port (another one on each retry); else this one, tried once - a
    // restart that keeps the URL clients hold (the tests' PostgreSQL outages).
    int port = 0;
};

class local_cluster {
public:
    // Fails with a message naming the step, with the tail of the server's log when it ran;
    // the code says which: not_installed, no_server_user, permission_denied, io,
    // initdb_failed, start_failed, address_in_use (after the retries on other ports).
    [[nodiscard]] static result<std::unique_ptr<local_cluster>, error> start(local_cluster_options options);

    local_cluster(const local_cluster&) = delete;
    local_cluster& operator=(const local_cluster&) = delete;
    ~local_cluster();  // stop()

    // libpq URL: postgresql://USER[:PASSWORD]@127.0.0.1:PORT/DATABASE (log database_url's
    // describe() of it, never the URL itself)
    [[nodiscard]] std::string url(std::string_view database = "postgres") const;

    // Creates `name` (letters, digits, '_'; otherwise errc::invalid_name) unless it exists.
    [[nodiscard]] result<void, error> ensure_database(std::string_view name) const;

    // Fast shutdown, SIGKILL after 15 s. Idempotent; returns how the postmaster ended.
    os::exit_status stop();

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] const std::string& user() const noexcept { return user_; }
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return directory_; }
    [[nodiscard]] std::filesystem::path data_directory() const { return directory_ / "data"; }
    [[nodiscard]] std::filesystem::path log_file() const { return directory_ / "server.log"; }
    [[nodiscard]] bool running() const noexcept { return server_ && server_->running(); }
    // Whether start() ran initdb (false: it found a cluster there).
    [[nodiscard]] bool initialized() const noexcept { return initialized_; }

private:
    local_cluster() = default;

    std::filesystem::path directory_;
    std::string user_;
    std::string password_;
    int port_ = 0;
    pid_t pid_ = -1;
    bool initialized_ = false;
    std::optional<os::process> server_;
    std::optional<os::exit_status> stopped_;
};

// The last `max_bytes` of a log file, for error messages.
[[nodiscard]] std::string tail_of(const std::filesystem::path& file, std::size_t max_bytes = 4000);

}  // namespace shopstream::adapters::postgres
