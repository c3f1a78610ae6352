#include "projections/runtime.hpp"

#include <spdlog/spdlog.h>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/log_reader.hpp"
#include "eventstore/topics.hpp"
#include "eventstore/waiters.hpp"

namespace shopstream::projections {
namespace {

namespace es = eventstore;
using es::errc;

struct partition_key {
    context ctx;
    partition_id partition;
    friend auto operator<=>(const partition_key&, const partition_key&) = default;
};

std::string where(context ctx, position at) {
    return std::string(es::topic_of(ctx)) + "[" + std::to_string(at.partition.value()) + "]@" +
           std::to_string(at.offset.value());
}

// This build's decoding of one event of `ctx`.
result<any_event, es::codec_error> decode_event(context ctx, const es::encoded_event_view& e) {
    switch (ctx) {
        case context::orders: return es::order_aggregate::decode_event(e.type, e.schema_version, e.payload);
        case context::payments: return es::payment_aggregate::decode_event(e.type, e.schema_version, e.payload);
        case context::reviews: return es::review_aggregate::decode_event(e.type, e.schema_version, e.payload);
    }
    return fail(es::codec_error{es::codec_errc::unknown_type, "unknown context"});
}

class bucketed {
public:
    explicit bucketed(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
    void observe(double v) {
        const auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
        ++counts_[i];
        sum_ += v;
        ++count_;
    }
    [[nodiscard]] histogram snapshot() const { return {bounds_, counts_, sum_, count_}; }

private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> counts_;
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

// Delivery reports of the DLQ producer, counted on the thread that flushes.
struct dlq_reports {
    std::atomic<std::int64_t> delivered{0};
    std::atomic<std::int64_t> failed{0};
    std::mutex mu;
    std::string last_error;  // under mu
};

void on_dlq_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* reports = static_cast<dlq_reports*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        reports->delivered.fetch_add(1);
        return;
    }
    reports->failed.fetch_add(1);
    std::lock_guard lock(reports->mu);
    reports->last_error = rd_kafka_err2str(m->err);
}

}  // namespace

struct runtime::impl {
    runtime_options options;
    read_model& model;
    std::string identity;
    std::string holder;   // "the reviews read model in <location>"
    std::string rebuild;  // "delete <location> to rebuild it"
    es::kafka::handle consumer;
    es::kafka::handle dlq;
    std::map<std::string, std::string> dlq_settings;  // to build a new DLQ client after a fatal error
    dlq_reports reports;
    std::map<context, std::int32_t> partitions;  // of every context the model reads
    std::optional<std::string> identity_to_record;
    std::vector<rd_kafka_message_t*> pending;    // the batch being gathered (runtime thread)

