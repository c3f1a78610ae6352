#include "tests/support/kafka_fixture.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <set>
#include <thread>

#include <unistd.h>

#include "eventstore/topics.hpp"

namespace shopstream::testing {
namespace {

namespace kafka = eventstore::kafka;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

int clamp_ms(std::chrono::milliseconds timeout) {
    return static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 60'000));
}

std::string view_to_string(const void* data, std::size_t size) {
    return {static_cast<const char*>(data), size};
}

std::string unique_group_id() {
    static std::atomic<unsigned> counter = 0;
    return "shopstream-test-reader-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

}  // namespace

std::vector<topic_spec> default_topics() {
    return {{"orders.events", 16, 3}, {"payments.events", 16, 3}, {"reviews.events", 16, 3}};
}

result<test_kafka, std::string> test_kafka::start(const std::vector<topic_spec>& topics) {
    test_kafka out;
    if (real_kafka_requested()) {
        try {
            out.real_ = &shared_kafka_cluster();
        } catch (const std::exception& e) {
            return fail(std::string(e.what()));
        }
        if (auto reset = out.real_->reset_topics(topics); !reset) return fail(std::move(reset.error()));
        out.bootstrap_ = out.real_->bootstrap();
        return out;
    }
    auto started = eventstore::embedded_cluster::start(3);
    if (!started) return fail(std::move(started.error().message));
    out.mock_.emplace(std::move(*started));
    for (const auto& topic : topics) {
        if (auto created = out.mock_->create_topic(topic.name, topic.partitions, topic.replication_factor); !created) {
            return fail(std::move(created.error().message));
        }
    }
    out.bootstrap_ = out.mock_->bootstrap_servers();
    return out;
}

result<test_kafka, std::string> test_kafka::start_with_event_topics(int partitions) {
    if (real_kafka_requested()) {
        auto topics = default_topics();
        for (auto& t : topics) t.partitions = partitions;
        return start(topics);  // reset_topics creates these through eventstore::ensure_topics
    }
    auto out = start({});
    if (!out) return out;
    if (auto created = eventstore::create_topics(*out->mock_, partitions); !created) {
        return fail(std::move(created.error().message));
    }
    return out;
}

void kafka_fixture::SetUp() {
    auto started = test_kafka::start(topics());
    ASSERT_TRUE(started.has_value()) << started.error();
    kafka_.emplace(std::move(*started));
}

void kafka_fixture::TearDown() { kafka_.reset(); }

kafka_config producer_config(std::string_view bootstrap) {
    return {
        {"bootstrap.servers", std::string(bootstrap)},
        {"broker.address.family", "v4"},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"partitioner", "murmur2_random"},
        {"socket.nagle.disable", "true"},
        {"linger.ms", "2"},
        {"reconnect.backoff.max.ms", "500"},  // back quickly after an injected broker outage
        {"log.connection.close", "false"},
    };
}

kafka_config consumer_config(std::string_view bootstrap) {
    return {
        {"bootstrap.servers", std::string(bootstrap)},
        {"broker.address.family", "v4"},
        {"group.id", unique_group_id()},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "5"},
        {"socket.nagle.disable", "true"},
        {"log.connection.close", "false"},
    };
}

record to_record(const rd_kafka_message_t& message) {
    record out;
    if (message.key != nullptr) out.key = view_to_string(message.key, message.key_len);
    if (message.payload != nullptr) out.value = view_to_string(message.payload, message.len);
    out.partition = message.partition;
    out.offset = message.offset;
    rd_kafka_headers_t* headers = nullptr;  // owned by the message
    if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
            out.headers.push_back(
                {name, value != nullptr ? std::optional(view_to_string(value, size)) : std::nullopt});
        }
    }
    return out;
}

// ---- producer ---------------------------------------------------------------------------

result<test_producer, std::string> test_producer::create(const kafka_config& config) {
    auto conf = kafka::make_conf(config);
    if (!conf) return fail("producer: " + conf.error().message);
    auto s = std::make_unique<state>();
    rd_kafka_conf_set_opaque(conf->get(), s.get());
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &test_producer::on_delivery);
    auto handle = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!handle) return fail("producer: " + handle.error().message);
    return test_producer(std::move(s), std::move(*handle));
}

void test_producer::on_delivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
    static_cast<state*>(opaque)->deliveries.push_back({to_record(*message), message->err});
}

