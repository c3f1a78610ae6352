#pragma once
// One Apache Kafka node this process owns: a broker+controller in KRaft combined mode, run
// as `java -cp <libs>/* kafka.Kafka` from the jars scripts/install-deps.sh resolved
// (scripts/kafka/pom.xml). The tests' three-broker cluster (tests/support/kafka_cluster.hpp)
// is three of these; `serve`'s default local broker is one (a one-voter cluster).
//
// start() writes <directory>/server.properties (node id, static controller.quorum.voters,
// listeners on 127.0.0.1 only, log dir <directory>/log, internal topics replicated
// min(3, voters) with min.insync.replicas min(2, voters), the small-machine settings) and
// <directory>/log4j2.properties (the broker's log goes to <directory>/server.log through
// log4j2, rolled at 10 MiB), formats the log dir with kafka.tools.StorageTool when it holds no
// meta.properties yet (with --ignore-formatted, so a half-done earlier format is harmless),
// then starts the JVM (-Xms256m -Xmx256m, serial GC, C1 only; with a class_archive, AppCDS) as a child that dies with
// this process through PR_SET_PDEATHSIG, even when this process is SIGKILLed (see
// adapters/os/process.hpp), in a process group of its own (a terminal's Ctrl-C reaches
// only us). With `wait_until_ready` it returns once the node answers a librdkafka Metadata
// request itself (not after a sleep); a node of a multi-voter cluster answers only once a
// quorum of voters runs, so start all of them without waiting, then wait_ready() on each.
// A failed start stops the child and returns the step that failed with the tail of
// server.log.
//
// The node keeps its ports and log dir for its lifetime: restart() after stop()/kill()
// starts it again on the same log dir and ports (no format).
//
// With `scram_users` the node also has a SASL_PLAINTEXT listener (SCRAM-SHA-512) on its
// `sasl_port`, the users created at format time by Kafka's own tool (StorageTool
// --add-scram; their passwords are on that one command line while it runs, so this is for
// tests and local runs, not a production credential store). Inter-broker and controller
// traffic stays on the PLAINTEXT and CONTROLLER listeners.
//
// Errors are an errc (a std::error_code category) and a message naming the step, the file
// and the fix.
//
// Thread-safety: accessors are safe from any thread; start(), stop(), kill(), pause(),
// resume(), restart() and destruction from one thread at a time, the one that should outlive
// the JVM (PR_SET_PDEATHSIG fires when the spawning thread ends).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "adapters/os/process.hpp"
#include "base/result.hpp"

namespace shopstream::adapters::kafka {

// Reaches logs: values only appended.
enum class errc : std::uint8_t {
    not_installed = 1,  // no java, or no Kafka jars in libs (run scripts/install-deps.sh)
    bad_options = 2,    // the options contradict each other (node not among the voters, ...)
    io_failed = 3,      // a directory or file could not be created or written
    format_failed = 4,  // kafka.tools.StorageTool format failed
    start_failed = 5,   // the JVM could not be started, or exited before it was ready
    not_ready = 6,      // the node did not answer a Metadata request in time
    not_running = 7,    // pause/resume/signal on a node that is not running
};

[[nodiscard]] const std::error_category& error_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

struct error {
    errc code = errc::start_failed;
    std::string message;