    // Shared with callers of the public functions.
    mutable std::mutex mu;
    std::map<partition_key, log_offset> applied;  // partitions read now: next offset to apply
    std::set<partition_key> not_caught_up;
    std::optional<std::string> failure;
    std::optional<model_outage> outage;  // written by the runtime thread only
    // The outage that ended last, until a batch is written after it (or everything is read
    // with nothing to write): a model that reads but refuses writes fails again right after
    // each resume, and that failure continues the outage (its backoff and start) instead of
    // starting a new one. Runtime thread only.
    std::optional<model_outage> resumed_from;
    bool assigned = false;                // consumer_group: a rebalance handed partitions over
    struct waiter {
        partition_key where;
        log_offset offset{0};
        clock::time_point deadline;
        es::position_callback done;
    };
    es::waiter_registry<waiter> waiters;
    runtime_stats totals;
    bucketed batch_records{{1, 10, 100, 1'000, 10'000, 100'000}};
    bucketed batch_seconds{{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}};

    std::atomic<bool> stopping{false};
    std::thread thread;

    impl(runtime_options o, read_model& m) : options(std::move(o)), model(m) {}

    void run();
    void gather();
    void write_pending();
    void fail_runtime(std::string message);
    // A failure of the model itself (store_failed) is an outage to wait out, anything
    // else stops the runtime.
    void model_failed(const es::error& e, std::string message);
    void schedule_retry(std::string message);  // the next try after the backoff
    // In an outage, at its next try: re-reads the checkpoints of every assigned partition,
    // seeks them there and resumes fetching; or schedules the next try.
    void try_resuming();
    void pause_assignment();
    void fire_reached();
    void expire(clock::time_point now);
    void fire_stopped();
    [[nodiscard]] bool failed() const {
        std::lock_guard lock(mu);
        return failure.has_value();
    }

    // The checkpoints of the model for these partitions, checked against the log; the
    // offsets to start at, or why the model may not be fed from this log.
    result<std::map<partition_key, log_offset>, es::error> resume_points(const std::set<partition_key>& wanted,
                                                                          std::chrono::milliseconds timeout);
    // consumer_group: the rebalance callback's work.
    void on_assign(rd_kafka_topic_partition_list_t* parts);
    void on_revoke(rd_kafka_topic_partition_list_t* parts);

    result<void, es::error> copy_to_dlq(context ctx, const rd_kafka_message_t& m, const std::string& reason);
    result<void, es::error> flush_dlq();
    result<es::kafka::handle, es::error> make_dlq();
    // If the DLQ client raised a fatal error: fails what it still holds, replaces it and
    // says why; nothing otherwise.
    std::optional<std::string> replace_fatal_dlq();
    // The dead-letter topic did not take a copy (brokers away, a fatal producer error):
    // waited out like a failing model - nothing of the batch is written, the partitions
    // pause and resume at the model's checkpoints after the backoff, the copies are made
    // again (a copy may then be in the DLQ twice, never missing).
    void dlq_unavailable(std::string message);
};


result<std::map<partition_key, log_offset>, es::error> runtime::impl::resume_points(
    const std::set<partition_key>& wanted, std::chrono::milliseconds timeout) {
    auto cps = model.load_checkpoints();
    if (!cps) return fail(std::move(cps.error()));
    std::map<partition_key, log_offset> stored;
    for (const auto& cp : *cps) {
        const auto count = partitions.find(cp.ctx);
        if (count == partitions.end()) continue;  // a context this runtime does not feed
        if (cp.partition.value() < 0 || cp.partition.value() >= count->second) {
            return fail(es::error{errc::foreign_log, holder + " has a checkpoint for " + std::string(es::topic_of(cp.ctx)) +
                                                         " partition " + std::to_string(cp.partition.value()) +
                                                         " but the topic has " + std::to_string(count->second) +
                                                         " partitions: the log is not the one it was built from; " +
                                                         rebuild});
        }
        stored[{cp.ctx, cp.partition}] = cp.next_offset;
    }
    std::map<partition_key, log_offset> out;
    for (const auto& pk : wanted) {
        const auto found = stored.find(pk);
        const log_offset next = found == stored.end() ? log_offset(0) : found->second;
        auto bounds = es::kafka::query_bounds(consumer.get(), pk.ctx, pk.partition, timeout);
        if (!bounds) return fail(std::move(bounds.error()));
        // A new model starts at offset 0, like a new state store: a log that lost its first
        // records to retention is refused, not projected from wherever it now starts.
        if (auto ok = es::kafka::check_resume_point(pk.ctx, pk.partition, next, *bounds, holder, rebuild); !ok) {
            return fail(std::move(ok.error()));
        }
        out[pk] = next;
    }
    return out;
}

result<std::unique_ptr<runtime>, es::error> runtime::start(runtime_options options, read_model& model) {
    const auto timeout = options.start_timeout;
    auto p = std::make_unique<impl>(std::move(options), model);
    p->holder = "the " + std::string(model.name()) + " read model in " + model.location();
    p->rebuild = "delete " + model.location() + " to rebuild it";
    if (p->options.group_id.empty()) p->options.group_id = "shopstream-projection-" + std::string(model.name());

    auto identity = es::ensure_log_identity(p->options.bootstrap_servers, timeout, p->options.extra);
    if (!identity) return fail(std::move(identity.error()));
    p->identity = *identity;
    auto known = model.load_log_identity();
    if (!known) return fail(std::move(known.error()));
    auto cps = model.load_checkpoints();
    if (!cps) return fail(std::move(cps.error()));
    auto to_record = es::kafka::check_log_identity(*known, !cps->empty(), *identity, p->holder, p->rebuild);
    if (!to_record) return fail(std::move(to_record.error()));
    p->identity_to_record = std::move(*to_record);

    const bool group = p->options.mode == assignment_mode::consumer_group;
    auto settings = es::kafka::reader_settings(p->options.bootstrap_servers, p->options.group_id,
                                               p->options.fetch_wait, p->options.extra);
    auto conf = es::kafka::make_conf(settings);
    if (!conf) return fail(std::move(conf.error()));
    impl* raw = p.get();
    if (group) {
        rd_kafka_conf_set_opaque(conf->get(), raw);
        rd_kafka_conf_set_rebalance_cb(conf->get(), [](rd_kafka_t*, rd_kafka_resp_err_t err,
                                                       rd_kafka_topic_partition_list_t* parts, void* opaque) {
            auto* self = static_cast<impl*>(opaque);
            if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                self->on_assign(parts);
            } else {
                self->on_revoke(parts);
            }
        });
    }
    auto consumer = es::kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!consumer) return fail(std::move(consumer.error()));
    p->consumer = std::move(*consumer);

    std::map<std::string, std::string> dlq_settings = {
        {"bootstrap.servers", p->options.bootstrap_servers},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"partitioner", "murmur2_random"},
        {"linger.ms", "1"},
        {"socket.nagle.disable", "true"},
        {"log_level", "3"},
    };
    for (const auto& [k, v] : p->options.extra) dlq_settings[k] = v;
    p->dlq_settings = std::move(dlq_settings);
    auto dlq = p->make_dlq();
    if (!dlq) return fail(std::move(dlq.error()));
    p->dlq = std::move(*dlq);

