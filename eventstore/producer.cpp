#include "eventstore/producer.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace shopstream::eventstore {
namespace {

// Set while a delivery report runs: an append() from inside one must not wait for queue
// room, because the thread it would wait on is this one (rd_kafka_flush() serves delivery
// reports on its caller's thread too, so the poller's id alone would not tell).
thread_local bool in_delivery_report = false;

struct pending {
    append_callback done;
    std::atomic<std::int64_t>* in_flight;
};

struct headers_deleter {
    void operator()(rd_kafka_headers_t* h) const noexcept { rd_kafka_headers_destroy(h); }
};
using headers_ptr = std::unique_ptr<rd_kafka_headers_t, headers_deleter>;

headers_ptr make_headers(const commit_metadata& m) {
    headers_ptr h(rd_kafka_headers_new(8));
    auto add = [&](std::string_view name, std::string_view value) {
        if (!value.empty()) {
            rd_kafka_header_add(h.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                                static_cast<ssize_t>(value.size()));
        }
    };
    const std::string schema = std::to_string(commit_schema_version);
    add(header::type, m.command_type);
    add(header::schema_version, schema);
    add(header::event_types, m.event_types);
    add(header::command_id, m.command_id);
    add(header::correlation_id, m.correlation_id);
    add(header::causation_id, m.causation_id);
    add(header::actor, m.actor);
    add(header::traceparent, m.traceparent);
    return h;
}

}  // namespace

partition_id murmur2_partition(std::string_view key, std::int32_t partition_count) noexcept {
    // librdkafka's own murmur2 partitioner (Kafka's Utils.murmur2, then toPositive(h) % n),
    // the function behind partitioner=murmur2_random for keyed records, so this answer and
    // the producer's placement cannot drift apart. It reads neither the topic handle nor the
    // opaques (src/rdkafka_msg.c: `(rd_murmur2(key, keylen) & 0x7fffffff) % partition_cnt`),
    // hence the nulls; an empty key's data() may be null too, and rd_murmur2 reads no byte
    // of a zero-length key.
    return partition_id(
        rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partition_count, nullptr, nullptr));
}

result<std::unique_ptr<producer>, error> producer::start(producer_options options) {
    std::map<std::string, std::string> settings = {
        {"bootstrap.servers", options.bootstrap_servers},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", std::to_string(options.linger.count())},
        {"message.timeout.ms", std::to_string(options.delivery_timeout.count())},
        // The queue bound is the producer's: its clients share it.
        {"queue.buffering.max.messages",
         std::to_string(std::max(1, (options.queue_messages + std::max(1, options.connections) - 1) /
                                        std::max(1, options.connections)))},
        {"socket.nagle.disable", "true"},
        {"partitioner", "murmur2_random"},
        {"log_level", "3"},
    };
    for (const auto& [k, v] : options.extra) settings[k] = v;
    if (options.connections < 1) return fail(error{errc::invalid_argument, "producer connections must be at least 1"});
    std::vector<kafka::handle> clients;
    for (int i = 0; i < options.connections; ++i) {
        auto conf = kafka::make_conf(settings);
        if (!conf) return fail(std::move(conf.error()));
        rd_kafka_conf_set_dr_msg_cb(conf->get(), &producer::on_delivery);
        auto client = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
        if (!client) return fail(std::move(client.error()));
        clients.push_back(std::move(*client));
    }

    auto counts = kafka::partition_counts(clients.front().get(), options.metadata_timeout);
    if (!counts) return fail(error{errc::unreachable, "cannot read the topics' metadata: " + counts.error().message});
    std::map<context, std::int32_t> partitions;
    for (context c : options.contexts) {
        const auto found = counts->find(std::string(topic_of(c)));
        if (found == counts->end() || found->second <= 0) {
            return fail(error{errc::missing_topic, "topic " + std::string(topic_of(c)) + " does not exist: create the topics first"});
        }
        partitions[c] = found->second;
    }
    return std::unique_ptr<producer>(new producer(std::move(options), std::move(clients), std::move(partitions)));
}

producer::producer(producer_options options, std::vector<kafka::handle> clients,
                   std::map<context, std::int32_t> partitions)
    : options_(std::move(options)), clients_(std::move(clients)), partitions_(std::move(partitions)) {
    for (const auto& c : clients_) pollers_.emplace_back([this, client = c.get()] { poll_loop(client); });
}

