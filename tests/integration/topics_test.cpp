// Creating the log's topics: through the mock API on the embedded cluster, and the Admin
// API path's checks of what already exists.
#include <gtest/gtest.h>

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
    EXPECT_NE(ensured.error().find("exists with 6 partitions"), std::string::npos) << ensured.error();
    EXPECT_NE(ensured.error().find("--partitions 6"), std::string::npos) << ensured.error();
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
    EXPECT_NE(ensured.error().find("CreateTopics"), std::string::npos) << ensured.error();
    // Nothing was auto-created behind our back: creating the topics as configured works.
    EXPECT_TRUE(eventstore::create_topics(*cluster, 6).has_value());
}

}  // namespace
}  // namespace shopstream