    auto counts = es::kafka::partition_counts(p->consumer.get(), timeout);
    if (!counts) return fail(es::error{errc::unreachable, "cannot read the topics' metadata: " + counts.error().message});
    std::set<partition_key> every;
    for (context c : model.contexts()) {
        const std::string topic(es::topic_of(c));
        const auto listed = counts->find(topic);
        const std::int32_t count = listed == counts->end() ? 0 : listed->second;
        if (count <= 0) {
            return fail(es::error{errc::missing_topic, "topic " + topic + " does not exist on " + p->options.bootstrap_servers});
        }
        p->partitions[c] = count;
        for (std::int32_t part = 0; part < count; ++part) every.insert({c, partition_id(part)});
    }
    // The model's checkpoints are checked against the log in either mode, so a model from
    // another log is refused at start, not at its first assignment.
    auto starts = p->resume_points(every, timeout);
    if (!starts) return fail(std::move(starts.error()));

    if (group) {
        rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(4);
        for (context c : model.contexts()) {
            rd_kafka_topic_partition_list_add(topics, std::string(es::topic_of(c)).c_str(), RD_KAFKA_PARTITION_UA);
        }
        const auto err = rd_kafka_subscribe(p->consumer.get(), topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return fail(es::error{errc::client_failed, std::string("subscribe: ") + rd_kafka_err2str(err)});
        }
    } else {
        rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(64);
        for (const auto& [pk, next] : *starts) {
            rd_kafka_topic_partition_list_add(assignment, std::string(es::topic_of(pk.ctx)).c_str(), pk.partition.value())
                ->offset = next.value();
            p->applied[pk] = next;
            p->not_caught_up.insert(pk);
        }
        p->assigned = true;
        const auto err = rd_kafka_assign(p->consumer.get(), assignment);
        rd_kafka_topic_partition_list_destroy(assignment);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return fail(es::error{errc::client_failed, std::string("assign: ") + rd_kafka_err2str(err)});
        }
    }

    std::unique_ptr<runtime> r(new runtime());
    r->impl_ = std::move(p);
    r->impl_->thread = std::thread([raw] { raw->run(); });
    return r;
}

runtime::~runtime() {
    if (!impl_) return;
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping = true;
    }
    if (impl_->thread.joinable()) impl_->thread.join();
    // Nothing more is written: a revocation during the close leaves the batch in hand
    // unwritten (its records are read again by whoever takes the partitions).
    for (auto* m : impl_->pending) rd_kafka_message_destroy(m);
    impl_->pending.clear();
    rd_kafka_consumer_close(impl_->consumer.get());
    impl_->fire_stopped();
}

void runtime::impl::on_assign(rd_kafka_topic_partition_list_t* parts) {
    std::set<partition_key> wanted;
    for (int i = 0; i < parts->cnt; ++i) {
        const auto ctx = es::context_of_topic(parts->elems[i].topic);
        if (ctx) wanted.insert({*ctx, partition_id(parts->elems[i].partition)});
    }
    if (stopping.load() || failed()) {
        rd_kafka_assign(consumer.get(), nullptr);
        return;
    }
    auto starts = resume_points(wanted, options.start_timeout);
    if (!starts && starts.error().code == errc::store_failed) {
        // Taken, but paused until the model answers again (try_resuming seeks them).
        if (const auto err = rd_kafka_assign(consumer.get(), parts); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fail_runtime(std::string("assign: ") + rd_kafka_err2str(err));
            return;
        }
        model_failed(starts.error(), "cannot read the checkpoints of " + holder + " for " +
                                         std::to_string(wanted.size()) + " assigned partitions: " +
                                         starts.error().message);
        pause_assignment();
        const std::lock_guard lock(mu);
        assigned = true;
        return;
    }
    if (!starts) {
        fail_runtime(std::move(starts.error().message));
        rd_kafka_assign(consumer.get(), nullptr);
        return;
    }
    for (int i = 0; i < parts->cnt; ++i) {
        const auto ctx = es::context_of_topic(parts->elems[i].topic);
        if (!ctx) continue;
        parts->elems[i].offset = starts->at({*ctx, partition_id(parts->elems[i].partition)}).value();
    }
    {
        std::lock_guard lock(mu);
        for (const auto& [pk, next] : *starts) {
            applied[pk] = next;
            not_caught_up.insert(pk);
        }
        assigned = true;
    }
    spdlog::info("projection {}: assigned {} partitions at the model's checkpoints", model.name(), starts->size());
    if (const auto err = rd_kafka_assign(consumer.get(), parts); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_runtime(std::string("assign: ") + rd_kafka_err2str(err));
    }
}

void runtime::impl::on_revoke(rd_kafka_topic_partition_list_t* parts) {
    // The records in hand are this owner's to write; the next owner starts after them.
    if (!stopping.load() && !failed() && !outage) write_pending();
    for (auto* m : pending) rd_kafka_message_destroy(m);
    pending.clear();
    {
        std::lock_guard lock(mu);
        for (int i = 0; i < parts->cnt; ++i) {
            const auto ctx = es::context_of_topic(parts->elems[i].topic);
            if (!ctx) continue;
            applied.erase({*ctx, partition_id(parts->elems[i].partition)});
            not_caught_up.erase({*ctx, partition_id(parts->elems[i].partition)});
        }
        assigned = false;
    }
    rd_kafka_assign(consumer.get(), nullptr);
}

