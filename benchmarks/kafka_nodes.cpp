// Real Kafka for benchmarks/kafka.sh, kept running until SIGTERM/SIGINT:
//
//   kafka_nodes --nodes 1 --dir DIR [--setting KEY=VALUE]...
//       the local single-node broker exactly as `shopstream serve` starts it without
//       --brokers (adapters/kafka/local_broker with serve's settings, log in DIR)
//   kafka_nodes --nodes 3 [--setting KEY=VALUE]...
//       the tests' three-broker cluster (tests/support/kafka_cluster, a temp dir)
//
// Prints one line "bootstrap=HOST:PORT,... pids=PID,..." once every node answers, so the
// script can point eventstore_bench at it and read the JVMs' /proc. --setting adds a line
// to every node's server.properties (e.g. log.flush.interval.messages=1 to measure it).
// The JVMs die with this process (PR_SET_PDEATHSIG) however it ends.

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/cli/signals.hpp"
#include "adapters/kafka/local_broker.hpp"
#include "tests/support/kafka_cluster.hpp"

int main(int argc, char** argv) {
    using namespace shopstream;
    int nodes = 1;
    std::string dir;
    std::vector<std::pair<std::string, std::string>> settings;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const std::string v = argv[i + 1];
        if (a == "--nodes") {
            nodes = std::stoi(v);
        } else if (a == "--dir") {
            dir = v;
        } else if (a == "--setting" && v.find('=') != std::string::npos) {
            settings.emplace_back(v.substr(0, v.find('=')), v.substr(v.find('=') + 1));
        } else {
            std::fprintf(stderr, "usage: %s --nodes 1 --dir DIR | --nodes 3, [--setting KEY=VALUE]...\n", argv[0]);
            return 2;
        }
    }
    if ((nodes != 1 && nodes != 3) || (nodes == 1 && dir.empty())) {
        std::fprintf(stderr, "%s: --nodes 1 needs --dir; --nodes is 1 or 3\n", argv[0]);
        return 2;
    }
    const sigset_t signals = adapters::block_termination_signals();

    std::unique_ptr<adapters::kafka::local_broker> single;
    std::unique_ptr<testing::kafka_cluster> cluster;
    std::string bootstrap;
    std::string pids;
    if (nodes == 1) {
        adapters::kafka::local_broker_options options = adapters::kafka::local_run_options(dir);
        options.settings.insert(options.settings.end(), settings.begin(), settings.end());
        auto started = adapters::kafka::local_broker::start(std::move(options));
        if (!started) {
            std::fprintf(stderr, "kafka_nodes: %s\n", started.error().message.c_str());
            return 1;
        }
        single = std::move(*started);
        bootstrap = single->bootstrap();
        pids = std::to_string(single->pid());
    } else {
        auto started = testing::kafka_cluster::start(3, settings);
        if (!started) {
            std::fprintf(stderr, "kafka_nodes: %s\n", started.error().c_str());
            return 1;
        }
        cluster = std::move(*started);
        bootstrap = cluster->bootstrap();
        for (int n = 1; n <= cluster->broker_count(); ++n) {
            pids += (pids.empty() ? "" : ",") + std::to_string(cluster->broker(n).pid());
        }
    }
    std::printf("bootstrap=%s pids=%s\n", bootstrap.c_str(), pids.c_str());
    std::fflush(stdout);
    int signal = 0;
    sigwait(&signals, &signal);
    return 0;
}
