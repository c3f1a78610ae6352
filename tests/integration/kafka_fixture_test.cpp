// The embedded cluster (eventstore/embedded_cluster.hpp) and the Kafka test helpers
// (tests/support/kafka_fixture.hpp): records survive the trip with keys, values and
// headers, keys land where Java's partitioner puts them, a broker outage loses nothing,
// and a foreign client (kcat, in its own process) sees the same cluster and records.

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eventstore/embedded_cluster.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/process.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* topic = "orders.events";
constexpr int partitions = 16;

std::string key_of(int aggregate) { return "order-" + std::to_string(aggregate); }

// Record number `seq` of aggregate `aggregate`: what the test produces and expects back.
record make_record(int aggregate, int seq) {
    record r;
    r.key = key_of(aggregate);
    r.value = "commit " + std::to_string(seq) + " of " + *r.key + " \x01\xff";
    r.headers = {{"commit-type", "order_placed"},
                 {"seq", std::to_string(seq)},
                 {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
    return r;
}

int seq_of(const record& r) {
    for (const auto& h : r.headers) {
        if (h.name == "seq" && h.value) return std::stoi(*h.value);
    }
    ADD_FAILURE() << "record without a seq header at partition " << r.partition << " offset " << r.offset;
    return -1;
}

// Produces `per_key` records for each of `keys` aggregates, round-robin over the keys,
// calling `between(i)` before record i.
template <class F>
void produce_round_robin(test_producer& producer, int keys, int per_key, F between) {
    int i = 0;
    for (int seq = 0; seq < per_key; ++seq) {
        for (int aggregate = 0; aggregate < keys; ++aggregate, ++i) {
            between(i);
            auto produced = producer.produce(topic, make_record(aggregate, seq));
            ASSERT_TRUE(produced.has_value()) << produced.error();
        }
    }
}

// Partition -> leader broker id, from the cluster's metadata.
std::map<std::int32_t, std::int32_t> leaders(rd_kafka_t* handle, const std::string& name) {
    std::map<std::int32_t, std::int32_t> out;
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(handle, 1, nullptr, &metadata, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ADD_FAILURE() << "metadata request failed";
        return out;
    }
    for (int t = 0; t < metadata->topic_cnt; ++t) {
        if (name != metadata->topics[t].topic) continue;
        for (int p = 0; p < metadata->topics[t].partition_cnt; ++p) {
            out[metadata->topics[t].partitions[p].id] = metadata->topics[t].partitions[p].leader;
        }
    }
    rd_kafka_metadata_destroy(metadata);
    return out;
}

// Checks that `records` hold every (aggregate, seq) exactly once with the value and headers
// produced, and each aggregate's records in seq order on a single partition.
void expect_complete_and_ordered(const std::vector<record>& records, int keys, int per_key) {
    std::map<std::string, std::vector<int>> seqs_by_key;
    std::map<std::string, std::set<std::int32_t>> partitions_by_key;
    for (const auto& r : records) {  // partition order, then offset order
        ASSERT_TRUE(r.key.has_value());
        const int seq = seq_of(r);
        const int aggregate = std::stoi(r.key->substr(std::string("order-").size()));
        const record expected = make_record(aggregate, seq);
        EXPECT_EQ(r.value, expected.value);
        EXPECT_EQ(r.headers, expected.headers);
        seqs_by_key[*r.key].push_back(seq);
        partitions_by_key[*r.key].insert(r.partition);
    }
    EXPECT_EQ(records.size(), static_cast<std::size_t>(keys * per_key));
    ASSERT_EQ(seqs_by_key.size(), static_cast<std::size_t>(keys));
    std::vector<int> all_seqs(static_cast<std::size_t>(per_key));
    for (int seq = 0; seq < per_key; ++seq) all_seqs[static_cast<std::size_t>(seq)] = seq;
    for (const auto& [key, seqs] : seqs_by_key) {
        EXPECT_EQ(seqs, all_seqs) << "records of " << key << " lost, duplicated or reordered";
        EXPECT_EQ(partitions_by_key[key].size(), 1U) << key;
    }
}

class kafka_fixture_test : public kafka_fixture {};

TEST(embedded_cluster, moves_ownership_and_refuses_work_once_moved_from) {
    auto started = eventstore::embedded_cluster::start(1);
    ASSERT_TRUE(started.has_value()) << started.error();
    eventstore::embedded_cluster moved(std::move(*started));
    EXPECT_EQ(started->mock(), nullptr);
    EXPECT_TRUE(started->bootstrap_servers().empty());
    const auto refused = started->create_topic("t", 1, 1);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, eventstore::errc::invalid_argument) << refused.error();
    EXPECT_EQ(started->request([](rd_kafka_mock_cluster_t*) { return RD_KAFKA_RESP_ERR_NO_ERROR; }),
              RD_KAFKA_RESP_ERR__STATE);
    ASSERT_NE(moved.mock(), nullptr);
    ASSERT_TRUE(moved.create_topic("t", 1, 1).has_value());
    EXPECT_EQ(partition_count(moved.bootstrap_servers(), "t").value_or(-1), 1);
    const auto none = eventstore::embedded_cluster::start(0);
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().code, eventstore::errc::invalid_argument) << none.error();
}