void runtime::impl::run() {
    pending.reserve(options.max_batch);
    while (!stopping.load(std::memory_order_relaxed)) {
        expire(clock::now());
        if (outage && !failed()) {
            // Paused: the poll serves rebalances (and drops what was fetched before the
            // pause; the seek at the checkpoints fetches it again).
            if (clock::now() >= outage->next_try) {
                try_resuming();
            } else {
                rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 20);
                if (m != nullptr) rd_kafka_message_destroy(m);
            }
            continue;
        }
        if (failed()) {
            // Keep the connection, write nothing more; waits expire normally. In group
            // mode the poll still serves rebalances (assignments are then refused).
            rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 20);
            if (m != nullptr) rd_kafka_message_destroy(m);
            continue;
        }
        gather();
        if (!pending.empty() && !outage) write_pending();
        for (auto* m : pending) rd_kafka_message_destroy(m);
        pending.clear();
    }
}

void runtime::impl::model_failed(const es::error& e, std::string message) {
    if (e.code != errc::store_failed) return fail_runtime(std::move(message));
    schedule_retry(std::move(message));
}

void runtime::impl::schedule_retry(std::string message) {
    const auto now = clock::now();
    std::int64_t attempts = 0;
    auto since = now;
    if (outage) {
        attempts = outage->attempts;
        since = outage->since;
    } else if (resumed_from) {
        attempts = resumed_from->attempts;
        since = resumed_from->since;
        spdlog::debug("projection {}: {} failed again before a batch was written: {}", model.name(), holder, message);
    } else {
        spdlog::warn("projection {}: {}; retrying with backoff, every partition resumes at the model's checkpoints",
                     model.name(), message);
    }
    const auto ceiling = options.retry_max.count();
    std::int64_t delay = std::max<std::int64_t>(1, options.retry_initial.count());
    for (std::int64_t i = 0; i < attempts && delay < ceiling; ++i) delay *= 2;
    delay = std::min(delay, std::max<std::int64_t>(1, ceiling));
    thread_local std::mt19937_64 rng{std::random_device{}()};
    delay -= std::uniform_int_distribution<std::int64_t>(0, delay / 2)(rng);
    model_outage next{std::move(message), attempts, since, now + std::chrono::milliseconds(delay)};
    std::lock_guard lock(mu);
    outage = std::move(next);
}

void runtime::impl::pause_assignment() {
    rd_kafka_topic_partition_list_t* held = nullptr;
    if (rd_kafka_assignment(consumer.get(), &held) != RD_KAFKA_RESP_ERR_NO_ERROR || held == nullptr) return;
    if (held->cnt > 0) (void)rd_kafka_pause_partitions(consumer.get(), held);
    rd_kafka_topic_partition_list_destroy(held);
}

void runtime::impl::try_resuming() {
    rd_kafka_topic_partition_list_t* held = nullptr;
    if (const auto err = rd_kafka_assignment(consumer.get(), &held); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail_runtime(std::string("assignment: ") + rd_kafka_err2str(err));
    }
    std::set<partition_key> wanted;
    for (int i = 0; i < held->cnt; ++i) {
        if (const auto ctx = es::context_of_topic(held->elems[i].topic)) {
            wanted.insert({*ctx, partition_id(held->elems[i].partition)});
        }
    }
    {
        std::lock_guard lock(mu);
        ++outage->attempts;
        ++totals.model_retries;
    }
    auto starts = resume_points(wanted, options.start_timeout);
    if (!starts) {
        rd_kafka_topic_partition_list_destroy(held);
        return model_failed(starts.error(), std::move(starts.error().message));
    }
    for (int i = 0; i < held->cnt; ++i) {
        const auto ctx = es::context_of_topic(held->elems[i].topic);
        held->elems[i].offset =
            ctx ? starts->at({*ctx, partition_id(held->elems[i].partition)}).value() : RD_KAFKA_OFFSET_END;
    }
    // The seek discards what was fetched before it; only then may fetching go on.
    rd_kafka_error_t* seek = held->cnt > 0 ? rd_kafka_seek_partitions(consumer.get(), held, 10'000) : nullptr;
    std::optional<std::string> refused;
    if (seek != nullptr) {
        refused = std::string("seek to the checkpoints: ") + rd_kafka_error_string(seek);
        rd_kafka_error_destroy(seek);
    }
    for (int i = 0; !refused && i < held->cnt; ++i) {
        if (held->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            refused = std::string("seek to the checkpoints: ") + rd_kafka_err2str(held->elems[i].err);
        }
    }
    if (refused) {
        rd_kafka_topic_partition_list_destroy(held);
        return schedule_retry(std::move(*refused));
    }
    if (held->cnt > 0) (void)rd_kafka_resume_partitions(consumer.get(), held);
    rd_kafka_topic_partition_list_destroy(held);
    model_outage ended;
    {
        std::lock_guard lock(mu);
        for (const auto& [pk, next] : *starts) {
            applied[pk] = next;
            not_caught_up.insert(pk);
        }
        ended = std::move(*outage);
        outage.reset();
    }
    // "Answers again" is said once a batch is written (write_pending): a model that reads
    // but refuses writes would otherwise say it after every try.
    spdlog::debug("projection {}: {} answered try {}; {} partitions resumed at its checkpoints", model.name(), holder,
                  ended.attempts, starts->size());
    resumed_from = std::move(ended);
    fire_reached();  // the batch that failed may have been committed after all
}

void runtime::impl::gather() {
    rd_kafka_message_t* first = rd_kafka_consumer_poll(consumer.get(), 20);
    if (first == nullptr) return;
    pending.push_back(first);
    const auto until = clock::now() + options.max_batch_delay;
    while (pending.size() < options.max_batch && !stopping.load(std::memory_order_relaxed)) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now()).count();
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), static_cast<int>(std::max<std::int64_t>(left, 0)));
        if (m == nullptr) {
            if (left <= 0) break;
            continue;
        }
        pending.push_back(m);
    }
}

