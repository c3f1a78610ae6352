#pragma once
// Child processes: the local PostgreSQL that `serve` and the tests own
// (adapters/postgres/local_cluster.hpp), a foreign client run to completion (kcat), the
// shopstream binary in end-to-end tests (tests/support/process.hpp re-exports this).
//
// Written by hand because no Debian-packaged C++ library does what is needed here: run a
// child as another uid/gid (postgres refuses to run as root) and make sure it dies with
// its parent, even a SIGKILLed one. Children get PR_SET_PDEATHSIG(SIGKILL), set after any
// uid change since a credential change clears it. Linux delivers that signal when the
// *thread* that spawned the child exits, so spawn long-lived children from a thread that
// outlives them (main() or gtest's main thread). A child starts with default signal
// dispositions and an empty signal mask whatever the parent blocked. A `process` still
// running when destroyed is killed with SIGKILL and reaped.
//
// Thread-safety: a `process` is thread-compatible (one thread at a time); different
// objects may be used from different threads. spawn() is safe to call from a
// multithreaded program: the child only makes async-signal-safe calls before exec.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/os/errc.hpp"
#include "base/result.hpp"

namespace shopstream::adapters::os {

// Where a child's stdout or stderr goes.
struct output {
    enum class kind : std::uint8_t { inherit, pipe, null, file };
    kind where = kind::inherit;
    // For kind::file: created or truncated, mode 0644, opened for appending, so stdout
    // and stderr can share one file.
    std::filesystem::path path;
    bool truncate = true;  // for kind::file: false keeps what the file held (a log across restarts)

    static output inherit() { return {}; }
    static output pipe() { return {kind::pipe, {}}; }
    static output null() { return {kind::null, {}}; }
    static output to_file(std::filesystem::path p) { return {kind::file, std::move(p)}; }
    static output append_to_file(std::filesystem::path p) { return {kind::file, std::move(p), false}; }
};

struct spawn_options {
    spawn_options(std::vector<std::string> program_and_arguments) : argv(std::move(program_and_arguments)) {}

    // argv[0] is the program: a path, or a name looked up in PATH.
    std::vector<std::string> argv;
    // Added to (or replacing entries of) this process's environment.
    std::vector<std::pair<std::string, std::string>> environment;
    // Credentials to switch to before exec (needs root); supplementary groups are dropped.
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::optional<std::filesystem::path> working_directory;
    // A process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group)
    // then reaches only the parent, which stops the child in its own order.
    bool own_process_group = false;
    output standard_output = output::pipe();
    output standard_error = output::inherit();  // not pipe(): nothing would drain it; use a file
};

// How a child ended: exited with a code, or killed by a signal.
struct exit_status {
    bool signaled = false;
    int code = 0;    // exit code when !signaled
    int signal = 0;  // signal number when signaled

    [[nodiscard]] bool success() const noexcept { return !signaled && code == 0; }
    [[nodiscard]] std::string describe() const;  // "exit code 3", "signal 9 (Killed)"
    friend bool operator==(const exit_status&, const exit_status&) = default;
};

struct run_result {
    exit_status status;
    std::string standard_output;
    std::string standard_error;
};

class process {
public:
    // A program not in PATH (or exec's ENOENT) is errc::not_found; EACCES/EPERM
    // (exec, setuid, an output file) errc::permission_denied.
    [[nodiscard]] static result<process, error> spawn(spawn_options options);

    process(process&& other) noexcept;
    process& operator=(process&& other) noexcept;
    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process();  // SIGKILL and reap if still running

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] bool running() const noexcept { return pid_ > 0 && !status_; }

    // One line from the child's stdout (needs output::pipe()), without its '\n'. Fails
    // on timeout (errc::timed_out), or at end of file with no complete line
    // (errc::end_of_output; the partial line is kept).
    [[nodiscard]] result<std::string, error> read_line(std::chrono::milliseconds timeout);

    // Everything the child writes to stdout until it closes it (normally: exits), bounded.
    [[nodiscard]] result<std::string, error> read_all(std::chrono::milliseconds timeout);

    // Fails when the child was already reaped (errc::not_running).
    [[nodiscard]] result<void, error> send_signal(int signal);

    // Waits for the child to end and reaps it; nullopt if it is still running after
    // `timeout`. Once reaped, returns the same status again.
    [[nodiscard]] std::optional<exit_status> wait_for(std::chrono::milliseconds timeout);

    // SIGKILL (if running) and reap.
    exit_status kill();

private:
    friend result<run_result, error> run(std::vector<std::string>,
                                         std::chrono::milliseconds,
                                         std::vector<std::pair<std::string, std::string>>);

    static result<process, error> start(const spawn_options& options);
    process(pid_t pid, int stdout_fd, int stderr_fd);
    void close_pipes() noexcept;

    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    int stderr_fd_ = -1;  // only for run()
    std::string buffered_;  // read from stdout, not yet returned
    bool stdout_eof_ = false;
    std::optional<exit_status> status_;
};

// Runs a program to completion, capturing stdout and stderr. Fails if it cannot be
// started or is still running after `timeout` (errc::timed_out; it is then killed, and
// the error message holds what it had written).
[[nodiscard]] result<run_result, error> run(
    std::vector<std::string> argv,
    std::chrono::milliseconds timeout = std::chrono::seconds(30),
    std::vector<std::pair<std::string, std::string>> environment = {});

}  // namespace shopstream::adapters::os