result<void, std::string> test_producer::produce(std::string_view topic, const record& r,
                                                 std::int32_t partition) {
    const std::string topic_name(topic);
    if (!state_->known_topics.contains(topic_name)) {
        // A topic new to a running producer otherwise waits for librdkafka's 1 s
        // metadata scan before its first record can go out.
        rd_kafka_topic_t* topic_handle = rd_kafka_topic_new(handle_.get(), topic_name.c_str(), nullptr);
        const rd_kafka_metadata_t* metadata = nullptr;
        if (rd_kafka_metadata(handle_.get(), 0, topic_handle, &metadata, 5'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(metadata);
        }
        rd_kafka_topic_destroy(topic_handle);
        state_->known_topics.insert(topic_name);
    }
    const auto deadline = steady::now() + 60s;
    for (;;) {
        rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
        for (const auto& h : r.headers) {
            rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                                h.value ? h.value->data() : nullptr,
                                h.value ? static_cast<ssize_t>(h.value->size()) : 0);
        }
        // rd_kafka_produceva rather than producev: its RD_KAFKA_V_* macros use C casts.
        std::array<rd_kafka_vu_t, 6> args{};
        args[0].vtype = RD_KAFKA_VTYPE_TOPIC;
        args[0].u.cstr = topic_name.c_str();
        args[1].vtype = RD_KAFKA_VTYPE_PARTITION;
        args[1].u.i32 = partition;
        args[2].vtype = RD_KAFKA_VTYPE_KEY;
        args[2].u.mem = {r.key ? const_cast<char*>(r.key->data()) : nullptr, r.key ? r.key->size() : 0};
        args[3].vtype = RD_KAFKA_VTYPE_VALUE;
        args[3].u.mem = {r.value ? const_cast<char*>(r.value->data()) : nullptr,
                         r.value ? r.value->size() : 0};
        args[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        args[4].u.i = RD_KAFKA_MSG_F_COPY;
        args[5].vtype = RD_KAFKA_VTYPE_HEADERS;
        args[5].u.headers = headers;  // owned by the message once produceva succeeds
        rd_kafka_error_t* error = rd_kafka_produceva(handle_.get(), args.data(), args.size());
        if (error == nullptr) {
            rd_kafka_poll(handle_.get(), 0);
            return {};
        }
        rd_kafka_headers_destroy(headers);
        const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
        std::string text = rd_kafka_error_string(error);
        rd_kafka_error_destroy(error);
        if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL || steady::now() > deadline) {
            return fail("produce to " + topic_name + ": " + text);
        }
        rd_kafka_poll(handle_.get(), 10);  // let deliveries drain the queue
    }
}

void test_producer::poll(std::chrono::milliseconds timeout) { rd_kafka_poll(handle_.get(), clamp_ms(timeout)); }

result<void, std::string> test_producer::flush(std::chrono::milliseconds timeout) {
    const rd_kafka_resp_err_t flushed = rd_kafka_flush(handle_.get(), clamp_ms(timeout));
    std::array<char, 512> reason{};
    if (const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(handle_.get(), reason.data(), reason.size());
        fatal != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(std::string("producer fatal error: ") + rd_kafka_err2name(fatal) + ": " + reason.data());
    }
    if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail("flush: " + std::to_string(rd_kafka_outq_len(handle_.get())) +
                    " messages or requests still queued after " + std::to_string(timeout.count()) + " ms");
    }
    const auto failed = std::count_if(state_->deliveries.begin(), state_->deliveries.end(),
                                      [](const delivery& d) { return d.error != RD_KAFKA_RESP_ERR_NO_ERROR; });
    if (failed > 0) {
        const auto first = std::find_if(state_->deliveries.begin(), state_->deliveries.end(),
                                        [](const delivery& d) { return d.error != RD_KAFKA_RESP_ERR_NO_ERROR; });
        return fail(std::to_string(failed) + " deliveries failed, the first with " + rd_kafka_err2name(first->error));
    }
    return {};
}

// ---- consumer ---------------------------------------------------------------------------

namespace {

// The topic's partition count from `handle`'s metadata of all topics (which also fills
// the handle's cache of partition leaders).
result<int, std::string> partition_count_via(rd_kafka_t* handle, const std::string& name) {
    auto counts = kafka::partition_counts(handle, 10s);
    if (!counts) return fail("metadata for " + name + ": " + counts.error().message);
    const auto found = counts->find(name);
    if (found == counts->end()) return fail("metadata for " + name + ": topic not listed");
    return found->second;
}

// A consumer of `config` that has read the cluster's metadata, and the partition count of
// `topic` through it (so its leaders are known before anything is asked of them).
result<std::pair<kafka::handle, int>, std::string> consumer_knowing(const kafka_config& config, const std::string& topic) {
    auto conf = kafka::make_conf(config);
    if (!conf) return fail("consumer: " + conf.error().message);
    auto handle = kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!handle) return fail("consumer: " + handle.error().message);
    auto partitions = partition_count_via(handle->get(), topic);
    if (!partitions) return fail(std::move(partitions.error()));
    return std::pair{std::move(*handle), *partitions};
}

}  // namespace