void runtime::impl::fail_runtime(std::string message) {
    spdlog::critical("projection {} stopped: {}", model.name(), message);
    std::lock_guard lock(mu);
    if (!failure) failure = std::move(message);
}

result<void, es::error> runtime::impl::copy_to_dlq(context ctx, const rd_kafka_message_t& m, const std::string& reason) {
    // A fatal client refuses every record: without this the retry after the outage would
    // meet it again, for ever. The copies it held are counted failed, so the batch fails.
    (void)replace_fatal_dlq();
    rd_kafka_headers_t* original = nullptr;
    rd_kafka_headers_t* headers = rd_kafka_message_headers(&m, &original) == RD_KAFKA_RESP_ERR_NO_ERROR && original != nullptr
                                      ? rd_kafka_headers_copy(original)
                                      : rd_kafka_headers_new(1);
    rd_kafka_header_add(headers, "reason", -1, reason.data(), static_cast<ssize_t>(reason.size()));
    const std::string topic(es::dlq_topic_of(ctx));
    std::array<rd_kafka_vu_t, 5> vus{};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem = {m.key, m.key_len};
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem = {m.payload, m.len};
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    vus[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[4].u.headers = headers;
    rd_kafka_error_t* refused = rd_kafka_produceva(dlq.get(), vus.data(), vus.size());
    if (refused != nullptr) {
        const std::string why = rd_kafka_error_string(refused);
        rd_kafka_error_destroy(refused);
        rd_kafka_headers_destroy(headers);  // ownership passes only on success
        return fail(es::error{errc::client_failed, "cannot copy " + where(ctx, {partition_id(m.partition), log_offset(m.offset)}) +
                                                       " to " + topic + ": " + why});
    }
    return {};
}

result<void, es::error> runtime::impl::flush_dlq() {
    const auto err = rd_kafka_flush(dlq.get(), static_cast<int>(options.dlq_timeout.count()));
    const auto fatal = replace_fatal_dlq();
    // Failures since the last flush: a batch retried after an outage starts afresh.
    const auto failed = reports.failed.exchange(0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || failed > 0 || fatal) {
        std::string why;
        {
            std::lock_guard lock(reports.mu);
            why = fatal ? *fatal : err != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(err) : reports.last_error;
        }
        return fail(es::error{errc::unreachable, "cannot deliver copies to the dead-letter topic: " + why});
    }
    return {};
}

std::optional<std::string> runtime::impl::replace_fatal_dlq() {
    std::array<char, 512> reason{};
    if (rd_kafka_fatal_error(dlq.get(), reason.data(), reason.size()) == RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    // An idempotent producer that raised a fatal error refuses every later record: a new
    // one (new producer id) for the next copies. Every copy the old one still holds is
    // reported failed first (its queue is purged by librdkafka, what is in flight here),
    // so the batch holding it is not written.
    (void)rd_kafka_flush(dlq.get(), static_cast<int>(options.dlq_timeout.count()));
    rd_kafka_purge(dlq.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    (void)rd_kafka_flush(dlq.get(), 1'000);  // serves the purge reports
    auto fresh = make_dlq();
    if (!fresh) return std::string(reason.data()) + "; its replacement failed: " + fresh.error().message;
    spdlog::error("projection {}: the dead-letter producer raised a fatal error ({}) and was replaced", model.name(),
                  reason.data());
    dlq = std::move(*fresh);
    return std::string(reason.data());
}

result<es::kafka::handle, es::error> runtime::impl::make_dlq() {
    auto conf = es::kafka::make_conf(dlq_settings);
    if (!conf) return fail(std::move(conf.error()));
    rd_kafka_conf_set_opaque(conf->get(), &reports);
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &on_dlq_delivery);
    auto client = es::kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    if (client && options.on_dlq_client) options.on_dlq_client(client->get());
    return client;
}

void runtime::impl::dlq_unavailable(std::string message) {
    schedule_retry(std::move(message));
    pause_assignment();
}

void runtime::impl::write_pending() {
    const auto started = clock::now();
    batch b;
    b.log_identity = identity_to_record;
    std::map<partition_key, log_offset> advanced;
    std::vector<partition_key> reached_end;
    std::map<std::pair<context, position>, const rd_kafka_message_t*> by_position;
    std::int64_t records = 0, applied_count = 0, events = 0, losers = 0, duplicates = 0, not_commits = 0;

    // One valid commit in log order, judged once its aggregate's head is loaded.
    struct candidate {
        context ctx;
        position at;
        const rd_kafka_message_t* m;
        es::commit_view view;
    };
    std::vector<candidate> candidates;
    std::vector<std::vector<std::uint8_t>> aligned;  // copies a view may point into
    std::array<std::vector<std::string>, es::all_contexts.size()> ids;
    std::array<std::unordered_map<std::string, std::size_t>, es::all_contexts.size()> id_index;
    bool copied = false;

    const rd_kafka_topic_t* last_topic = nullptr;
    std::optional<context> last_ctx;
    for (const rd_kafka_message_t* m : pending) {
        if (m->rkt != last_topic || m->rkt == nullptr) {
            last_topic = m->rkt;
            last_ctx = es::context_of_topic(m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "");
        }
        const std::optional<context> ctx = last_ctx;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (ctx) reached_end.push_back({*ctx, partition_id(m->partition)});
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            const std::string what = rd_kafka_message_errstr(m);
            if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE || m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
                fail_runtime("records lost: " + std::string(ctx ? es::topic_of(*ctx) : "?") + " partition " +
                             std::to_string(m->partition) + " no longer holds the offset " + holder + " needs (" + what +
                             "); make retention unlimited and " + rebuild);
                return;
            }
            spdlog::warn("projection {}: {}", model.name(), what);
            continue;
        }
        if (!ctx) continue;
        const partition_key pk{*ctx, partition_id(m->partition)};
        auto adv = advanced.find(pk);
        log_offset expected_next{0};
        bool known = true;
        if (adv != advanced.end()) {
            expected_next = adv->second;
        } else {
            std::lock_guard lock(mu);
            const auto found = applied.find(pk);
            if (found != applied.end()) {
                expected_next = found->second;
            } else {
                known = false;  // revoked since it was fetched
            }
        }
        const log_offset offset(m->offset);
        if (!known || offset < expected_next) continue;  // a re-fetch after a leader change
        const position at{pk.partition, offset};
        ++records;
        advanced[pk] = offset + 1;
        std::vector<std::uint8_t> copy;
        auto view = es::view_commit({static_cast<const std::uint8_t*>(m->payload), m->len}, copy);
        const std::string_view key(static_cast<const char*>(m->key), m->key_len);
        if (!view || key != view->aggregate_id) {
            const std::string reason = view ? "not a valid commit: its key is not its aggregate id"
                                            : "not a valid commit: " + view.error().detail;
            spdlog::warn("projection {}: {} is not a valid commit and is ignored by every reader ({}); copied to {}",
                         model.name(), where(*ctx, at), reason, es::dlq_topic_of(*ctx));
            ++not_commits;
            if (auto r = copy_to_dlq(*ctx, *m, reason); !r) {
                dlq_unavailable(std::move(r.error().message));
                return;
            }
            copied = true;
            continue;
        }
        if (!copy.empty()) aligned.push_back(std::move(copy));  // the view points into it; moving keeps the buffer
        const auto c = static_cast<std::size_t>(*ctx);
        if (id_index[c].emplace(std::string(view->aggregate_id), ids[c].size()).second) {
            ids[c].emplace_back(view->aggregate_id);
        }
        by_position[{*ctx, at}] = m;
        candidates.push_back({*ctx, at, m, *view});
    }

    // Invalid records are copied before the batch that skips them is written: a crash in
    // between copies them again, never loses them.
    if (copied) {
        if (auto r = flush_dlq(); !r) {
            dlq_unavailable(std::move(r.error().message));
            return;
        }
    }

    std::array<std::vector<es::aggregate_head>, es::all_contexts.size()> heads;
    std::array<std::vector<bool>, es::all_contexts.size()> changed;
    for (const context ctx : es::all_contexts) {
        const auto c = static_cast<std::size_t>(ctx);
        if (ids[c].empty()) continue;
        auto loaded = model.load_heads(ctx, ids[c]);
        if (!loaded) {
            model_failed(loaded.error(), "cannot read the heads of " + holder + ": " + loaded.error().message);
            if (outage) pause_assignment();
            return;
        }
        heads[c].reserve(ids[c].size());
        for (auto& h : *loaded) heads[c].push_back(h ? std::move(*h) : es::aggregate_head{});
        changed[c].assign(ids[c].size(), false);
    }

    for (const auto& cand : candidates) {
        const auto c = static_cast<std::size_t>(cand.ctx);
        const std::size_t i = id_index[c].at(std::string(cand.view.aggregate_id));
        es::aggregate_head& head = heads[c][i];
        const auto j = es::judge(head, cand.view.command_id, cand.view.expected_version);
        if (j.verdict == es::verdict::loser) {
            ++losers;
            continue;
        }
        if (j.verdict == es::verdict::duplicate) {
            ++duplicates;
            continue;
        }
        applied_commit out;
        out.ctx = cand.ctx;
        out.at = cand.at;
        rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        const std::int64_t ts = rd_kafka_message_timestamp(cand.m, &type);
        out.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
        out.aggregate_id = std::string(cand.view.aggregate_id);
        out.command_id = std::string(cand.view.command_id);
        out.first_version = head.version + 1;
        out.events.reserve(cand.view.event_count());
        for (std::size_t e = 0; e < cand.view.event_count(); ++e) {
            auto decoded = decode_event(cand.ctx, cand.view.event(e));
            if (!decoded) {
                fail_runtime("the applied commit at " + where(cand.ctx, cand.at) +
                             " holds an event this build cannot read (" + decoded.error().detail +
                             "): upgrade shopstream; " + holder + " stays at its last good batch");
                return;
            }
            out.events.push_back(std::move(*decoded));
        }
        out.correlation_id = es::kafka::headers_of(*cand.m).correlation_id;
        (void)es::record_applied(head, out.command_id, out.events.size(), cand.at);
        changed[c][i] = true;
        ++applied_count;
        events += static_cast<std::int64_t>(out.events.size());
        b.commits.push_back(std::move(out));
    }
    for (const context ctx : es::all_contexts) {
        const auto c = static_cast<std::size_t>(ctx);
        for (std::size_t i = 0; i < ids[c].size(); ++i) {
            if (changed[c][i]) b.heads.push_back({ctx, ids[c][i], std::move(heads[c][i])});
        }
    }
    for (const auto& [pk, next] : advanced) b.checkpoints.push_back({pk.ctx, pk.partition, next});

    // The refused records are copied to the DLQ inside the model's transaction, before its
    // commit: a crash after the commit finds them there, one before it finds them again.
    bool handed_over = false;
    std::optional<std::string> dlq_failure;
    bool dlq_refused_a_stranger = false;  // a bug of the model's, not an outage
    b.before_commit = [&](std::span<const refusal> refused) -> result<void, es::error> {
        for (const auto& r : refused) {
            const auto found = by_position.find({r.ctx, r.at});
            if (found == by_position.end()) {
                dlq_failure = "the " + std::string(model.name()) + " model refused " + where(r.ctx, r.at) +
                              ", a record not in its batch";
                dlq_refused_a_stranger = true;
                return fail(es::error{es::errc::invalid_argument, *dlq_failure});
            }
            if (auto c = copy_to_dlq(r.ctx, *found->second, r.reason); !c) {
                dlq_failure = c.error().message;
                return fail(std::move(c.error()));
            }
        }
        if (auto f = flush_dlq(); !f) {
            dlq_failure = "the refused records' copies are not in the DLQ, so the batch is not written: " +
                          f.error().message;
            return fail(std::move(f.error()));
        }
        handed_over = true;
        return {};
    };
    std::vector<refusal> refusals;
    if (!b.checkpoints.empty()) {
        auto written = model.write_batch(b);
        if (!written && dlq_failure) {
            if (dlq_refused_a_stranger) {
                fail_runtime(*dlq_failure);
            } else {
                dlq_unavailable(*dlq_failure);
            }
            return;
        }
        if (!written) {
            model_failed(written.error(), "cannot write a batch to " + holder + ": " + written.error().message);
            if (outage) pause_assignment();
            return;
        }
        refusals = std::move(*written);
        identity_to_record.reset();
    }
    if (!refusals.empty() && !handed_over) {
        fail_runtime("the " + std::string(model.name()) + " model committed " + std::to_string(refusals.size()) +
                     " refusal(s) without handing them to the DLQ first (read_model::write_batch, batch::before_commit)");
        return;
    }
    for (const auto& r : refusals) {
        spdlog::warn("projection {}: the model refused {} ({}); copied to {}", model.name(), where(r.ctx, r.at),
                     r.reason, es::dlq_topic_of(r.ctx));
    }

    const double seconds = std::chrono::duration<double>(clock::now() - started).count();
    bool caught_up_now = false;
    {
        std::lock_guard lock(mu);
        for (const auto& [pk, next] : advanced) {
            if (applied.contains(pk)) applied[pk] = next;
        }
        for (const auto& pk : reached_end) not_caught_up.erase(pk);
        caught_up_now = not_caught_up.empty();
        totals.records += records;
        totals.applied += applied_count;
        totals.events_applied += events;
        totals.losers += losers;
        totals.duplicates += duplicates;
        totals.not_commits += not_commits;
        totals.refused += static_cast<std::int64_t>(refusals.size());
        totals.dead_lettered = reports.delivered.load();
        if (records > 0) {
            ++totals.batches;
            batch_records.observe(static_cast<double>(records));
            batch_seconds.observe(seconds);
        }
    }
    // The outage is over once the model took a batch, or once every partition is read to
    // its end with nothing left to write (a batch stored before its answer was lost leaves
    // nothing to write again): a failure after that is a new outage.
    if (resumed_from && (!b.checkpoints.empty() || caught_up_now)) {
        spdlog::info("projection {}: {} answers again after {} tries in {} ms; every partition resumed at its checkpoints",
                     model.name(), holder, resumed_from->attempts,
                     std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - resumed_from->since).count());
        resumed_from.reset();
    }
    fire_reached();
}

