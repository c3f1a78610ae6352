#include "adapters/os/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

extern char** environ;  // NOLINT: POSIX

namespace shopstream::adapters::os {
namespace {

using steady = std::chrono::steady_clock;

std::string errno_text(int errnum) { return std::strerror(errnum); }

// The code of a failed OS call by its errno.
errc errc_of(int errnum) noexcept {
    switch (errnum) {
        case ENOENT: return errc::not_found;
        case EACCES:
        case EPERM: return errc::permission_denied;
        default: return errc::system;
    }
}

// The failure of an OS call, `what` saying which, with errno's text.
error os_failure(std::string what, int errnum) { return {errc_of(errnum), what + ": " + errno_text(errnum)}; }

void close_fd(int& fd) noexcept {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

// Milliseconds left until `deadline`, clamped to what poll() takes.
int poll_timeout(steady::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) return 0;
    return left > 60'000 ? 60'000 : static_cast<int>(left);
}

// Reads what is available on fd into `into`; false at end of file or on error.
bool read_some(int fd, std::string& into) {
    std::array<char, 4096> chunk{};
    for (;;) {
        const ssize_t n = ::read(fd, chunk.data(), chunk.size());
        if (n > 0) {
            into.append(chunk.data(), static_cast<std::size_t>(n));
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

exit_status decode(int wait_status) {
    if (WIFSIGNALED(wait_status)) return {.signaled = true, .code = 0, .signal = WTERMSIG(wait_status)};
    return {.signaled = false, .code = WEXITSTATUS(wait_status), .signal = 0};
}

std::string environment_value(const std::vector<std::pair<std::string, std::string>>& overrides,
                              const std::string& name) {
    for (const auto& [key, value] : overrides) {
        if (key == name) return value;
    }
    const char* value = std::getenv(name.c_str());
    return value != nullptr ? value : "";
}

// exec() does not search PATH when given an environment, and execvpe() is not
// async-signal-safe, so the program is resolved before fork().
result<std::string, error> resolve_program(
    const std::string& program, const std::vector<std::pair<std::string, std::string>>& env) {
    if (program.empty()) return fail(error{errc::invalid_argument, "spawn: empty program name"});
    if (program.find('/') != std::string::npos) return program;
    std::string path = environment_value(env, "PATH");
    if (path.empty()) path = "/usr/local/bin:/usr/bin:/bin";
    std::size_t begin = 0;
    while (begin <= path.size()) {
        std::size_t end = path.find(':', begin);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(begin, end - begin);
        if (dir.empty()) dir = ".";
        std::string candidate = dir + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        begin = end + 1;
    }
    return fail(error{errc::not_found, "spawn: " + program + " not found in PATH=" + path});
}

// Opens the parent's end of where a child stream goes; returns {child fd, parent fd}.
result<std::pair<int, int>, error> open_output(const output& out, int standard_fd) {
    switch (out.where) {
        case output::kind::inherit:
            return std::pair{standard_fd, -1};
        case output::kind::null: {
            const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (fd < 0) return fail(os_failure("spawn: /dev/null", errno));
            return std::pair{fd, -1};
        }
        case output::kind::file: {
            const int fd = ::open(out.path.c_str(),
                                  O_WRONLY | O_CREAT | (out.truncate ? O_TRUNC : 0) | O_APPEND | O_CLOEXEC, 0644);
            if (fd < 0) return fail(os_failure("spawn: " + out.path.string(), errno));
            return std::pair{fd, -1};
        }
        case output::kind::pipe: {
            std::array<int, 2> fds{};
            if (::pipe2(fds.data(), O_CLOEXEC) != 0) return fail(os_failure("spawn: pipe", errno));
            return std::pair{fds[1], fds[0]};
        }
    }
    return fail(error{errc::invalid_argument, "spawn: bad output kind"});
}

// What the child reports through the exec-status pipe when it fails before exec.
struct child_failure {
    int step;
    int error;
};
constexpr std::array<const char*, 9> child_steps = {
    "dup2", "chdir", "setgroups", "setgid", "setuid", "prctl(PR_SET_PDEATHSIG)", "parent already gone", "exec",
    "setpgid",
};

[[noreturn]] void child_fail(int status_fd, int step) {
    const child_failure failure{step, errno};
    // Nothing to do if this write fails: the parent then sees an exit code of 127.
    [[maybe_unused]] const ssize_t ignored = ::write(status_fd, &failure, sizeof failure);
    ::_exit(127);
}

}  // namespace

std::string exit_status::describe() const {
    if (!signaled) return "exit code " + std::to_string(code);
    const char* name = ::sigdescr_np(signal);
    return "signal " + std::to_string(signal) + (name != nullptr ? std::string(" (") + name + ")" : "");
}

result<process, error> process::spawn(spawn_options options) {
    if (options.standard_error.where == output::kind::pipe) {
        return fail(error{errc::invalid_argument, "spawn: stderr to a pipe would fill up unread; use a file or run()"});
    }
    return start(options);
}

result<process, error> process::start(const spawn_options& options) {
    if (options.argv.empty()) return fail(error{errc::invalid_argument, "spawn: empty argv"});
    auto program = resolve_program(options.argv.front(), options.environment);
    if (!program) return fail(std::move(program.error()));

    // Everything the child needs is built before fork(): after it, in a multithreaded
    // parent, the child may only make async-signal-safe calls.
    std::vector<char*> argv;
    for (const auto& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    std::vector<std::string> env_strings;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const std::string_view name = text.substr(0, text.find('='));
        bool overridden = false;
        for (const auto& [key, value] : options.environment) overridden = overridden || key == name;
        if (!overridden) env_strings.emplace_back(text);
    }
    for (const auto& [key, value] : options.environment) env_strings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);

    const std::string working_directory =
        options.working_directory ? options.working_directory->string() : std::string();

    // The fds this function opened; the parent closes its copies of all but its pipe ends.
    std::vector<int> to_close;
    const auto close_all = [&to_close] {
        for (int& fd : to_close) close_fd(fd);
    };
    const int stdin_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (stdin_fd < 0) return fail(os_failure("spawn: /dev/null", errno));
    to_close.push_back(stdin_fd);

    auto out = open_output(options.standard_output, STDOUT_FILENO);
    if (!out) {
        close_all();
        return fail(std::move(out.error()));
    }
    if (out->first != STDOUT_FILENO) to_close.push_back(out->first);
    int parent_stdout = out->second;

    auto err = open_output(options.standard_error, STDERR_FILENO);
    if (!err) {
        close_all();
        close_fd(parent_stdout);
        return fail(std::move(err.error()));
    }
    if (err->first != STDERR_FILENO) to_close.push_back(err->first);
    int parent_stderr = err->second;

    std::array<int, 2> status_pipe{};
    if (::pipe2(status_pipe.data(), O_CLOEXEC) != 0) {
        close_all();
        close_fd(parent_stdout);
        close_fd(parent_stderr);
        return fail(os_failure("spawn: pipe", errno));
    }

    const pid_t parent = ::getpid();
    const int child_stdout = out->first;
    const int child_stderr = err->first;
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int errnum = errno;
        close_all();
        close_fd(parent_stdout);
        close_fd(parent_stderr);
        close_fd(status_pipe[0]);
        close_fd(status_pipe[1]);
        return fail(os_failure("spawn: fork", errnum));
    }

    if (pid == 0) {
        // Child: async-signal-safe calls only.
        const int status_fd = status_pipe[1];
        if (::dup2(stdin_fd, STDIN_FILENO) < 0 || ::dup2(child_stdout, STDOUT_FILENO) < 0 ||
            ::dup2(child_stderr, STDERR_FILENO) < 0) {
            child_fail(status_fd, 0);
        }
        // dup2 onto itself keeps FD_CLOEXEC (when the parent's own stdout is inherited).
        for (int fd = 0; fd <= 2; ++fd) ::fcntl(fd, F_SETFD, 0);
        if (options.own_process_group && ::setpgid(0, 0) != 0) child_fail(status_fd, 8);
        if (!working_directory.empty() && ::chdir(working_directory.c_str()) != 0) child_fail(status_fd, 1);
        if (options.gid || options.uid) {
            if (::setgroups(0, nullptr) != 0) child_fail(status_fd, 2);
        }
        if (options.gid && ::setgid(*options.gid) != 0) child_fail(status_fd, 3);
        if (options.uid && ::setuid(*options.uid) != 0) child_fail(status_fd, 4);
        // After the credential change, which would clear it.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(status_fd, 5);
        if (::getppid() != parent) child_fail(status_fd, 6);  // died before prctl took effect
        // Ignored signals and the blocked mask survive exec; the child gets defaults.
        struct sigaction default_action {};
        default_action.sa_handler = SIG_DFL;
        for (const int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &default_action, nullptr);
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(program->c_str(), argv.data(), envp.data());
        child_fail(status_fd, 7);
    }

    close_all();
    close_fd(status_pipe[1]);
    child_failure failure{};
    ssize_t n = 0;
    do {
        n = ::read(status_pipe[0], &failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    close_fd(status_pipe[0]);
    process child(pid, parent_stdout, parent_stderr);
    if (n == static_cast<ssize_t>(sizeof failure)) {
        (void)child.wait_for(std::chrono::seconds(5));
        const auto step = static_cast<std::size_t>(failure.step);
        return fail(os_failure("spawn " + options.argv.front() + ": " +
                                     (step < child_steps.size() ? child_steps.at(step) : "?"),
                                 failure.error));
    }
    return child;  // exec succeeded: the status pipe was closed by FD_CLOEXEC
}

process::process(pid_t pid, int stdout_fd, int stderr_fd)
    : pid_(pid), stdout_fd_(stdout_fd), stderr_fd_(stderr_fd) {}

process::process(process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      buffered_(std::move(other.buffered_)),
      stdout_eof_(other.stdout_eof_),
      status_(std::exchange(other.status_, std::nullopt)) {}

process& process::operator=(process&& other) noexcept {
    if (this != &other) {
        if (running()) kill();
        close_pipes();
        pid_ = std::exchange(other.pid_, -1);
        stdout_fd_ = std::exchange(other.stdout_fd_, -1);
        stderr_fd_ = std::exchange(other.stderr_fd_, -1);
        buffered_ = std::move(other.buffered_);
        stdout_eof_ = other.stdout_eof_;
        status_ = std::exchange(other.status_, std::nullopt);
    }
    return *this;
}

process::~process() {
    if (running()) kill();
    close_pipes();
}

void process::close_pipes() noexcept {
    close_fd(stdout_fd_);
    close_fd(stderr_fd_);
}

result<std::string, error> process::read_line(std::chrono::milliseconds timeout) {
    if (stdout_fd_ < 0 && buffered_.empty()) {
        return fail(error{errc::invalid_argument, "read_line: the child's stdout is not a pipe"});
    }
    const auto deadline = steady::now() + timeout;
    for (;;) {
        if (const auto newline = buffered_.find('\n'); newline != std::string::npos) {
            std::string line = buffered_.substr(0, newline);
            buffered_.erase(0, newline + 1);
            return line;
        }
        if (stdout_eof_ || stdout_fd_ < 0) {
            return fail(error{errc::end_of_output, "read_line: end of output without a complete line (pid " +
                                                       std::to_string(pid_) + ", partial line: '" + buffered_ + "')"});
        }
        pollfd pfd{.fd = stdout_fd_, .events = POLLIN, .revents = 0};
        const int ready = ::poll(&pfd, 1, poll_timeout(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return fail(os_failure("read_line: poll", errno));
        if (ready == 0) {
            return fail(error{errc::timed_out, "read_line: no line within " + std::to_string(timeout.count()) +
                                                   " ms (pid " + std::to_string(pid_) + ", partial line: '" +
                                                   buffered_ + "')"});
        }
        if (!read_some(stdout_fd_, buffered_)) stdout_eof_ = true;
    }
}

result<std::string, error> process::read_all(std::chrono::milliseconds timeout) {
    if (stdout_fd_ < 0 && buffered_.empty()) {
        return fail(error{errc::invalid_argument, "read_all: the child's stdout is not a pipe"});
    }
    const auto deadline = steady::now() + timeout;
    while (!stdout_eof_ && stdout_fd_ >= 0) {
        pollfd pfd{.fd = stdout_fd_, .events = POLLIN, .revents = 0};
        const int ready = ::poll(&pfd, 1, poll_timeout(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return fail(os_failure("read_all: poll", errno));
        if (ready == 0) {
            return fail(error{errc::timed_out, "read_all: output still open after " + std::to_string(timeout.count()) +
                                                   " ms (pid " + std::to_string(pid_) + "), read so far: '" +
                                                   buffered_ + "'"});
        }
        if (!read_some(stdout_fd_, buffered_)) stdout_eof_ = true;
    }
    return std::exchange(buffered_, std::string());
}

result<void, error> process::send_signal(int signal) {
    if (!running()) return fail(error{errc::not_running, "send_signal: pid " + std::to_string(pid_) + " was already reaped"});
    if (::kill(pid_, signal) != 0) return fail(os_failure("kill(" + std::to_string(pid_) + ")", errno));
    return {};
}

std::optional<exit_status> process::wait_for(std::chrono::milliseconds timeout) {
    if (status_ || pid_ <= 0) return status_;
    const auto deadline = steady::now() + timeout;
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
        int wait_status = 0;
        const pid_t reaped = ::waitpid(pid_, &wait_status, WNOHANG);
        if (reaped == pid_) {
            status_ = decode(wait_status);
            return status_;
        }
        if (reaped < 0 && errno != EINTR) {
            // Not our child any more (someone else reaped it): report it as gone.
            status_ = exit_status{.signaled = false, .code = -1, .signal = 0};
            return status_;
        }
        if (steady::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
}

exit_status process::kill() {
    if (!running()) return status_.value_or(exit_status{});
    ::kill(pid_, SIGKILL);
    int wait_status = 0;
    pid_t reaped = 0;
    do {
        reaped = ::waitpid(pid_, &wait_status, 0);
    } while (reaped < 0 && errno == EINTR);
    status_ = reaped == pid_ ? decode(wait_status) : exit_status{.signaled = false, .code = -1, .signal = 0};
    return *status_;
}

result<run_result, error> run(std::vector<std::string> argv, std::chrono::milliseconds timeout,
                              std::vector<std::pair<std::string, std::string>> environment) {
    const std::string name = argv.empty() ? std::string() : argv.front();
    spawn_options options(std::move(argv));
    options.environment = std::move(environment);
    options.standard_error = output::pipe();
    auto child = process::start(options);
    if (!child) return fail(std::move(child.error()));

    // Both pipes are drained together, so a child writing much to one of them never blocks.
    run_result out;
    const auto deadline = steady::now() + timeout;
    while (child->stdout_fd_ >= 0 || child->stderr_fd_ >= 0) {
        std::array<pollfd, 2> fds{{{.fd = child->stdout_fd_, .events = POLLIN, .revents = 0},
                                   {.fd = child->stderr_fd_, .events = POLLIN, .revents = 0}}};
        const int ready = ::poll(fds.data(), fds.size(), poll_timeout(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;  // timeout (or poll failure): handled below
        if (fds[0].revents != 0 && !read_some(child->stdout_fd_, out.standard_output)) close_fd(child->stdout_fd_);
        if (fds[1].revents != 0 && !read_some(child->stderr_fd_, out.standard_error)) close_fd(child->stderr_fd_);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    const auto status = child->wait_for(std::max(left, std::chrono::milliseconds(0)));
    if (!status) {
        child->kill();
        return fail(error{errc::timed_out, name + " still running after " + std::to_string(timeout.count()) +
                                               " ms; killed. stdout: '" + out.standard_output + "' stderr: '" +
                                               out.standard_error + "'"});
    }
    out.status = *status;
    return out;
}

}  // namespace shopstream::adapters::os