producer::~producer() {
    // Every client flushes within one shared deadline, then what is left is failed.
    const auto deadline = std::chrono::steady_clock::now() + options_.delivery_timeout;
    bool flushed = true;
    for (const auto& c : clients_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        flushed = rd_kafka_flush(c.get(), static_cast<int>(std::max<std::int64_t>(0, left.count()))) ==
                      RD_KAFKA_RESP_ERR_NO_ERROR &&
                  flushed;
    }
    if (!flushed) {
        spdlog::warn("producer stopping with {} record(s) unacknowledged; their writers are told "
                     "delivery failed", in_flight_.load());
        for (const auto& c : clients_) rd_kafka_purge(c.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    stopping_ = true;
    for (auto& t : pollers_) t.join();
    while (in_flight_.load() > 0) {  // serve the purge reports
        for (const auto& c : clients_) rd_kafka_poll(c.get(), 10);
    }
}

void producer::poll_loop(rd_kafka_t* client) {
    while (!stopping_.load(std::memory_order_relaxed)) rd_kafka_poll(client, 50);
}

void producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
    auto* p = static_cast<pending*>(message->_private);
    std::unique_ptr<pending> owned(p);
    p->in_flight->fetch_sub(1);
    in_delivery_report = true;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // NOT_PERSISTED: never sent, or refused by the broker. Anything else (sent and not
        // acknowledged) may be in the log: the writer must not be told it is not.
        const bool absent = rd_kafka_message_status(message) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
        p->done(fail(append_error{absent ? append_errc::not_persisted : append_errc::possibly_persisted,
                                  rd_kafka_err2str(message->err)}));
    } else {
        p->done(position{partition_id(message->partition), log_offset(message->offset)});
    }
    in_delivery_report = false;
}

void producer::append(context ctx, aggregate_ref aggregate, std::span<const std::uint8_t> value,
                      const commit_metadata& metadata, append_callback done) {
    const std::string_view key = aggregate.value();
    const auto found = partitions_.find(ctx);
    if (found == partitions_.end()) {
        done(fail(append_error{append_errc::invalid, "this producer does not serve context " +
                                                         std::string(name_of(ctx))}));
        return;
    }
    const partition_id partition = murmur2_partition(key, found->second);
    rd_kafka_t* client = clients_[static_cast<std::size_t>(partition.value()) % clients_.size()].get();
    const std::string topic(topic_of(ctx));
    auto* p = new pending{std::move(done), &in_flight_};
    in_flight_.fetch_add(1);
    const auto deadline =
        std::chrono::steady_clock::now() + (in_delivery_report ? std::chrono::milliseconds(0) : options_.enqueue_timeout);
    for (;;) {
        headers_ptr headers = make_headers(metadata);
        std::array<rd_kafka_vu_t, 7> vus{};
        vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[0].u.cstr = topic.c_str();
        vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
        vus[1].u.i32 = partition.value();
        vus[2].vtype = RD_KAFKA_VTYPE_KEY;
        vus[2].u.mem = {const_cast<char*>(key.data()), key.size()};
        vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
        vus[3].u.mem = {const_cast<std::uint8_t*>(value.data()), value.size()};
        vus[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[4].u.i = RD_KAFKA_MSG_F_COPY;
        vus[5].vtype = RD_KAFKA_VTYPE_HEADERS;
        vus[5].u.headers = headers.get();
        vus[6].vtype = RD_KAFKA_VTYPE_OPAQUE;
        vus[6].u.ptr = p;
        rd_kafka_error_t* refused = rd_kafka_produceva(client, vus.data(), vus.size());
        const auto err = refused == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(refused);
        if (refused != nullptr) rd_kafka_error_destroy(refused);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            (void)headers.release();  // owned by the message now
            return;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
            in_flight_.fetch_sub(1);
            std::unique_ptr<pending> owned(p);
            const auto code = err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? append_errc::backpressure : append_errc::invalid;
            owned->done(fail(append_error{code, std::string("cannot enqueue commit: ") + rd_kafka_err2str(err)}));
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

partition_id producer::partition_for(context ctx, std::string_view key) const {
    return murmur2_partition(key, partition_count(ctx));
}

std::int32_t producer::partition_count(context ctx) const {
    const auto found = partitions_.find(ctx);
    return found == partitions_.end() ? 0 : found->second;
}

result<void, error> producer::flush(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (const auto& c : clients_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        const auto e = rd_kafka_flush(c.get(), static_cast<int>(std::max<std::int64_t>(0, left.count())));
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) err = e;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(error{errc::timed_out, std::string("flush: ") + rd_kafka_err2str(err) + " with " +
                    std::to_string(in_flight_.load()) + " record(s) pending"});
    }
    return {};
}

}  // namespace shopstream::eventstore