TEST_F(kafka_fixture_test, creates_the_default_topics_across_three_brokers) {
    EXPECT_EQ(std::count(bootstrap().begin(), bootstrap().end(), ',') + 1, 3) << bootstrap();
    for (const auto& name : {"orders.events", "payments.events", "reviews.events"}) {
        auto count = partition_count(bootstrap(), name);
        ASSERT_TRUE(count.has_value()) << count.error();
        EXPECT_EQ(*count, 16) << name;
    }
    SHOPSTREAM_SKIP_ON_REAL_KAFKA(kafka(), "the rest checks the mock's create_topic");
    EXPECT_EQ(cluster().broker_count(), 3);
    // The mock has no CreateTopics: create_topic is the only way, and it checks its input.
    const auto twice = cluster().create_topic("orders.events", 4, 1);
    ASSERT_FALSE(twice.has_value()) << "created twice";
    EXPECT_EQ(twice.error().code, eventstore::errc::topic_exists) << twice.error();
    const auto too_replicated = cluster().create_topic("too.replicated", 4, 4);
    ASSERT_FALSE(too_replicated.has_value());
    EXPECT_EQ(too_replicated.error().code, eventstore::errc::invalid_argument) << too_replicated.error();
    EXPECT_FALSE(cluster().create_topic("no.partitions", 0, 1).has_value());
    ASSERT_TRUE(cluster().create_topic("extra", 2, 1).has_value());
    EXPECT_EQ(partition_count(bootstrap(), "extra").value_or(-1), 2);
}

TEST_F(kafka_fixture_test, records_round_trip_with_keys_values_headers_and_per_key_order) {
    auto producer = test_producer::create(producer_config(bootstrap()));
    ASSERT_TRUE(producer.has_value()) << producer.error();
    const auto leader_of = leaders(producer->handle(), topic);
    ASSERT_EQ(leader_of.size(), static_cast<std::size_t>(partitions));
    std::set<std::int32_t> leader_brokers;
    for (const auto& [partition, leader] : leader_of) leader_brokers.insert(leader);
    EXPECT_EQ(leader_brokers, (std::set<std::int32_t>{1, 2, 3})) << "partition leaders not spread";

    constexpr int keys = 64;
    constexpr int per_key = 40;
    produce_round_robin(*producer, keys, per_key, [](int) {});
    auto flushed = producer->flush();
    ASSERT_TRUE(flushed.has_value()) << flushed.error();
    EXPECT_EQ(producer->deliveries().size(), static_cast<std::size_t>(keys * per_key));

    // A record with a null value and a null header value survives too.
    record odd;
    odd.key = "odd";
    odd.headers = {{"empty", ""}, {"null", std::nullopt}};
    ASSERT_TRUE(producer->produce("payments.events", odd).has_value());
    ASSERT_TRUE(producer->flush().has_value());

    auto records = consume_all(bootstrap(), topic);
    ASSERT_TRUE(records.has_value()) << records.error();
    expect_complete_and_ordered(*records, keys, per_key);
    std::set<std::int32_t> used;
    for (const auto& r : *records) used.insert(r.partition);
    EXPECT_GT(used.size(), 8U) << "64 keys should spread over most of 16 partitions";

    auto payments = consume_all(bootstrap(), "payments.events");
    ASSERT_TRUE(payments.has_value()) << payments.error();
    ASSERT_EQ(payments->size(), 1U);
    EXPECT_EQ(payments->front().key, "odd");
    EXPECT_FALSE(payments->front().value.has_value());
    EXPECT_EQ(payments->front().headers, odd.headers);
}

