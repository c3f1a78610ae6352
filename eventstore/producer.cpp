#include "eventstore/producer.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

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
        auto client = make_lane_client(settings);
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
    return std::unique_ptr<producer>(
        new producer(std::move(options), std::move(settings), std::move(clients), std::move(partitions)));
}

result<kafka::handle, error> producer::make_lane_client(const std::map<std::string, std::string>& settings) {
    auto conf = kafka::make_conf(settings);
    if (!conf) return fail(std::move(conf.error()));
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &producer::on_delivery);
    return kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
}

producer::producer(producer_options options, std::map<std::string, std::string> settings,
                   std::vector<kafka::handle> clients, std::map<context, std::int32_t> partitions)
    : options_(std::move(options)), settings_(std::move(settings)), partitions_(std::move(partitions)) {
    for (auto& c : clients) {
        auto l = std::make_unique<lane>();
        l->current = std::move(c);
        lanes_.push_back(std::move(l));
    }
    for (std::size_t i = 0; i < lanes_.size(); ++i) pollers_.emplace_back([this, i] { poll_loop(*lanes_[i], i); });
}

producer::~producer() {
    // The pollers stop first (no client is replaced or retired after this), then every
    // client, fatal ones included, flushes within one shared deadline (rd_kafka_flush
    // serves the delivery reports itself), then what is left is failed.
    stopping_ = true;
    for (auto& l : lanes_) l->replaced.notify_all();
    for (auto& t : pollers_) t.join();
    std::vector<rd_kafka_t*> all;
    for (const auto& l : lanes_) {
        all.push_back(l->current.get());
        for (const auto& r : l->retired) all.push_back(r.get());
    }
    const auto deadline = std::chrono::steady_clock::now() + options_.delivery_timeout;
    bool flushed = true;
    for (rd_kafka_t* c : all) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        flushed = rd_kafka_flush(c, static_cast<int>(std::max<std::int64_t>(0, left.count()))) ==
                      RD_KAFKA_RESP_ERR_NO_ERROR &&
                  flushed;
    }
    if (!flushed) {
        spdlog::warn("producer stopping with {} record(s) unacknowledged; their writers are told "
                     "delivery failed", in_flight_.load());
        for (rd_kafka_t* c : all) rd_kafka_purge(c, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    while (in_flight_.load() > 0) {  // serve the purge reports
        for (rd_kafka_t* c : all) rd_kafka_poll(c, 10);
    }
}

void producer::poll_loop(lane& l, std::size_t index) {
    while (!stopping_.load(std::memory_order_relaxed)) {
        rd_kafka_t* current = l.current.get();  // only this thread replaces it
        rd_kafka_poll(current, l.retired.empty() ? 50 : 10);
        std::erase_if(l.retired, [](const kafka::handle& r) {
            rd_kafka_poll(r.get(), 0);
            return rd_kafka_outq_len(r.get()) == 0;  // every record reported: destroy it
        });
        if (rd_kafka_fatal_error(current, nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) replace_fatal_client(l, index);
    }
}

void producer::replace_fatal_client(lane& l, std::size_t index) {
    std::array<char, 512> reason{};
    const auto code = rd_kafka_fatal_error(l.current.get(), reason.data(), reason.size());
    auto fresh = make_lane_client(settings_);
    if (!fresh) {  // bootstrap and settings were valid at start: not expected; tried again next poll
        spdlog::error("producer client {} raised a fatal error and its replacement failed: {}", index,
                      fresh.error().message);
        return;
    }
    {
        std::unique_lock lock(l.mutex);
        l.retired.push_back(std::exchange(l.current, std::move(*fresh)));
        ++l.generation;
    }
    l.replaced.notify_all();
    replacements_.fetch_add(1);
    spdlog::error("producer client {} raised a fatal error ({}: {}) and was replaced by a new idempotent producer; "
                  "its {} record(s) not yet acknowledged are reported as the broker answers or they time out",
                  index, rd_kafka_err2name(code), reason.data(), rd_kafka_outq_len(l.retired.back().get()));
}

rd_kafka_t* producer::client(std::int32_t partition) const {
    const lane& l = *lanes_[static_cast<std::size_t>(std::max(0, partition)) % lanes_.size()];
    std::shared_lock lock(l.mutex);
    return l.current.get();
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
    lane& l = *lanes_[static_cast<std::size_t>(partition.value()) % lanes_.size()];
    const std::string topic(topic_of(ctx));
    auto* p = new pending{std::move(done), &in_flight_};
    in_flight_.fetch_add(1);
    const auto now = std::chrono::steady_clock::now();
    const auto deadline = now + (in_delivery_report ? std::chrono::milliseconds(0) : options_.enqueue_timeout);
    // A client's fatal error is seen by its poller within one poll (50 ms) and replaced in
    // a few more: this bounds how long a record waits for that, never on the delivery thread.
    const auto replaced_by = now + (in_delivery_report ? std::chrono::milliseconds(0) : std::chrono::milliseconds(2'000));
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
        std::uint64_t generation = 0;
        rd_kafka_error_t* refused = nullptr;
        {
            std::shared_lock lock(l.mutex);
            generation = l.generation;
            refused = rd_kafka_produceva(l.current.get(), vus.data(), vus.size());
        }
        const auto err = refused == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(refused);
        const bool fatal = refused != nullptr && rd_kafka_error_is_fatal(refused) != 0;
        if (refused != nullptr) rd_kafka_error_destroy(refused);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            (void)headers.release();  // owned by the message now
            return;
        }
        const auto at = std::chrono::steady_clock::now();
        if (fatal && at < replaced_by) {  // not enqueued: wait for the lane's new client
            std::shared_lock lock(l.mutex);
            l.replaced.wait_until(lock, replaced_by, [&] { return l.generation != generation || stopping_.load(); });
            if (l.generation != generation) continue;
        }
        if (fatal || err != RD_KAFKA_RESP_ERR__QUEUE_FULL || at >= deadline) {
            in_flight_.fetch_sub(1);
            std::unique_ptr<pending> owned(p);
            const auto code = fatal                                  ? append_errc::not_persisted
                              : err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? append_errc::backpressure
                                                                     : append_errc::invalid;
            owned->done(fail(append_error{code, std::string(fatal ? "cannot enqueue commit: the producer raised a fatal "
                                                                    "error and is being replaced: "
                                                                  : "cannot enqueue commit: ") +
                                                    rd_kafka_err2str(err)}));
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
    // The pollers serve the delivery reports (linger is a millisecond or so, so nothing
    // waits to be sent); a lane's client may be replaced meanwhile, so this waits on the
    // count of records not yet reported rather than on one client.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (in_flight_.load() > 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return fail(error{errc::timed_out, "flush: timed out with " + std::to_string(in_flight_.load()) +
                                                   " record(s) pending"});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {};
}

}  // namespace shopstream::eventstore