result<int, std::string> partition_count(std::string_view bootstrap, std::string_view topic) {
    auto conf = kafka::make_conf({{"bootstrap.servers", std::string(bootstrap)},
                                  {"socket.nagle.disable", "true"},
                                  {"log.connection.close", "false"}});
    if (!conf) return fail(std::move(conf.error().message));
    auto handle = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!handle) return fail(std::move(handle.error().message));
    return partition_count_via(handle->get(), std::string(topic));
}

result<std::int64_t, std::string> group_lag(std::string_view bootstrap, std::string_view group,
                                            std::string_view topic) {
    // A consumer of the group that never subscribes: it only asks the coordinator for the
    // group's offsets and the leaders for the ends, so it does not join or disturb it.
    auto config = consumer_config(bootstrap);
    config["group.id"] = std::string(group);
    const std::string name(topic);
    auto known = consumer_knowing(config, name);
    if (!known) return fail(std::move(known.error()));
    rd_kafka_t* consumer = known->first.get();
    const int partitions = known->second;
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, name.c_str(), p);
    const rd_kafka_resp_err_t asked = rd_kafka_committed(consumer, list, 10'000);
    std::int64_t lag = 0;
    std::string error;
    if (asked != RD_KAFKA_RESP_ERR_NO_ERROR) error = "committed offsets of " + std::string(group) + ": " + rd_kafka_err2str(asked);
    for (int i = 0; error.empty() && i < list->cnt; ++i) {
        const auto& tp = list->elems[i];
        std::int64_t low = 0;
        std::int64_t high = 0;
        const rd_kafka_resp_err_t ends = rd_kafka_query_watermark_offsets(consumer, name.c_str(), tp.partition, &low, &high, 10'000);
        if (ends != RD_KAFKA_RESP_ERR_NO_ERROR) {
            error = "ends of " + name + ": " + rd_kafka_err2str(ends);
        } else {
            lag += high - (tp.offset >= 0 ? tp.offset : low);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (!error.empty()) return fail(std::move(error));
    return lag;
}

result<std::vector<record>, std::string> consume_all(std::string_view bootstrap, std::string_view topic,
                                                     std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    const std::string name(topic);
    // Through the consumer itself: with the leaders already known, assign() starts
    // fetching at once instead of after the offset query's ~500 ms retry timer.
    auto known = consumer_knowing(consumer_config(bootstrap), name);
    if (!known) return fail(std::move(known.error()));
    rd_kafka_t* consumer = known->first.get();
    const int partitions = known->second;
    rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(assignment, name.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    const rd_kafka_resp_err_t assigned = rd_kafka_assign(consumer, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR) return fail("assign " + name + ": " + rd_kafka_err2str(assigned));

    std::vector<record> records;
    std::set<std::int32_t> at_end;
    std::string error;
    while (std::ssize(at_end) < partitions && error.empty()) {
        if (steady::now() > deadline) {
            error = "consume " + name + ": only " + std::to_string(at_end.size()) + " of " +
                    std::to_string(partitions) + " partitions reached their end within " +
                    std::to_string(timeout.count()) + " ms (" + std::to_string(records.size()) + " records read)";
            break;
        }
        rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
        if (message == nullptr) continue;
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end.insert(message->partition);
        } else if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            error = "consume " + name + ": " + rd_kafka_message_errstr(message);
        } else {
            records.push_back(to_record(*message));
        }
        rd_kafka_message_destroy(message);
    }
    rd_kafka_consumer_close(consumer);
    if (!error.empty()) return fail(std::move(error));
    std::stable_sort(records.begin(), records.end(), [](const record& a, const record& b) {
        return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
    });
    return records;
}

// ---- Java's default partitioner ---------------------------------------------------------

std::uint32_t java_murmur2(std::string_view bytes) noexcept {
    // Kafka's Utils.murmur2: seed 0x9747b28c, little-endian 4-byte blocks.
    constexpr std::uint32_t m = 0x5bd1e995;
    constexpr int r = 24;
    const auto length = static_cast<std::uint32_t>(bytes.size());
    std::uint32_t h = 0x9747b28cU ^ length;
    const auto byte = [&bytes](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])); };
    const std::size_t blocks = bytes.size() / 4;
    for (std::size_t i = 0; i < blocks; ++i) {
        std::uint32_t k = byte(4 * i) | (byte(4 * i + 1) << 8) | (byte(4 * i + 2) << 16) | (byte(4 * i + 3) << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const std::size_t tail = blocks * 4;
    switch (bytes.size() % 4) {
        case 3:
            h ^= byte(tail + 2) << 16;
            [[fallthrough]];
        case 2:
            h ^= byte(tail + 1) << 8;
            [[fallthrough]];
        case 1:
            h ^= byte(tail);
            h *= m;
            break;
        default:
            break;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

std::int32_t java_partition(std::string_view key, int partitions) noexcept {
    return static_cast<std::int32_t>((java_murmur2(key) & 0x7fffffffU) % static_cast<std::uint32_t>(partitions));
}

}  // namespace shopstream::testing
