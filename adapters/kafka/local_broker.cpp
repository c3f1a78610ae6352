#include "adapters/kafka/local_broker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <librdkafka/rdkafka.h>

#include "adapters/postgres/local_cluster.hpp"  // tail_of
#include "eventstore/kafka_config.hpp"

namespace shopstream::adapters::kafka {
namespace {

using namespace std::chrono_literals;
using postgres::tail_of;
using steady = std::chrono::steady_clock;

constexpr auto format_timeout = 120s;

class category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "shopstream.kafka_broker"; }
    [[nodiscard]] std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::not_installed: return "Kafka or Java not installed";
            case errc::bad_options: return "bad broker options";
            case errc::io_failed: return "broker files could not be written";
            case errc::format_failed: return "storage format failed";
            case errc::start_failed: return "broker did not start";
            case errc::not_ready: return "broker did not become ready";
            case errc::not_running: return "broker not running";
        }
        return "unknown";
    }
};

error fail_with(errc code, std::string message) { return error{code, std::move(message)}; }

result<void, error> write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return fail(fail_with(errc::io_failed, "cannot write " + path.string()));
    return {};
}

std::string voters_line(const std::vector<node_address>& voters) {
    std::string line;
    for (const auto& v : voters) {
        if (!line.empty()) line += ',';
        line += std::to_string(v.node_id) + "@127.0.0.1:" + std::to_string(v.controller_port);
    }
    return line;
}

std::string server_properties(const std::filesystem::path& directory, const node_address& self,
                              const std::vector<node_address>& voters, bool sasl_listener,
                              const std::vector<std::pair<std::string, std::string>>& settings) {
    const auto n = static_cast<int>(voters.size());
    const std::string replication = std::to_string(std::min(3, n));
    const std::string min_isr = std::to_string(std::min(2, n));
    const std::string broker = "127.0.0.1:" + std::to_string(self.broker_port);
    const std::string controller = "127.0.0.1:" + std::to_string(self.controller_port);
    const std::string sasl =
        sasl_listener ? ",SASL_PLAINTEXT://127.0.0.1:" + std::to_string(self.sasl_port) : std::string();
    std::ostringstream out;
    out << "# Written by shopstream (adapters/kafka/local_broker.cpp) at every start.\n"
        << "process.roles=broker,controller\n"
        << "node.id=" << self.node_id << "\n"
        << "controller.quorum.voters=" << voters_line(voters) << "\n"
        << "listeners=PLAINTEXT://" << broker << ",CONTROLLER://" << controller << sasl << "\n"
        << "advertised.listeners=PLAINTEXT://" << broker << sasl << "\n"
        << "controller.listener.names=CONTROLLER\n"
        << "inter.broker.listener.name=PLAINTEXT\n"
        << "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        << (sasl_listener ? ",SASL_PLAINTEXT:SASL_PLAINTEXT" : "") << "\n";
    if (sasl_listener) {
        out << "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
            << "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
               "org.apache.kafka.common.security.scram.ScramLoginModule required;\n";
    }
    out << "log.dirs=" << (directory / "log").string() << "\n"
        // Replication of every topic the broker creates by itself, and the default for
        // topics created without one; no topic appears because a client named it.
        << "offsets.topic.replication.factor=" << replication << "\n"
        << "offsets.topic.num.partitions=8\n"
        << "transaction.state.log.replication.factor=" << replication << "\n"
        << "transaction.state.log.min.isr=" << min_isr << "\n"
        << "transaction.state.log.num.partitions=4\n"
        << "share.coordinator.state.topic.replication.factor=" << replication << "\n"
        << "share.coordinator.state.topic.min.isr=" << min_isr << "\n"
        << "default.replication.factor=" << replication << "\n"
        << "min.insync.replicas=" << min_isr << "\n"
        << "unclean.leader.election.enable=false\n"
        << "auto.create.topics.enable=false\n"
        // A small machine shared with the test suite.
        << "num.network.threads=2\n"
        << "num.io.threads=2\n"
        << "num.recovery.threads.per.data.dir=1\n"
        << "background.threads=2\n"
        << "group.initial.rebalance.delay.ms=0\n";
    for (const auto& [key, value] : settings) out << key << "=" << value << "\n";
    return out.str();
}

std::string log4j2_properties(const std::filesystem::path& log) {
    std::ostringstream out;
    out << "# Written by shopstream (adapters/kafka/local_broker.cpp): the broker's log in one file.\n"
        << "status = warn\n"
        << "appender.file.type = RollingFile\n"
        << "appender.file.name = file\n"
        << "appender.file.fileName = " << log.string() << "\n"
        << "appender.file.filePattern = " << log.string() << ".%i\n"
        << "appender.file.layout.type = PatternLayout\n"
        << "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        << "appender.file.policies.type = Policies\n"
        << "appender.file.policies.size.type = SizeBasedTriggeringPolicy\n"
        << "appender.file.policies.size.size = 10MB\n"
        << "appender.file.strategy.type = DefaultRolloverStrategy\n"
        << "appender.file.strategy.max = 2\n"
        << "rootLogger.level = info\n"
        << "rootLogger.appenderRef.file.ref = file\n";
    return out.str();
}