    friend std::ostream& operator<<(std::ostream& out, const error& e) { return out << e.message; }
};

// One voter of the cluster: its node id and its two loopback ports.
struct node_address {
    int node_id = 1;
    int broker_port = 0;      // PLAINTEXT listener, what clients bootstrap from
    int controller_port = 0;  // CONTROLLER listener, the quorum's
    int sasl_port = 0;        // SASL_PLAINTEXT listener (SCRAM-SHA-512); 0 = none
    friend bool operator==(const node_address&, const node_address&) = default;
};

// `count` voters with ids 1..count on ports that were free a moment ago (the kernel's
// picks for 127.0.0.1:0, all held open together so none repeats); with `sasl_listener`
// each also gets a sasl_port.
[[nodiscard]] result<std::vector<node_address>, error> free_node_addresses(int count, bool sasl_listener = false);

// A SCRAM-SHA-512 user of the SASL_PLAINTEXT listener.
struct scram_user {
    std::string name;
    std::string password;
};

// Where install-deps.sh put the jars: $SHOPSTREAM_KAFKA_LIBS, else
// $HOME/.cache/shopstream/kafka-<kafka_version>/libs.
inline constexpr const char* kafka_version = "4.1.2";
[[nodiscard]] std::filesystem::path default_libs();
// $<environment_variable>, else $HOME/.cache/shopstream/kafka-<version>/libs: where
// install-deps.sh puts the jars of a pinned Kafka.
[[nodiscard]] std::filesystem::path cached_libs(const char* environment_variable, const std::string& version);

// "127.0.0.1:<broker_port>,..." of every voter.
[[nodiscard]] std::string bootstrap_of(const std::vector<node_address>& voters);

struct local_broker_options {
    // Holds log/ (the log dir), server.properties, log4j2.properties, server.log,
    // format.log; created when absent. A log dir already formatted is started as it is.
    std::filesystem::path directory;
    // This node's id; must be one of `voters`.
    int node_id = 1;
    // Every voter of the cluster, this node among them. Empty: a single-node cluster on
    // free ports (node_id is then its only voter).
    std::vector<node_address> voters;
    // The cluster's id (22 characters of URL-safe base64 of 16 bytes); every node of one
    // cluster must format with the same.
    std::string cluster_id = "c2hvcHN0cmVhbS1sb2NhbA";
    // The jars; empty = default_libs().
    std::filesystem::path libs;
    // Non-empty: a SASL_PLAINTEXT listener (SCRAM-SHA-512) on this node's sasl_port (which
    // must then be set in `voters`; with empty `voters` one is picked), these users created
    // when the log dir is formatted. A log dir formatted earlier keeps the users it has.
    std::vector<scram_user> scram_users;
    // Added to server.properties after the generated lines (a later key wins in Java's
    // Properties), e.g. {"broker.session.timeout.ms", "6000"}.
    std::vector<std::pair<std::string, std::string>> settings;
    // Non-empty: a class-data-sharing archive of the broker's classes (AppCDS, ~50 MB).
    // The JVM writes it when a run without one exits (-XX:ArchiveClassesAtExit) and later
    // starts map it (-XX:SharedArchiveFile): measured here, a restart's JVM is ready in
    // about 0.6x the time. A stale or broken archive is ignored by the JVM (-Xshare:auto).
    std::filesystem::path class_archive;
    bool wait_until_ready = true;
    std::chrono::seconds ready_timeout{120};  // generous: a JVM on a loaded 2-core machine
    std::chrono::seconds stop_timeout{30};    // SIGTERM (controlled shutdown), then SIGKILL
};

// What `serve` starts without --brokers: a single-node broker with its log in `directory`,
// fsyncing every append (log.flush.interval.messages=1: it keeps the only copy), with a
// class archive (benchmarks/kafka_nodes starts the same to measure it).
[[nodiscard]] local_broker_options local_run_options(std::filesystem::path directory);

class local_broker {
public:
    [[nodiscard]] static result<std::unique_ptr<local_broker>, error> start(local_broker_options options);

    local_broker(const local_broker&) = delete;
    local_broker& operator=(const local_broker&) = delete;
    ~local_broker();  // stop()

    // Waits until this node answers a Metadata request on its own listener (and lists
    // itself among the brokers); fails early when the JVM exits.
    [[nodiscard]] result<void, error> wait_ready(std::chrono::milliseconds timeout);

    // SIGTERM, then SIGKILL after stop_timeout. Idempotent; returns how the JVM ended.
    os::exit_status stop();
    // SIGKILL and reap: a crash. Idempotent.
    os::exit_status kill();
    // SIGSTOP / SIGCONT: the node freezes with its sockets open (a GC pause, a hung disk).
    [[nodiscard]] result<void, error> pause();
    [[nodiscard]] result<void, error> resume();
    // Starts it again on the same log dir and ports after stop() or kill() (stops it
    // first if it still runs); waits for readiness when `wait_until_ready`.
    [[nodiscard]] result<void, error> restart(bool wait_until_ready = true);

    [[nodiscard]] int node_id() const noexcept { return node_id_; }
    [[nodiscard]] const node_address& address() const noexcept { return address_; }
    [[nodiscard]] int port() const noexcept { return address_.broker_port; }
    // "127.0.0.1:<port>" of this node alone.
    [[nodiscard]] std::string bootstrap() const;
    // "127.0.0.1:<sasl_port>" of this node alone; empty without a SASL listener.
    [[nodiscard]] std::string sasl_bootstrap() const;
    // Every voter's broker listener: what a client of the whole cluster bootstraps from.
    [[nodiscard]] std::string cluster_bootstrap() const { return bootstrap_of(voters_); }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] bool running() const noexcept { return jvm_ && jvm_->running(); }
    [[nodiscard]] bool paused() const noexcept { return paused_; }
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return directory_; }
    [[nodiscard]] std::filesystem::path log_directory() const { return directory_ / "log"; }
    [[nodiscard]] std::filesystem::path log_file() const { return directory_ / "server.log"; }
    // Whether start() formatted the log dir (false: it was formatted already).
    [[nodiscard]] bool formatted() const noexcept { return formatted_; }

private:
    local_broker() = default;
    [[nodiscard]] result<void, error> launch();

    std::filesystem::path directory_;
    std::filesystem::path libs_;
    std::filesystem::path class_archive_;
    int node_id_ = 1;
    node_address address_;
    std::vector<node_address> voters_;
    std::chrono::seconds stop_timeout_{30};
    std::chrono::seconds ready_timeout_{120};
    pid_t pid_ = -1;
    bool formatted_ = false;
    bool paused_ = false;
    std::optional<os::process> jvm_;
    std::optional<os::exit_status> ended_;
};

}  // namespace shopstream::adapters::kafka

template <>
struct std::is_error_code_enum<shopstream::adapters::kafka::errc> : std::true_type {};