void runtime::impl::fire_reached() {
    std::vector<es::position_callback> fired;
    {
        std::lock_guard lock(mu);
        const auto done = waiters.tickets_where([&](const waiter& w) {
            const auto found = applied.find(w.where);
            return found != applied.end() && found->second > w.offset;
        });
        for (auto t : done) fired.push_back(waiters.take(t).done);
    }
    for (auto& cb : fired) cb({});
}

void runtime::impl::expire(clock::time_point now) {
    std::vector<std::pair<std::uint64_t, waiter>> expired;
    {
        std::lock_guard lock(mu);
        expired = waiters.take_expired(now);
    }
    for (auto& [t, w] : expired) {
        w.done(fail(es::wait_error{es::wait_errc::timed_out, "the " + std::string(model.name()) +
                                                                 " model had not applied the position before the deadline"}));
    }
}

void runtime::impl::fire_stopped() {
    std::vector<std::pair<std::uint64_t, waiter>> all;
    {
        std::lock_guard lock(mu);
        all = waiters.take_all();
    }
    for (auto& [t, w] : all) w.done(fail(es::wait_error{es::wait_errc::stopped, "the projection stopped"}));
}

void runtime::await_position(context ctx, position p, clock::time_point deadline, es::position_callback done) {
    const auto count = impl_->partitions.find(ctx);
    if (count == impl_->partitions.end() || p.partition.value() < 0 || p.partition.value() >= count->second) {
        done(fail(es::wait_error{es::wait_errc::timed_out, "the " + std::string(impl_->model.name()) + " model has no " +
                                                               std::string(es::topic_of(ctx)) + " partition " +
                                                               std::to_string(p.partition.value())}));
        return;
    }
    {
        std::unique_lock lock(impl_->mu);
        if (impl_->stopping.load()) {
            lock.unlock();
            done(fail(es::wait_error{es::wait_errc::stopped, "the projection stopped"}));
            return;
        }
        const partition_key pk{ctx, p.partition};
        const auto found = impl_->applied.find(pk);
        if (found == impl_->applied.end() || found->second <= p.offset) {
            if (clock::now() >= deadline) {
                lock.unlock();
                done(fail(es::wait_error{es::wait_errc::timed_out, "the position was not applied before the deadline"}));
                return;
            }
            impl_->waiters.add(impl::waiter{pk, p.offset, deadline, std::move(done)});
            return;
        }
    }
    done({});
}