std::vector<std::string> java_command(const std::filesystem::path& directory, const std::filesystem::path& libs,
                                      std::vector<std::string> main_and_arguments) {
    std::vector<std::string> argv = {"java",
                                     "-Xms256m",
                                     "-Xmx256m",
                                     "-XX:+UseSerialGC",
                                     "-XX:TieredStopAtLevel=1",
                                     "-XX:-UsePerfData",
                                     "-XX:+ExitOnOutOfMemoryError",
                                     "-Djava.awt.headless=true",
                                     "-Dlog4j2.configurationFile=" + (directory / "log4j2.properties").string(),
                                     "-cp",
                                     (libs / "*").string()};
    argv.insert(argv.end(), std::make_move_iterator(main_and_arguments.begin()),
                std::make_move_iterator(main_and_arguments.end()));
    return argv;
}

result<void, error> check_installed(const std::filesystem::path& libs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(libs, ec)) {
        if (entry.path().filename().string().starts_with("kafka_2.13-")) return {};
    }
    return fail(fail_with(errc::not_installed, "no Apache Kafka jars in " + libs.string() +
                                                   " (run scripts/install-deps.sh, or set SHOPSTREAM_KAFKA_LIBS)"));
}

bool has_meta_properties(const std::filesystem::path& log_dir) {
    std::error_code ec;
    return std::filesystem::exists(log_dir / "meta.properties", ec);
}

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

std::filesystem::path cached_libs(const char* environment_variable, const std::string& version) {
    if (const char* value = std::getenv(environment_variable); value != nullptr && *value != '\0') return value;
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home != nullptr && *home != '\0' ? home : "/root") / ".cache" / "shopstream" /
           ("kafka-" + version) / "libs";
}

std::filesystem::path default_libs() { return cached_libs("SHOPSTREAM_KAFKA_LIBS", kafka_version); }

std::string bootstrap_of(const std::vector<node_address>& voters) {
    std::string out;
    for (const auto& v : voters) {
        if (!out.empty()) out += ',';
        out += "127.0.0.1:" + std::to_string(v.broker_port);
    }
    return out;
}

result<std::vector<node_address>, error> free_node_addresses(int count, bool sasl_listener) {
    if (count < 1) return fail(fail_with(errc::bad_options, "a cluster needs at least one node"));
    const int per_node = sasl_listener ? 3 : 2;
    std::vector<int> sockets;
    std::vector<int> ports;
    std::string problem;
    for (int i = 0; i < per_node * count && problem.empty(); ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            problem = std::string("socket: ") + std::strerror(errno);
            break;
        }
        sockets.push_back(fd);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        auto* generic = reinterpret_cast<sockaddr*>(&address);  // NOLINT: the sockets API
        if (::bind(fd, generic, sizeof address) != 0 || ::getsockname(fd, generic, &length) != 0) {
            problem = std::string("bind 127.0.0.1:0: ") + std::strerror(errno);
        } else {
            ports.push_back(ntohs(address.sin_port));
        }
    }
    for (const int fd : sockets) ::close(fd);
    if (!problem.empty()) return fail(fail_with(errc::io_failed, std::move(problem)));
    std::vector<node_address> nodes;
    for (int i = 0; i < count; ++i) {
        const auto at = static_cast<std::size_t>(per_node * i);
        nodes.push_back({i + 1, ports[at], ports[at + 1], sasl_listener ? ports[at + 2] : 0});
    }
    return nodes;
}

local_broker_options local_run_options(std::filesystem::path directory) {
    local_broker_options options;
    options.class_archive = directory / "classes.jsa";
    // One copy only: without an fsync an OS crash or power loss loses what the page cache
    // held, commits already acknowledged included, and the default run promises to keep
    // them. So the broker fsyncs every append (one fsync per partition batch, not per
    // record: the check runs after each append). Measured (benchmarks/README.md, "Kafka
    // flush on the local broker"): raw idempotent produce 9.3 k/s with it vs 8.1 k/s
    // without, 1-writer append 0.74 vs 0.65 of that ceiling - no cost visible at this
    // machine's load (8-9 on 2 cores). On serve's HTTP path (1 ms linger: many small
    // batches, each fsynced) it costs 0.39x: 634 vs 1 616 commands/s at 64 connections,
    // half-load p99 6.5 vs 7.5 ms. Kept: an answered command must survive a machine crash,
    // and the gap to the throughput target is 15x without it too.
    options.settings = {{"log.flush.interval.messages", "1"}};
    options.directory = std::move(directory);
    return options;
}

