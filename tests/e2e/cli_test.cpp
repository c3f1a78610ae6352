// The real `shopstream` binary, started as a separate process: exit codes, the embedded
// Kafka-protocol cluster it serves and that a foreign client (kcat) can read, and a clean
// stop on SIGTERM and SIGINT.
#include <gtest/gtest.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/process.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;

process start_cluster(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {SHOPSTREAM_BINARY, "embedded-cluster"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    spawn_options options(argv);
    options.standard_error = output::null();
    auto child = process::spawn(options);
    if (!child) throw std::runtime_error(child.error());
    return std::move(*child);
}

TEST(cli, version_prints_and_exits_zero) {
    auto out = run({SHOPSTREAM_BINARY, "version"});
    ASSERT_TRUE(out.has_value()) << out.error();
    EXPECT_TRUE(out->status.success()) << out->status.describe();
    EXPECT_EQ(out->standard_output.rfind("shopstream ", 0), 0U) << out->standard_output;
}

TEST(cli, usage_errors_exit_two_with_a_message) {
    for (std::vector<std::string> argv : {
             std::vector<std::string>{SHOPSTREAM_BINARY},
             std::vector<std::string>{SHOPSTREAM_BINARY, "no-such-command"},
             std::vector<std::string>{SHOPSTREAM_BINARY, "embedded-cluster", "--partitions", "0"},
             std::vector<std::string>{SHOPSTREAM_BINARY, "embedded-cluster", "--partitions", "x"},
             std::vector<std::string>{SHOPSTREAM_BINARY, "embedded-cluster", "--no-such-flag"},
         }) {
        auto out = run(argv, 10s);
        ASSERT_TRUE(out.has_value()) << out.error();
        EXPECT_EQ(out->status, (exit_status{false, 2, 0})) << argv.back() << ": " << out->status.describe();
        EXPECT_FALSE(out->standard_error.empty()) << argv.back() << ": no message";
    }
}

TEST(cli, embedded_cluster_serves_the_event_topics_to_kcat) {
    auto cluster = start_cluster({"--partitions", "4"});
    auto bootstrap = cluster.read_line(10s);
    ASSERT_TRUE(bootstrap.has_value()) << bootstrap.error();
    ASSERT_NE(bootstrap->find("127.0.0.1:"), std::string::npos) << *bootstrap;

    auto listing = run({"kcat", "-b", *bootstrap, "-L", "-J"}, 20s);
    ASSERT_TRUE(listing.has_value()) << listing.error();
    ASSERT_TRUE(listing->status.success()) << listing->standard_error;
    auto metadata = nlohmann::json::parse(listing->standard_output);
    EXPECT_EQ(metadata.at("brokers").size(), 3U);
    std::map<std::string, std::size_t> partitions;
    for (const auto& topic : metadata.at("topics")) {
        partitions[topic.at("topic").get<std::string>()] = topic.at("partitions").size();
    }
    EXPECT_EQ(partitions["orders.events"], 4U);
    EXPECT_EQ(partitions["payments.events"], 4U);
    EXPECT_EQ(partitions["reviews.events"], 4U);

    // A foreign client writes and reads back through it.
    auto produced = run({"sh", "-c", "printf 'k1:v1\\n' | kcat -b " + *bootstrap +
                                         " -P -t reviews.events -K: -p 0"},
                        20s);
    ASSERT_TRUE(produced.has_value()) << produced.error();
    ASSERT_TRUE(produced->status.success()) << produced->standard_error;
    auto consumed = run({"kcat", "-b", *bootstrap, "-C", "-t", "reviews.events", "-p", "0", "-o",
                         "beginning", "-e", "-f", "%k=%s\\n"},
                        20s);
    ASSERT_TRUE(consumed.has_value()) << consumed.error();
    EXPECT_EQ(consumed->standard_output, "k1=v1\n") << consumed->standard_error;

    ASSERT_TRUE(cluster.send_signal(SIGTERM).has_value());
    auto status = cluster.wait_for(10s);
    ASSERT_TRUE(status.has_value()) << "did not stop on SIGTERM";
    EXPECT_TRUE(status->success()) << status->describe();
}

TEST(cli, embedded_cluster_stops_cleanly_on_sigint) {
    auto cluster = start_cluster();
    ASSERT_TRUE(cluster.read_line(10s).has_value());
    ASSERT_TRUE(cluster.send_signal(SIGINT).has_value());
    auto status = cluster.wait_for(10s);
    ASSERT_TRUE(status.has_value()) << "did not stop on SIGINT";
    EXPECT_TRUE(status->success()) << status->describe();
}

}  // namespace
}  // namespace shopstream::testing