result<void, es::wait_error> runtime::wait_for_position(context ctx, position p, clock::time_point deadline) {
    auto promise = std::make_shared<std::promise<result<void, es::wait_error>>>();
    auto answer = promise->get_future();
    await_position(ctx, p, deadline, [promise](result<void, es::wait_error> r) { promise->set_value(std::move(r)); });
    return answer.get();
}

log_offset runtime::applied_through(context ctx, partition_id partition) const {
    std::lock_guard lock(impl_->mu);
    const auto found = impl_->applied.find({ctx, partition});
    return found == impl_->applied.end() ? log_offset(0) : found->second;
}

std::vector<partition_progress> runtime::progress() const {
    std::vector<partition_progress> out;
    {
        std::lock_guard lock(impl_->mu);
        for (const auto& [pk, next] : impl_->applied) out.push_back({pk.ctx, pk.partition, next, log_offset(-1)});
    }
    for (auto& p : out) {
        std::int64_t low = -1;
        std::int64_t high = -1;
        if (rd_kafka_get_watermark_offsets(impl_->consumer.get(), std::string(es::topic_of(p.ctx)).c_str(),
                                           p.partition.value(), &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p.log_end = log_offset(high);
        }
    }
    return out;
}

bool runtime::caught_up() const {
    std::lock_guard lock(impl_->mu);
    return impl_->not_caught_up.empty();
}

std::optional<std::string> runtime::failure() const {
    std::lock_guard lock(impl_->mu);
    return impl_->failure;
}

bool runtime::assigned() const {
    std::lock_guard lock(impl_->mu);
    return impl_->assigned;
}

std::string describe(const model_outage& o, clock::time_point now) {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    return "waiting for its read model (try " + std::to_string(o.attempts + 1) + " in " +
           std::to_string(std::max<std::int64_t>(0, duration_cast<milliseconds>(o.next_try - now).count())) +
           " ms, away for " + std::to_string(duration_cast<milliseconds>(now - o.since).count()) + " ms): " + o.error;
}

std::optional<model_outage> runtime::outage() const {
    std::lock_guard lock(impl_->mu);
    return impl_->outage;
}

runtime_stats runtime::stats() const {
    std::lock_guard lock(impl_->mu);
    runtime_stats out = impl_->totals;
    out.dead_lettered = impl_->reports.delivered.load();
    out.batch_records = impl_->batch_records.snapshot();
    out.batch_seconds = impl_->batch_seconds.snapshot();
    return out;
}

const std::string& runtime::log_identity() const noexcept { return impl_->identity; }

}  // namespace shopstream::projections
