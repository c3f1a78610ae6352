// Creating the log's topics: through the mock API on the embedded cluster, and the Admin
// API path's checks of what already exists.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "eventstore/context.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/topics.hpp"
#include "tests/support/kafka_fixture.hpp"

namespace shopstream {
namespace {

using namespace std::chrono_literals;

TEST(topics, the_embedded_cluster_gets_every_event_topic_and_the_identity_topic) {
    auto cluster = eventstore::embedded_cluster::start(3);
    ASSERT_TRUE(cluster.has_value()) << cluster.error();
    ASSERT_TRUE(eventstore::create_topics(*cluster, 6).has_value());
    for (auto c : eventstore::all_contexts) {
        auto n = testing::partition_count(cluster->bootstrap_servers(), eventstore::topic_of(c));
        ASSERT_TRUE(n.has_value()) << n.error();
        EXPECT_EQ(*n, 6) << eventstore::topic_of(c);
    }
    auto identity = testing::partition_count(cluster->bootstrap_servers(), eventstore::identity_topic);
    ASSERT_TRUE(identity.has_value()) << identity.error();
    EXPECT_EQ(*identity, 1);
}

TEST(topics, existing_topics_with_the_configured_partitions_are_kept) {
    auto cluster = eventstore::embedded_cluster::start(3);
    ASSERT_TRUE(cluster.has_value()) << cluster.error();
    ASSERT_TRUE(eventstore::create_topics(*cluster, 6).has_value());
    auto ensured = eventstore::ensure_topics(cluster->bootstrap_servers(), 6, 10s);
    EXPECT_TRUE(ensured.has_value()) << ensured.error();
}

TEST(topics, an_existing_topic_with_another_partition_count_is_refused) {
    auto cluster = eventstore::embedded_cluster::start(3);
    ASSERT_TRUE(cluster.has_value()) << cluster.error();
    ASSERT_TRUE(eventstore::create_topics(*cluster, 6).has_value());
    auto ensured = eventstore::ensure_topics(cluster->bootstrap_servers(), 16, 10s);
    ASSERT_FALSE(ensured.has_value());
    EXPECT_EQ(ensured.error().code, eventstore::errc::misconfigured);
    EXPECT_NE(ensured.error().message.find("exists with 6 partitions"), std::string::npos) << ensured.error();
    EXPECT_NE(ensured.error().message.find("--partitions 6"), std::string::npos) << ensured.error();
}

TEST(topics, missing_topics_go_through_create_topics_and_are_never_auto_created) {
    // ensure_topics() must not name a missing topic in a Metadata request: brokers with
    // auto.create.topics.enable (and the mock) would create it with THEIR default
    // partition count. The mock has no CreateTopics, so here the Admin API call fails
    // with a message; on a real cluster it creates the topics as configured.
    auto cluster = eventstore::embedded_cluster::start(3);
    ASSERT_TRUE(cluster.has_value()) << cluster.error();
    auto ensured = eventstore::ensure_topics(cluster->bootstrap_servers(), 6, 2s);
    ASSERT_FALSE(ensured.has_value());
    EXPECT_NE(ensured.error().message.find("CreateTopics"), std::string::npos) << ensured.error();
    // Nothing was auto-created behind our back: creating the topics as configured works.
    EXPECT_TRUE(eventstore::create_topics(*cluster, 6).has_value());
}

}  // namespace
}  // namespace shopstream

namespace shopstream {
namespace {

using namespace std::chrono_literals;

TEST(topics, probe_brokers_succeeds_on_a_running_cluster) {
    auto cluster = eventstore::embedded_cluster::start(3);
    ASSERT_TRUE(cluster.has_value()) << cluster.error();
    const auto started = std::chrono::steady_clock::now();
    auto probed = eventstore::probe_brokers(cluster->bootstrap_servers(), 5s);
    EXPECT_TRUE(probed.has_value()) << probed.error();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(topics, probe_brokers_fails_fast_and_clearly_on_a_closed_port) {
    const auto started = std::chrono::steady_clock::now();
    auto probed = eventstore::probe_brokers("127.0.0.1:1", 5s);
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(probed.has_value());
    EXPECT_EQ(probed.error().code, eventstore::errc::unreachable);
    EXPECT_EQ(probed.error().message, "all brokers are down (connection refused)");
    // The all-brokers-down report, not the 5 s timeout, ends the probe.
    EXPECT_LT(took, 4s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

TEST(topics, probe_brokers_gives_up_at_its_timeout_when_nothing_answers) {
    // A listening socket that never accepts (the backlog takes the connection, nobody
    // speaks Kafka on it): the connection is up, the Metadata request is never answered.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    socklen_t length = sizeof address;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    const std::string bootstrap = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));

    const auto started = std::chrono::steady_clock::now();
    auto probed = eventstore::probe_brokers(bootstrap, 1500ms);
    const auto took = std::chrono::steady_clock::now() - started;
    ::close(fd);
    ASSERT_FALSE(probed.has_value());
    EXPECT_EQ(probed.error().code, eventstore::errc::unreachable);
    EXPECT_EQ(probed.error().message.rfind("no answer to a metadata request within 1500 ms", 0), 0U) << probed.error();
    EXPECT_GE(took, 1400ms);
    EXPECT_LT(took, 3500ms);
}

}  // namespace
}  // namespace shopstream

namespace shopstream {
namespace {

using namespace std::chrono_literals;

TEST(topics, the_mock_cluster_cannot_describe_configs_and_the_check_says_so_without_failing) {
    auto cluster = eventstore::embedded_cluster::start(3);
    ASSERT_TRUE(cluster.has_value()) << cluster.error();
    ASSERT_TRUE(eventstore::create_topics(*cluster, 2).has_value());
    const auto started = std::chrono::steady_clock::now();
    auto report = eventstore::check_topic_guarantees(cluster->bootstrap_servers(), 5s);
    ASSERT_TRUE(report.has_value()) << report.error();
    EXPECT_FALSE(report->checked);
    EXPECT_NE(report->unchecked_reason.find("DescribeConfigs"), std::string::npos) << report->unchecked_reason;
    EXPECT_TRUE(report->verdicts.empty());
    EXPECT_EQ(report->brokers, 3);
    // Told at once by the broker's API versions, not by a timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(topics, the_check_on_a_cluster_without_our_topics_has_nothing_to_judge) {
    auto cluster = eventstore::embedded_cluster::start(1);
    ASSERT_TRUE(cluster.has_value()) << cluster.error();
    auto report = eventstore::check_topic_guarantees(cluster->bootstrap_servers(), 5s);
    ASSERT_TRUE(report.has_value()) << report.error();
    EXPECT_TRUE(report->checked);
    EXPECT_TRUE(report->verdicts.empty());
}

TEST(topics, the_check_fails_clearly_when_the_cluster_cannot_be_asked) {
    auto report = eventstore::check_topic_guarantees("127.0.0.1:1", 1s);
    ASSERT_FALSE(report.has_value());
    EXPECT_EQ(report.error().code, eventstore::errc::unreachable);
    EXPECT_NE(report.error().message.find("metadata"), std::string::npos) << report.error();
}

}  // namespace
}  // namespace shopstream