TEST_F(kafka_fixture_test, keys_land_where_the_java_partitioner_puts_them) {
    // The reference itself, against librdkafka's java_murmur2_results (src/rdmurmur2.c),
    // which are Apache Kafka's Java client values.
    const std::vector<std::pair<std::string, std::uint32_t>> java_vectors = {
        {"kafka", 0xd067cf64},
        {"giberish123456789", 0x8f552b0c},
        {"1234", 0x9fc97b14},
        {"234", 0xe7c009ca},
        {"34", 0x873930da},
        {"4", 0x5a4b5ca1},
        {"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c},
        {"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62b377},
        {"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4e09e},
        {"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43f},
        {"", 0x106e08d9},
    };
    for (const auto& [key, hash] : java_vectors) EXPECT_EQ(java_murmur2(key), hash) << '"' << key << '"';

    auto first = test_producer::create(producer_config(bootstrap()));
    auto second = test_producer::create(producer_config(bootstrap()));
    ASSERT_TRUE(first.has_value() && second.has_value());
    constexpr int keys = 200;
    for (int i = 0; i < keys; ++i) {
        record r;
        r.key = key_of(i);
        r.value = "v";
        ASSERT_TRUE(first->produce(topic, r).has_value());
        if (i % 10 == 0) {
            ASSERT_TRUE(second->produce(topic, r).has_value());
        }
    }
    ASSERT_TRUE(first->flush().has_value());
    ASSERT_TRUE(second->flush().has_value());

    std::map<std::string, std::int32_t> placed;
    for (const auto& d : first->deliveries()) {
        placed[*d.sent.key] = d.sent.partition;
        EXPECT_EQ(d.sent.partition, java_partition(*d.sent.key, partitions)) << *d.sent.key;
    }
    ASSERT_EQ(placed.size(), static_cast<std::size_t>(keys));
    ASSERT_EQ(second->deliveries().size(), static_cast<std::size_t>(keys / 10));
    for (const auto& d : second->deliveries()) EXPECT_EQ(d.sent.partition, placed[*d.sent.key]) << *d.sent.key;

    // And librdkafka's own default (consistent_random, CRC32) would not agree: the check
    // above can tell the difference.
    auto config = producer_config(bootstrap());
    config["partitioner"] = "consistent_random";
    auto crc = test_producer::create(config);
    ASSERT_TRUE(crc.has_value()) << crc.error();
    for (int i = 0; i < 20; ++i) {
        record r;
        r.key = key_of(i);
        ASSERT_TRUE(crc->produce(topic, r).has_value());
    }
    ASSERT_TRUE(crc->flush().has_value());
    const auto differing = std::count_if(crc->deliveries().begin(), crc->deliveries().end(), [&](const delivery& d) {
        return d.sent.partition != java_partition(*d.sent.key, partitions);
    });
    EXPECT_GT(differing, 0);
}

TEST_F(kafka_fixture_test, a_broker_down_and_up_mid_stream_loses_nothing) {
    SHOPSTREAM_SKIP_ON_REAL_KAFKA(kafka(), "rd_kafka_mock_broker_set_down/up (the real cluster's kills are tests/kafka)");
    auto producer = test_producer::create(producer_config(bootstrap()));
    ASSERT_TRUE(producer.has_value()) << producer.error();
    constexpr std::int32_t victim = 1;
    std::set<std::int32_t> victim_partitions;
    for (const auto& [partition, leader] : leaders(producer->handle(), topic)) {
        if (leader == victim) victim_partitions.insert(partition);
    }
    ASSERT_FALSE(victim_partitions.empty());

    // Records [down_at, up_at) are produced while broker 1 is down.
    constexpr int keys = 100;
    constexpr int per_key = 50;
    constexpr int down_at = keys * per_key / 4;
    constexpr int up_at = keys * per_key / 2;
    const auto delivered_during_outage = [&](bool to_victim) {
        return std::count_if(producer->deliveries().begin(), producer->deliveries().end(), [&](const delivery& d) {
            const int index = seq_of(d.sent) * keys + std::stoi(d.sent.key->substr(6));
            return index >= down_at && index < up_at && d.error == RD_KAFKA_RESP_ERR_NO_ERROR &&
                   victim_partitions.contains(d.sent.partition) == to_victim;
        });
    };
    produce_round_robin(*producer, keys, per_key, [&](int i) {
        if (i == down_at) {
            ASSERT_EQ(cluster().request([](rd_kafka_mock_cluster_t* m) { return rd_kafka_mock_broker_set_down(m, victim); }),
                      RD_KAFKA_RESP_ERR_NO_ERROR);
        } else if (i == up_at) {
            // An outage of a second at least, serving delivery reports meanwhile.
            const auto until = std::chrono::steady_clock::now() + 1s;
            while (std::chrono::steady_clock::now() < until) producer->poll(20ms);
            // The fault is real: nothing produced since reached broker 1's partitions,
            // while the other brokers kept acknowledging theirs.
            EXPECT_EQ(delivered_during_outage(true), 0);
            EXPECT_GT(delivered_during_outage(false), 0);
            ASSERT_EQ(rd_kafka_mock_broker_set_up(mock(), victim), RD_KAFKA_RESP_ERR_NO_ERROR);  // raw handle works too
        }
    });
    auto flushed = producer->flush(60s);
    ASSERT_TRUE(flushed.has_value()) << flushed.error();
    EXPECT_GT(delivered_during_outage(true), 0);

    auto records = consume_all(bootstrap(), topic, 60s);
    ASSERT_TRUE(records.has_value()) << records.error();
    expect_complete_and_ordered(*records, keys, per_key);
}

TEST_F(kafka_fixture_test, kcat_sees_the_cluster_and_the_records) {
    auto producer = test_producer::create(producer_config(bootstrap()));
    ASSERT_TRUE(producer.has_value()) << producer.error();
    constexpr int keys = 20;
    constexpr int per_key = 3;
    produce_round_robin(*producer, keys, per_key, [](int) {});
    ASSERT_TRUE(producer->flush().has_value());

    auto listing = run({"kcat", "-b", bootstrap(), "-L", "-J"}, 30s);
    ASSERT_TRUE(listing.has_value()) << listing.error();
    ASSERT_TRUE(listing->status.success()) << listing->status.describe() << ": " << listing->standard_error;
    const auto metadata = nlohmann::json::parse(listing->standard_output);
    std::set<int> broker_ids;
    for (const auto& broker : metadata.at("brokers")) broker_ids.insert(broker.at("id").get<int>());
    EXPECT_EQ(broker_ids, (std::set<int>{1, 2, 3})) << listing->standard_output;
    bool listed = false;
    for (const auto& t : metadata.at("topics")) {
        if (t.at("topic") != topic) continue;
        listed = true;
        EXPECT_EQ(t.at("partitions").size(), static_cast<std::size_t>(partitions));
    }
    EXPECT_TRUE(listed) << listing->standard_output;

    auto consumed = run({"kcat", "-b", bootstrap(), "-C", "-t", topic, "-e", "-q", "-f", "%k %h %s\n"}, 30s);
    ASSERT_TRUE(consumed.has_value()) << consumed.error();
    ASSERT_TRUE(consumed->status.success()) << consumed->status.describe() << ": " << consumed->standard_error;
    std::multiset<std::string> expected;
    for (int aggregate = 0; aggregate < keys; ++aggregate) {
        for (int seq = 0; seq < per_key; ++seq) {
            const record r = make_record(aggregate, seq);
            std::string headers;
            for (const auto& h : r.headers) headers += (headers.empty() ? "" : ",") + h.name + "=" + *h.value;
            expected.insert(*r.key + " " + headers + " " + *r.value);
        }
    }
    std::multiset<std::string> lines;
    std::size_t begin = 0;
    for (std::size_t end = 0; (end = consumed->standard_output.find('\n', begin)) != std::string::npos; begin = end + 1) {
        lines.insert(consumed->standard_output.substr(begin, end - begin));
    }
    EXPECT_EQ(lines, expected) << consumed->standard_output;
}

}  // namespace
}  // namespace shopstream::testing