result<std::unique_ptr<local_broker>, error> local_broker::start(local_broker_options options) {
    std::unique_ptr<local_broker> broker(new local_broker());
    broker->libs_ = options.libs.empty() ? default_libs() : options.libs;
    if (auto installed = check_installed(broker->libs_); !installed) return fail(std::move(installed.error()));

    const bool sasl_listener = !options.scram_users.empty();
    if (options.voters.empty()) {
        auto single = free_node_addresses(1, sasl_listener);
        if (!single) return fail(std::move(single.error()));
        options.voters = {{options.node_id, single->front().broker_port, single->front().controller_port,
                           single->front().sasl_port}};
    }
    const auto self = std::find_if(options.voters.begin(), options.voters.end(),
                                   [&](const node_address& v) { return v.node_id == options.node_id; });
    if (self == options.voters.end()) {
        return fail(fail_with(errc::bad_options, "node " + std::to_string(options.node_id) +
                                                     " is not among the voters " + voters_line(options.voters)));
    }
    if (sasl_listener && self->sasl_port == 0) {
        return fail(fail_with(errc::bad_options, "node " + std::to_string(options.node_id) +
                                                     " has SCRAM users but no sasl_port among the voters"));
    }
    broker->node_id_ = options.node_id;
    broker->address_ = *self;
    broker->voters_ = options.voters;
    broker->stop_timeout_ = options.stop_timeout;
    broker->class_archive_ = options.class_archive;
    broker->ready_timeout_ = options.ready_timeout;

    std::error_code ec;
    broker->directory_ = std::filesystem::absolute(options.directory, ec);
    if (ec || options.directory.empty()) {
        return fail(fail_with(errc::bad_options, "bad directory '" + options.directory.string() + "'"));
    }
    if (std::filesystem::create_directories(broker->log_directory(), ec); ec) {
        return fail(fail_with(errc::io_failed, "cannot create " + broker->log_directory().string() + ": " + ec.message()));
    }
    const auto& dir = broker->directory_;
    if (auto w = write_file(dir / "server.properties",
                            server_properties(dir, *self, options.voters, sasl_listener, options.settings));
        !w) {
        return fail(std::move(w.error()));
    }
    if (auto w = write_file(dir / "log4j2.properties", log4j2_properties(broker->log_file())); !w) {
        return fail(std::move(w.error()));
    }

    if (!has_meta_properties(broker->log_directory())) {
        std::vector<std::string> format = {"kafka.tools.StorageTool", "format", "-t", options.cluster_id, "-c",
                                           (dir / "server.properties").string(), "--ignore-formatted"};
        for (const auto& user : options.scram_users) {
            format.insert(format.end(),
                          {"--add-scram", "SCRAM-SHA-512=[name=" + user.name + ",password=" + user.password + "]"});
        }
        auto formatted = os::run(java_command(dir, broker->libs_, std::move(format)), format_timeout);
        if (!formatted) {
            return fail(fail_with(errc::format_failed, "kafka.tools.StorageTool format: " + formatted.error().message));
        }
        if (!formatted->status.success() || !has_meta_properties(broker->log_directory())) {
            return fail(fail_with(errc::format_failed,
                                  "kafka.tools.StorageTool format " + formatted->status.describe() + ": " +
                                      formatted->standard_output + formatted->standard_error));
        }
        broker->formatted_ = true;
    }

    if (auto launched = broker->launch(); !launched) return fail(std::move(launched.error()));
    if (options.wait_until_ready) {
        if (auto ready = broker->wait_ready(options.ready_timeout); !ready) {
            broker->stop();
            return fail(std::move(ready.error()));
        }
    }
    return broker;
}

result<void, error> local_broker::launch() {
    std::vector<std::string> main = {"kafka.Kafka", (directory_ / "server.properties").string()};
    if (!class_archive_.empty()) {
        std::error_code ec;
        const bool archived = std::filesystem::exists(class_archive_, ec);
        main.insert(main.begin(), (archived ? "-XX:SharedArchiveFile=" : "-XX:ArchiveClassesAtExit=") +
                                      class_archive_.string());
    }
    os::spawn_options spawn(java_command(directory_, libs_, std::move(main)));
    spawn.own_process_group = true;
    // The JVM's own output (crashes, a refused option) beside the log4j2 log.
    spawn.standard_output = os::output::append_to_file(directory_ / "stdout.log");
    spawn.standard_error = os::output::append_to_file(directory_ / "stdout.log");
    spawn.working_directory = directory_;
    auto jvm = os::process::spawn(std::move(spawn));
    if (!jvm) {
        return fail(fail_with(jvm.error().code == os::errc::not_found ? errc::not_installed : errc::start_failed,
                              "java kafka.Kafka (node " + std::to_string(node_id_) + "): " + jvm.error().message +
                                  " (install openjdk-17-jre-headless: scripts/install-deps.sh)"));
    }
    pid_ = jvm->pid();
    jvm_.emplace(std::move(*jvm));
    ended_.reset();
    paused_ = false;
    return {};
}

