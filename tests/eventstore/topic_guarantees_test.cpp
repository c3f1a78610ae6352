// judge_topic_guarantees(): every rule of ARCHITECTURE.md decision 12 on its own, the
// settings topics are created with, and a well-configured topic passing on each size.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eventstore/topics.hpp"

namespace shopstream {
namespace {

using eventstore::topic_description;
using eventstore::topic_verdict;

// A topic configured as ensure_topics() creates it on `brokers` brokers.
topic_description safe_topic(int brokers, std::string name = "orders.events") {
    return {std::move(name), eventstore::replication_for(brokers), eventstore::guaranteed_topic_settings(brokers)};
}

std::vector<topic_verdict> refusals(const std::vector<topic_verdict>& verdicts) {
    std::vector<topic_verdict> out;
    for (const auto& v : verdicts) {
        if (v.severity == topic_verdict::kind::refuse) out.push_back(v);
    }
    return out;
}

// The one refusal of `t` on `brokers` brokers; fails the test when there is not exactly one.
topic_verdict only_refusal(const topic_description& t, int brokers) {
    const auto found = refusals(eventstore::judge_topic_guarantees({t}, brokers));
    EXPECT_EQ(found.size(), 1U);
    return found.empty() ? topic_verdict{} : found.front();
}

TEST(topic_guarantees, creation_settings_follow_the_cluster_size) {
    EXPECT_EQ(eventstore::replication_for(1), 1);
    EXPECT_EQ(eventstore::replication_for(2), 2);
    EXPECT_EQ(eventstore::replication_for(3), 3);
    EXPECT_EQ(eventstore::replication_for(7), 3);
    EXPECT_EQ(eventstore::min_insync_for(1), 1);
    EXPECT_EQ(eventstore::min_insync_for(2), 2);
    EXPECT_EQ(eventstore::min_insync_for(3), 2);
    const auto settings = eventstore::guaranteed_topic_settings(5);
    EXPECT_EQ(settings.at("min.insync.replicas"), "2");
    EXPECT_EQ(settings.at("cleanup.policy"), "delete");
    EXPECT_EQ(settings.at("retention.ms"), "-1");
    EXPECT_EQ(settings.at("retention.bytes"), "-1");
    EXPECT_EQ(settings.at("unclean.leader.election.enable"), "false");
}

TEST(topic_guarantees, topics_created_as_ensure_topics_does_pass_on_every_cluster_size) {
    for (int brokers : {2, 3, 5}) {
        EXPECT_TRUE(eventstore::judge_topic_guarantees({safe_topic(brokers)}, brokers).empty()) << brokers;
    }
}

TEST(topic_guarantees, a_single_node_cluster_is_allowed_and_noted_as_one_copy) {
    const auto verdicts = eventstore::judge_topic_guarantees({safe_topic(1)}, 1);
    ASSERT_EQ(verdicts.size(), 1U);
    EXPECT_EQ(verdicts[0].severity, topic_verdict::kind::note);
    EXPECT_NE(verdicts[0].message.find("keeps one copy"), std::string::npos) << verdicts[0].message;
}

TEST(topic_guarantees, compaction_is_refused_naming_topic_setting_and_fix) {
    for (const char* policy : {"compact", "compact,delete", "delete,compact"}) {
        auto t = safe_topic(3);
        t.config["cleanup.policy"] = policy;
        const auto v = only_refusal(t, 3);
        EXPECT_EQ(v.topic, "orders.events");
        EXPECT_EQ(v.setting, "cleanup.policy");
        EXPECT_EQ(v.value, policy);
        EXPECT_NE(v.message.find("topic orders.events has cleanup.policy="), std::string::npos) << v.message;
        EXPECT_NE(v.message.find("--add-config cleanup.policy=delete"), std::string::npos) << v.message;
    }
}

// Each setting that lets an acknowledged commit be lost or deleted, on its own: one
// refusal, naming the setting, the value found and the command that fixes it.
TEST(topic_guarantees, each_unsafe_setting_is_refused_with_its_fix) {
    struct unsafe {
        const char* setting;
        const char* value;
        const char* fix;
    };
    for (const auto& [setting, value, fix] : {
             unsafe{"retention.ms", "604800000", "--add-config retention.ms=-1"},
             unsafe{"retention.bytes", "1073741824", "--add-config retention.bytes=-1"},
             unsafe{"unclean.leader.election.enable", "true", "unclean.leader.election.enable=false"},
             unsafe{"min.insync.replicas", "1", "--add-config min.insync.replicas=2"},
         }) {
        auto t = safe_topic(3);
        t.config[setting] = value;
        const auto v = only_refusal(t, 3);
        EXPECT_EQ(v.setting, setting);
        EXPECT_EQ(v.value, value);
        EXPECT_NE(v.message.find(fix), std::string::npos) << v.message;
    }
}

TEST(topic_guarantees, a_missing_retention_is_judged_by_kafkas_seven_day_default) {
    auto t = safe_topic(3);
    t.config.erase("retention.ms");
    EXPECT_EQ(only_refusal(t, 3).value, "604800000");
}

TEST(topic_guarantees, an_unreadable_retention_is_refused) {
    auto t = safe_topic(3);
    t.config["retention.ms"] = "forever";
    EXPECT_EQ(only_refusal(t, 3).setting, "retention.ms");
}

TEST(topic_guarantees, a_missing_min_insync_is_judged_by_kafkas_default_of_one) {
    auto t = safe_topic(3);
    t.config.erase("min.insync.replicas");
    EXPECT_EQ(only_refusal(t, 3).setting, "min.insync.replicas");
}

TEST(topic_guarantees, one_replica_on_a_multi_broker_cluster_is_refused) {
    auto t = safe_topic(3);
    t.replication = 1;
    t.config["min.insync.replicas"] = "1";
    // One refusal, for the replication: raising min.insync.replicas alone cannot help.
    const auto v = only_refusal(t, 3);
    EXPECT_EQ(v.setting, "replication.factor");
    EXPECT_EQ(v.value, "1");
    EXPECT_NE(v.message.find("3 replicas"), std::string::npos) << v.message;
}

TEST(topic_guarantees, two_replicas_both_in_sync_on_two_brokers_pass) {
    topic_description t{"orders.events", 2, eventstore::guaranteed_topic_settings(2)};
    EXPECT_TRUE(eventstore::judge_topic_guarantees({t}, 2).empty());
}

TEST(topic_guarantees, every_bad_setting_of_every_topic_is_reported_in_topic_order) {
    auto a = safe_topic(3, "orders.events");
    a.config["cleanup.policy"] = "compact";
    a.config["retention.bytes"] = "10";
    auto b = safe_topic(3, "shopstream.log-identity");
    b.config["unclean.leader.election.enable"] = "true";
    const auto found = refusals(eventstore::judge_topic_guarantees({a, safe_topic(3, "reviews.events"), b}, 3));
    ASSERT_EQ(found.size(), 3U);
    EXPECT_EQ(found[0].topic, "orders.events");
    EXPECT_EQ(found[0].setting, "cleanup.policy");
    EXPECT_EQ(found[1].setting, "retention.bytes");
    EXPECT_EQ(found[2].topic, "shopstream.log-identity");
}

TEST(topic_guarantees, a_single_node_still_refuses_what_deletes_commits) {
    auto t = safe_topic(1);
    t.config["cleanup.policy"] = "compact";
    EXPECT_EQ(only_refusal(t, 1).setting, "cleanup.policy");
}

}  // namespace
}  // namespace shopstream
