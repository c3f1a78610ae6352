// The only translation unit that includes CLI11 (heavy header-only parser).
#include "adapters/cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "eventstore/embedded_cluster.hpp"
#include "eventstore/topics.hpp"

namespace shopstream::adapters {
namespace {

constexpr int exit_environment = 1;
constexpr int exit_usage = 2;

// The event topics of the three contexts (ARCHITECTURE.md).
const std::vector<std::string> event_topics = {"orders.events", "payments.events",
                                               "reviews.events"};

// Blocks SIGINT/SIGTERM in this thread before any library thread starts, so every
// thread inherits the mask and the signals are taken synchronously with sigwait.
sigset_t block_termination_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

int run_embedded_cluster(int brokers, int partitions) {
    const sigset_t signals = block_termination_signals();
    auto cluster = eventstore::embedded_cluster::start(brokers);
    if (!cluster) {
        spdlog::error("cannot start the embedded Kafka-protocol cluster: {}", cluster.error());
        return exit_environment;
    }
    if (auto created = eventstore::create_topics(*cluster, partitions); !created) {
        spdlog::error("cannot create the event topics: {}", created.error());
        return exit_environment;
    }
    // First stdout line is machine-readable: the bootstrap list.
    std::printf("%s\n", cluster->bootstrap_servers().c_str());
    std::fflush(stdout);
    spdlog::warn(
        "embedded Kafka-protocol cluster (librdkafka mock, {} brokers) at {}: it is EPHEMERAL "
        "(gone when this process exits) and keeps at most 5 MiB per partition",
        brokers, cluster->bootstrap_servers());
    spdlog::info("topics {} with {} partitions each; read them with: kcat -b {} -L",
                 fmt::join(event_topics, ", "), partitions, cluster->bootstrap_servers());
    spdlog::info("press Ctrl-C (SIGINT) or send SIGTERM to stop");
    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("signal {} received, stopping the embedded cluster", received);
    return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
    auto logger = spdlog::stderr_color_mt("shopstream");
    spdlog::set_default_logger(logger);

    CLI::App app{"shopstream: an event-sourced CQRS shop backend on Kafka"};
    app.require_subcommand(1);

    auto* version = app.add_subcommand("version", "print the version");

    int brokers = 3;
    int partitions = 16;
    auto* cluster = app.add_subcommand(
        "embedded-cluster",
        "run the embedded Kafka-protocol cluster (librdkafka mock) with the event topics "
        "until SIGINT/SIGTERM; prints the bootstrap list on stdout");
    cluster->add_option("--broker-count", brokers, "number of brokers")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    cluster->add_option("--partitions", partitions, "partitions per event topic")
        ->envname("SHOPSTREAM_PARTITIONS")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : exit_usage;
    }

    if (*version) {
        std::printf("shopstream %s\n", SHOPSTREAM_VERSION);
        return 0;
    }
    if (*cluster) return run_embedded_cluster(brokers, partitions);
    return exit_usage;
}

}  // namespace shopstream::adapters