result<void, error> local_broker::wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    auto conf = eventstore::kafka::make_conf({{"bootstrap.servers", bootstrap()},
                                              {"broker.address.family", "v4"},
                                              {"reconnect.backoff.ms", "100"},
                                              {"reconnect.backoff.max.ms", "500"},
                                              {"log_level", "0"},
                                              {"log.connection.close", "false"}});
    if (!conf) return fail(fail_with(errc::not_ready, "readiness client: " + conf.error().message));
    auto client = eventstore::kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!client) return fail(fail_with(errc::not_ready, "readiness client: " + client.error().message));
    std::string last = "no answer yet";
    for (;;) {
        const auto ended = jvm_ ? jvm_->wait_for(0ms) : std::optional<os::exit_status>();
        if (!jvm_ || ended) {
            const std::string how = ended ? ended->describe() : "not started";
            return fail(fail_with(errc::start_failed, "Kafka node " + std::to_string(node_id_) + " ended (" + how +
                                                          ") before it was ready (see " + log_file().string() +
                                                          "):\n" + tail_of(log_file()) + tail_of(directory_ / "stdout.log", 1000)));
        }
        const rd_kafka_metadata_t* metadata = nullptr;
        const rd_kafka_resp_err_t err = rd_kafka_metadata(client->get(), 0, nullptr, &metadata, 1000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            bool lists_itself = false;
            for (int i = 0; i < metadata->broker_cnt; ++i) lists_itself |= metadata->brokers[i].id == node_id_;
            const bool from_itself = metadata->orig_broker_id == node_id_;
            rd_kafka_metadata_destroy(metadata);
            if (lists_itself && from_itself) return {};
            last = "its metadata does not list node " + std::to_string(node_id_) + " yet";
        } else {
            last = rd_kafka_err2str(err);
        }
        if (steady::now() > deadline) {
            return fail(fail_with(errc::not_ready, "Kafka node " + std::to_string(node_id_) + " at " + bootstrap() +
                                                       " did not answer a Metadata request within " +
                                                       std::to_string(timeout.count()) + " ms (" + last + "; see " +
                                                       log_file().string() + "):\n" + tail_of(log_file())));
        }
        std::this_thread::sleep_for(100ms);  // between polls of the condition, not instead of one
    }
}

os::exit_status local_broker::stop() {
    if (!jvm_) return ended_.value_or(os::exit_status{});
    if (jvm_->running()) {
        if (paused_) (void)jvm_->send_signal(SIGCONT);  // a stopped JVM would not see SIGTERM
        (void)jvm_->send_signal(SIGTERM);
        if (auto status = jvm_->wait_for(stop_timeout_)) {
            ended_ = *status;
        } else {
            ended_ = jvm_->kill();
        }
    } else {
        ended_ = jvm_->kill();  // reaps; returns the status it ended with
    }
    jvm_.reset();
    paused_ = false;
    return *ended_;
}

os::exit_status local_broker::kill() {
    if (!jvm_) return ended_.value_or(os::exit_status{});
    ended_ = jvm_->kill();
    jvm_.reset();
    paused_ = false;
    return *ended_;
}

result<void, error> local_broker::pause() {
    if (!running()) return fail(fail_with(errc::not_running, "Kafka node " + std::to_string(node_id_) + " is not running"));
    if (auto sent = jvm_->send_signal(SIGSTOP); !sent) return fail(fail_with(errc::not_running, sent.error().message));
    paused_ = true;
    return {};
}

result<void, error> local_broker::resume() {
    if (!running()) return fail(fail_with(errc::not_running, "Kafka node " + std::to_string(node_id_) + " is not running"));
    if (auto sent = jvm_->send_signal(SIGCONT); !sent) return fail(fail_with(errc::not_running, sent.error().message));
    paused_ = false;
    return {};
}

result<void, error> local_broker::restart(bool wait_until_ready) {
    if (jvm_) stop();
    if (auto launched = launch(); !launched) return launched;
    if (wait_until_ready) {
        if (auto ready = wait_ready(ready_timeout_); !ready) {
            stop();
            return ready;
        }
    }
    return {};
}

std::string local_broker::bootstrap() const { return "127.0.0.1:" + std::to_string(address_.broker_port); }

std::string local_broker::sasl_bootstrap() const {
    return address_.sasl_port == 0 ? std::string() : "127.0.0.1:" + std::to_string(address_.sasl_port);
}

local_broker::~local_broker() { stop(); }

}  // namespace shopstream::adapters::kafka
