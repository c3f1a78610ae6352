#include "eventstore/tail.hpp"

#include <spdlog/spdlog.h>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <limits>
#include <set>

#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/log_reader.hpp"
#include "eventstore/topics.hpp"
#include "eventstore/waiters.hpp"

namespace shopstream::eventstore {
namespace {

// What a verdict wait is for. A struct rather than one string of the four, so matching a
// record builds no string (aggregate and command ids may hold any byte).
struct verdict_key {
    context ctx = context::orders;
    std::string aggregate_id;
    std::string command_id;
    std::uint64_t expected_version = 0;
    friend bool operator==(const verdict_key&, const verdict_key&) = default;
};

struct verdict_key_hash {
    std::size_t operator()(const verdict_key& k) const noexcept {
        const std::hash<std::string_view> h;
        std::size_t seed = h(k.aggregate_id);
        seed ^= h(k.command_id) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
        seed ^= std::hash<std::uint64_t>{}(k.expected_version) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
        return seed ^ static_cast<std::size_t>(k.ctx);
    }
};

// Ids of the aggregates a batch touched, looked up by string_view without building a key.
struct id_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
};

struct partition_key {
    context ctx;
    partition_id partition;
    friend auto operator<=>(const partition_key&, const partition_key&) = default;
};

struct notification {
    verdict_key key;
    verdict_report report;
};

}  // namespace

// ---- batch_applier ---------------------------------------------------------------------

struct batch_applier::impl {
    write_batch& batch;

    // An aggregate the batch touched. `stored` is its head and partition as of the batch's
    // commits so far; `state` its decoded state once a commit of the batch applied.
    //
    // The first applied commit writes the record at once: LMDB then finds the page its
    // load just walked to still in cache, and most aggregates (new ones above all) apply
    // once per batch. Writing every record at finish() instead measured ~0.9 us more per
    // new aggregate (a second cold B-tree walk). Later applied commits only mark the
    // record `stale`, and finish() writes it once more - so a popular aggregate costs two
    // writes and encodes per batch instead of one per commit.
    struct touched {
        stored_aggregate stored;
        std::optional<evolving_state> state;
        bool written = false;  // by this batch
        bool stale = false;    // applied commits since it was written
    };
    // One map per context (indexed by its value).
    std::array<std::unordered_map<std::string, touched, id_hash, std::equal_to<>>, all_contexts.size()> aggregates;
    std::vector<member_entry> members;  // of the commit being applied; reused

    explicit impl(write_batch& b) : batch(b) {}

    result<void, error> write(context ctx, const std::string& id, touched& aggregate) {
        aggregate.stored.snapshot = aggregate.state->encode();
        aggregate.stale = false;
        aggregate.written = true;
        if (auto r = batch.put(ctx, id, aggregate.stored); !r) return fail(error{errc::store_failed, "cannot write the state store: " + r.error().message});
        return {};
    }
};

batch_applier::batch_applier(write_batch& batch) : impl_(std::make_unique<impl>(batch)) {}
batch_applier::~batch_applier() = default;

result<std::optional<batch_applier::judged>, error> batch_applier::apply(context ctx, position at,
                                                                       std::string_view key,
                                                                       std::span<const std::uint8_t> value,
                                                                       header_reader read_headers, const void* record) {
    auto c = decode_commit(value);
    if (!c || key != c->aggregate_id) {
        spdlog::warn("{}[{}]@{} is not a valid commit and is ignored by every reader: {}", topic_of(ctx),
                     at.partition, at.offset, c ? "its key is not its aggregate id" : c.error().detail);
        return std::optional<judged>{};
    }
    auto& touched_in_ctx = impl_->aggregates[static_cast<std::size_t>(ctx)];
    auto found = touched_in_ctx.find(std::string_view(c->aggregate_id));
    if (found == touched_in_ctx.end()) {
        auto loaded = impl_->batch.load(ctx, c->aggregate_id);
        if (!loaded) return fail(error{errc::store_failed, "cannot read the state store: " + loaded.error().message});
        // A new aggregate; it is written (with this partition) only if a commit applies.
        stored_aggregate a = std::move(*loaded).value_or(stored_aggregate{{}, at.partition, {}});
        found = touched_in_ctx.emplace(std::move(c->aggregate_id), impl::touched{std::move(a), std::nullopt}).first;
    }
    const std::string& aggregate_id = found->first;
    impl::touched& aggregate = found->second;
    aggregate_head& head = aggregate.stored.head;

    judged out;
    out.expected_version = c->expected_version;
    const auto j = judge(head, c->command_id, c->expected_version);
    switch (j.verdict) {
        case verdict::duplicate:
            out.report = {verdict::duplicate, j.original->version, j.original->at};
            out.command_id = std::move(c->command_id);
            return out;
        case verdict::loser:
            out.report = {verdict::loser, head.version, at};
            out.command_id = std::move(c->command_id);
            return out;
        case verdict::applied: break;
    }
    auto unreadable = [&](const codec_error& e) {
        return "the applied commit at " + std::string(topic_of(ctx)) + "[" + std::to_string(at.partition.value()) + "]@" +
               std::to_string(at.offset.value()) + " holds an event this build cannot read (" + e.detail +
               "): upgrade shopstream; the state store stays at its last good batch";
    };
    if (!aggregate.state) {
        auto decoded = evolving_state::decode(ctx, aggregate.stored.snapshot);
        if (!decoded) return fail(error{errc::unreadable_commit, unreadable(decoded.error())});
        aggregate.state = std::move(*decoded);
    }
    // Side-index entries go into the same write transaction as the state (aggregates.hpp).
    impl_->members.clear();
    if (auto r = aggregate.state->evolve(c->events, &impl_->members); !r) {
        return fail(error{errc::unreadable_commit, unreadable(r.error())});
    }
    for (const auto& entry : impl_->members) {
        if (auto r = impl_->batch.put_member(ctx, aggregate_id, entry); !r) {
            return fail(error{errc::store_failed, "cannot write the state store: " + r.error().message});
        }
    }
    const std::uint64_t first_version = head.version + 1;
    const auto event_count = c->events.size();
    auto applied_cmd = record_applied(head, std::move(c->command_id), event_count, at);
    aggregate.stored.partition = at.partition;
    if (aggregate.written) {
        aggregate.stale = true;
    } else if (auto r = impl_->write(ctx, aggregate_id, aggregate); !r) {
        return fail(std::move(r.error()));
    }
    stored_commit kept{{first_version, static_cast<std::uint32_t>(event_count), at},
                       read_headers != nullptr ? read_headers(record) : commit_headers{},
                       {value.begin(), value.end()}};
    if (auto r = impl_->batch.add_commit(ctx, aggregate_id, kept); !r) {
        return fail(error{errc::store_failed, "cannot write the state store: " + r.error().message});
    }
    out.report = {verdict::applied, applied_cmd.version, at};
    out.command_id = std::move(applied_cmd.command_id);
    return out;
}

result<void, error> batch_applier::finish() {
    for (const context ctx : all_contexts) {
        for (auto& [id, aggregate] : impl_->aggregates[static_cast<std::size_t>(ctx)]) {
            if (!aggregate.stale) continue;
            if (auto r = impl_->write(ctx, id, aggregate); !r) return r;
        }
    }
    return {};
}

// ---- tail ------------------------------------------------------------------------------

namespace {

// The headers a history shows, from a consumed record (see batch_applier::apply).
commit_headers headers_of(const void* record) {
    return kafka::headers_of(*static_cast<const rd_kafka_message_t*>(record));
}

}  // namespace

struct tail::impl {
    tail_options options;
    state_store& store;
    kafka::handle consumer;
    std::map<context, std::int32_t> partitions;
    std::optional<std::string> identity_to_record;

    // Everything below `mu` is shared with callers of the public functions.
    mutable std::mutex mu;
    std::map<partition_key, log_offset> applied;  // next offset to apply
    std::set<partition_key> not_caught_up;
    std::optional<std::string> failure;

    struct waiter {
        verdict_key key;  // verdict waits
        std::optional<partition_key> where;  // position waits
        log_offset offset{0};
        clock::time_point deadline;
        verdict_callback on_verdict;
        position_callback on_position;
    };
    waiter_registry<waiter> waiters;
    std::unordered_multimap<verdict_key, ticket, verdict_key_hash> by_key;
    // How many verdict waits are registered; changed under `mu`, read by the tail thread
    // without it. A writer registers its wait before it produces the commit, so by the
    // time the tail reads that commit the count includes it; with no verdict waits (a
    // rebuild, a reader-only process) the tail builds no notifications at all.
    std::atomic<std::size_t> verdict_waits{0};
    std::map<partition_key, std::multimap<log_offset, ticket>> by_position;

    std::atomic<bool> stopping{false};
    std::thread thread;

    std::atomic<std::int64_t> records{0}, applied_count{0}, losers{0}, duplicates{0}, skipped{0}, batches{0};

    impl(tail_options o, state_store& s) : options(std::move(o)), store(s) {}

    void run();
    void apply_batch(std::vector<rd_kafka_message_t*>& messages);
    void fail_tail(std::string message);
    void expire(clock::time_point now);
    void fire_stopped();

    // Removes a waiter (lock held) and returns it.
    waiter take(ticket t) {
        waiter w = waiters.take(t);
        unindex(t, w);
        return w;
    }
    // Removes a waiter taken from `waiters` from the indexes beside it (lock held).
    void unindex(ticket t, const waiter& w) {
        if (w.where) {
            auto& m = by_position[*w.where];
            auto pr = m.equal_range(w.offset);
            for (auto p = pr.first; p != pr.second; ++p) {
                if (p->second == t) {
                    m.erase(p);
                    break;
                }
            }
        } else {
            verdict_waits.fetch_sub(1, std::memory_order_relaxed);
            auto kr = by_key.equal_range(w.key);
            for (auto k = kr.first; k != kr.second; ++k) {
                if (k->second == t) {
                    by_key.erase(k);
                    break;
                }
            }
        }
    }
};

result<std::unique_ptr<tail>, error> tail::start(tail_options options, state_store& store) {
    const auto timeout = options.start_timeout;
    auto identity = ensure_log_identity(options.bootstrap_servers, timeout, options.extra);
    if (!identity) return fail(std::move(identity.error()));
    auto known = store.log_identity();
    if (!known) return fail(error{errc::store_failed, std::move(known.error().message)});

    auto p = std::make_unique<impl>(std::move(options), store);
    bool has_checkpoints = false;
    for (context c : p->options.contexts) {
        auto cps = store.checkpoints(c);
        if (!cps) return fail(error{errc::store_failed, std::move(cps.error().message)});
        has_checkpoints = has_checkpoints || !cps->empty();
    }
    const std::string holder = "the state store in " + store.directory().string();
    const std::string rebuild = "delete " + store.directory().string() + " to rebuild the store";
    auto to_record = kafka::check_log_identity(*known, has_checkpoints, *identity, holder, rebuild);
    if (!to_record) return fail(std::move(to_record.error()));
    p->identity_to_record = std::move(*to_record);

    // "shopstream-tail" is never joined or committed: offsets live in the store.
    const auto settings = kafka::reader_settings(p->options.bootstrap_servers, "shopstream-tail",
                                                 p->options.fetch_wait, p->options.extra);
    auto conf = kafka::make_conf(settings);
    if (!conf) return fail(std::move(conf.error()));
    auto consumer = kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!consumer) return fail(std::move(consumer.error()));
    p->consumer = std::move(*consumer);
    rd_kafka_t* rk = p->consumer.get();

    auto counts = kafka::partition_counts(rk, timeout);
    if (!counts) return fail(error{errc::unreachable, "cannot read the topics' metadata: " + counts.error().message});
    rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(64);
    auto release = [&] { rd_kafka_topic_partition_list_destroy(assignment); };
    for (context c : p->options.contexts) {
        const std::string topic(topic_of(c));
        const auto listed = counts->find(topic);
        const std::int32_t count = listed == counts->end() ? 0 : listed->second;
        if (count <= 0) {
            release();
            return fail(error{errc::missing_topic, "topic " + topic + " does not exist on " + p->options.bootstrap_servers});
        }
        p->partitions[c] = count;
        auto cps = store.checkpoints(c);
        if (!cps) {
            release();
            return fail(error{errc::store_failed, std::move(cps.error().message)});
        }
        for (const auto& [partition, next] : *cps) {
            if (partition.value() >= count) {
                release();
                return fail(error{errc::foreign_log, "the state store has a checkpoint for " + topic + " partition " +
                            std::to_string(partition.value()) + " but the topic has " + std::to_string(count) +
                            " partitions: the log is not the one the store was built from"});
            }
        }
        for (std::int32_t part = 0; part < count; ++part) {
            const auto found = cps->find(partition_id(part));
            const std::int64_t next = found == cps->end() ? 0 : found->second.value();
            auto bounds = kafka::query_bounds(rk, c, partition_id(part), timeout);
            if (!bounds) {
                release();
                return fail(std::move(bounds.error()));
            }
            if (auto ok = kafka::check_resume_point(c, partition_id(part), log_offset(next), *bounds, holder,
                                                    "delete the directory to rebuild");
                !ok) {
                release();
                return fail(std::move(ok.error()));
            }
            rd_kafka_topic_partition_list_add(assignment, topic.c_str(), part)->offset = next;
            p->applied[{c, partition_id(part)}] = log_offset(next);
            p->not_caught_up.insert({c, partition_id(part)});
        }
    }
    const auto aerr = rd_kafka_assign(rk, assignment);
    release();
    if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(error{errc::client_failed, std::string("assign: ") + rd_kafka_err2str(aerr)});

    std::unique_ptr<tail> t(new tail());
    t->identity_ = *identity;
    t->impl_ = std::move(p);
    impl* raw = t->impl_.get();
    raw->thread = std::thread([raw] { raw->run(); });
    return t;
}

tail::~tail() {
    if (!impl_) return;
    {
        std::lock_guard lock(impl_->mu);  // registrations check `stopping` under the lock
        impl_->stopping = true;
    }
    if (impl_->thread.joinable()) impl_->thread.join();
    rd_kafka_consumer_close(impl_->consumer.get());
    impl_->fire_stopped();
}

void tail::impl::run() {
    std::vector<rd_kafka_message_t*> messages;
    messages.reserve(options.max_batch);
    while (!stopping.load(std::memory_order_relaxed)) {
        expire(clock::now());
        bool failed = false;
        {
            std::lock_guard lock(mu);
            failed = failure.has_value();
        }
        if (failed) {
            // Keep the connection but apply nothing more; waits expire normally. The lock
            // is not held while sleeping: every caller of the public functions takes it.
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        rd_kafka_message_t* first = rd_kafka_consumer_poll(consumer.get(), 20);
        if (first == nullptr) continue;
        messages.push_back(first);
        while (messages.size() < options.max_batch) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 0);
            if (m == nullptr) break;
            messages.push_back(m);
        }
        apply_batch(messages);
        for (auto* m : messages) rd_kafka_message_destroy(m);
        messages.clear();
    }
}

void tail::impl::fail_tail(std::string message) {
    spdlog::critical("tail stopped applying: {}", message);
    std::lock_guard lock(mu);
    failure = std::move(message);
}

void tail::impl::apply_batch(std::vector<rd_kafka_message_t*>& messages) {
    auto batch = store.begin_write();
    if (!batch) {
        fail_tail("cannot write the state store: " + batch.error().message);
        return;
    }
    if (identity_to_record) {
        if (auto r = batch->set_log_identity(*identity_to_record); !r) {
            fail_tail("cannot record the log identity: " + r.error().message);
            return;
        }
    }
    batch_applier applier(*batch);
    std::vector<notification> notifications;
    std::map<partition_key, log_offset> advanced;
    std::vector<partition_key> reached_end;
    std::int64_t count = 0;
    // Every message of a partition shares its topic handle: resolve the context once per
    // handle, not by comparing topic names per message.
    const rd_kafka_topic_t* last_topic = nullptr;
    std::optional<context> last_ctx = std::nullopt;
    for (const rd_kafka_message_t* m : messages) {
        if (m->rkt != last_topic || m->rkt == nullptr) {
            last_topic = m->rkt;
            last_ctx = context_of_topic(m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "");
        }
        const std::optional<context> ctx = last_ctx;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (ctx) reached_end.push_back({*ctx, partition_id(m->partition)});
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            const std::string what = rd_kafka_message_errstr(m);
            if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE || m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
                fail_tail("records lost: " + std::string(ctx ? topic_of(*ctx) : "?") + " partition " +
                          std::to_string(m->partition) + " no longer holds the offset the state store needs (" +
                          what + "); make retention unlimited and rebuild the store");
                return;
            }
            spdlog::warn("tail: {}", what);
            continue;
        }
        if (!ctx) continue;
        const partition_key pk{*ctx, partition_id(m->partition)};
        auto adv = advanced.find(pk);
        log_offset expected_next{0};
        if (adv != advanced.end()) {
            expected_next = adv->second;
        } else {
            // Only this thread writes `applied`, so it may read it without the lock.
            const auto found = applied.find(pk);
            if (found != applied.end()) expected_next = found->second;
        }
        const log_offset offset(m->offset);
        if (offset < expected_next) continue;  // already applied (a re-fetch after a leader change)
        auto judged = applier.apply(*ctx, {pk.partition, offset},
                                    {static_cast<const char*>(m->key), m->key_len},
                                    {static_cast<const std::uint8_t*>(m->payload), m->len}, &headers_of, m);
        if (!judged) {
            fail_tail(std::move(judged.error().message));
            return;  // the batch is aborted: the store stays at the previous batch
        }
        if (!*judged) {
            ++skipped;
        } else {
            auto& j = **judged;
            switch (j.report.verdict) {
                case verdict::applied: ++applied_count; break;
                case verdict::loser: ++losers; break;
                case verdict::duplicate: ++duplicates; break;
            }
            if (verdict_waits.load(std::memory_order_acquire) > 0) {
                notifications.push_back(
                    {verdict_key{*ctx, std::string(static_cast<const char*>(m->key), m->key_len),
                                 std::move(j.command_id), j.expected_version},
                     j.report});
            }
        }
        if (adv != advanced.end()) {
            adv->second = offset + 1;
        } else {
            advanced.emplace(pk, offset + 1);
        }
        ++count;
    }
    if (auto r = applier.finish(); !r) {
        fail_tail(std::move(r.error().message));
        return;
    }
    for (const auto& [pk, next] : advanced) {
        if (auto r = batch->set_checkpoint(pk.ctx, pk.partition, next); !r) {
            fail_tail("cannot write a checkpoint: " + r.error().message);
            return;
        }
    }
    if (auto r = batch->commit(); !r) {
        fail_tail("cannot commit a state store batch: " + r.error().message);
        return;
    }
    identity_to_record.reset();
    records += count;
    ++batches;

    std::vector<std::pair<verdict_callback, verdict_report>> verdicts;
    std::vector<position_callback> positions;
    {
        std::lock_guard lock(mu);
        for (const auto& [pk, next] : advanced) applied[pk] = next;
        for (const auto& pk : reached_end) not_caught_up.erase(pk);
        for (auto& n : notifications) {
            std::vector<ticket> tickets;
            auto range = by_key.equal_range(n.key);
            for (auto it = range.first; it != range.second; ++it) tickets.push_back(it->second);
            for (ticket t : tickets) verdicts.emplace_back(take(t).on_verdict, n.report);
        }
        for (const auto& [pk, next] : advanced) {
            auto found = by_position.find(pk);
            if (found == by_position.end()) continue;
            std::vector<ticket> tickets;
            for (auto it = found->second.begin(); it != found->second.end() && it->first < next; ++it) {
                tickets.push_back(it->second);
            }
            for (ticket t : tickets) positions.push_back(take(t).on_position);
        }
    }
    for (auto& [cb, report] : verdicts) cb(report);
    for (auto& cb : positions) cb({});
}

void tail::impl::expire(clock::time_point now) {
    std::vector<std::pair<ticket, waiter>> expired;
    {
        std::lock_guard lock(mu);
        expired = waiters.take_expired(now);
        for (const auto& [t, w] : expired) unindex(t, w);
    }
    for (auto& [t, w] : expired) {
        wait_error e{wait_errc::timed_out, "no verdict before the deadline"};
        if (w.on_verdict) {
            w.on_verdict(fail(std::move(e)));
        } else {
            e.message = "the position was not applied before the deadline";
            w.on_position(fail(std::move(e)));
        }
    }
}

void tail::impl::fire_stopped() {
    std::vector<std::pair<ticket, waiter>> all;
    {
        std::lock_guard lock(mu);
        all = waiters.take_all();
        for (const auto& [t, w] : all) unindex(t, w);
    }
    for (auto& [t, w] : all) {
        wait_error e{wait_errc::stopped, "the tail stopped"};
        if (w.on_verdict) {
            w.on_verdict(fail(std::move(e)));
        } else {
            w.on_position(fail(std::move(e)));
        }
    }
}

std::optional<tail::ticket> tail::await_verdict(context ctx, aggregate_ref aggregate_id, command_ref command_id,
                                                std::uint64_t expected_version,
                                                clock::time_point deadline, verdict_callback done) {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping.load()) return std::nullopt;
    impl::waiter w;
    w.key = verdict_key{ctx, std::string(aggregate_id.value()), std::string(command_id.value()), expected_version};
    w.deadline = deadline;
    w.on_verdict = std::move(done);
    verdict_key key = w.key;
    const ticket t = impl_->waiters.add(std::move(w));
    impl_->by_key.emplace(std::move(key), t);
    impl_->verdict_waits.fetch_add(1, std::memory_order_release);
    return t;
}

void tail::await_position(context ctx, position p, clock::time_point deadline, position_callback done) {
    {
        std::unique_lock lock(impl_->mu);
        if (impl_->stopping.load()) {
            lock.unlock();
            done(fail(wait_error{wait_errc::stopped, "the tail stopped"}));
            return;
        }
        const partition_key pk{ctx, p.partition};
        const auto found = impl_->applied.find(pk);
        if (found == impl_->applied.end() || found->second <= p.offset) {
            if (found != impl_->applied.end() && clock::now() < deadline) {
                impl::waiter w;
                w.where = pk;
                w.offset = p.offset;
                w.deadline = deadline;
                w.on_position = std::move(done);
                const ticket t = impl_->waiters.add(std::move(w));
                impl_->by_position[pk].emplace(p.offset, t);
                return;
            }
            if (found == impl_->applied.end()) {
                // Not a partition this tail reads: it can never be satisfied.
                done(fail(wait_error{wait_errc::timed_out, "no such partition in " + std::string(topic_of(ctx))}));
                return;
            }
            done(fail(wait_error{wait_errc::timed_out, "the position was not applied before the deadline"}));
            return;
        }
    }
    done({});
}

bool tail::cancel(ticket t) {
    std::lock_guard lock(impl_->mu);
    if (!impl_->waiters.contains(t)) return false;
    (void)impl_->take(t);
    return true;
}

log_offset tail::applied_through(context ctx, partition_id partition) const {
    std::lock_guard lock(impl_->mu);
    const auto found = impl_->applied.find({ctx, partition});
    return found == impl_->applied.end() ? log_offset(0) : found->second;
}

log_offset tail::known_log_end(context ctx, partition_id partition) const {
    std::int64_t low = -1;
    std::int64_t high = -1;
    const std::string topic(topic_of(ctx));
    if (rd_kafka_get_watermark_offsets(impl_->consumer.get(), topic.c_str(), partition.value(), &low, &high) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        return log_offset(-1);
    }
    return log_offset(high);
}

result<log_offset, error> tail::query_log_end(context ctx, partition_id partition,
                                                   std::chrono::milliseconds timeout) const {
    const std::string topic(topic_of(ctx));
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(
        impl_->consumer.get(), topic.c_str(), partition.value(), &low, &high,
        static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 1, std::numeric_limits<int>::max())));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(error{errc::unreachable, "cannot read the end of " + topic + " partition " + std::to_string(partition.value()) + ": " +
                    rd_kafka_err2str(err)});
    }
    return log_offset(high);
}

std::vector<partition_progress> tail::progress() const {
    std::vector<partition_progress> out;
    {
        std::lock_guard lock(impl_->mu);
        out.reserve(impl_->applied.size());
        for (const auto& [pk, next] : impl_->applied) out.push_back({pk.ctx, pk.partition, next, log_offset(-1)});
    }
    for (auto& p : out) p.log_end = known_log_end(p.ctx, p.partition);
    return out;
}

bool tail::caught_up() const {
    std::lock_guard lock(impl_->mu);
    return impl_->not_caught_up.empty();
}

result<std::vector<log_offset>, error> tail::await_log_end(context ctx, clock::time_point deadline) const {
    const std::string topic(topic_of(ctx));
    const std::int32_t count = partition_count(ctx);
    if (count == 0) return fail(error{errc::missing_topic, "this tail does not read " + topic});
    std::vector<log_offset> ends;
    ends.reserve(static_cast<std::size_t>(count));
    for (std::int32_t p = 0; p < count; ++p) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return fail(error{errc::timed_out, "the deadline passed while asking for the end of " + topic});
        auto high = query_log_end(ctx, partition_id(p), left);
        if (!high) return fail(std::move(high.error()));
        ends.push_back(*high);
    }
    for (;;) {
        std::int32_t behind = 0;
        while (behind < count && applied_through(ctx, partition_id(behind)) >= ends[static_cast<std::size_t>(behind)]) ++behind;
        if (behind == count) return ends;
        if (auto f = failure()) return fail(error{errc::tail_failed, "the tail failed: " + *f});
        if (clock::now() >= deadline) {
            return fail(error{errc::timed_out, "the deadline passed with " + topic + " partition " + std::to_string(behind) +
                        " applied through offset " + std::to_string(applied_through(ctx, partition_id(behind)).value()) +
                        " of its end " + std::to_string(ends[static_cast<std::size_t>(behind)].value())});
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

std::int32_t tail::partition_count(context ctx) const {
    const auto found = impl_->partitions.find(ctx);
    return found == impl_->partitions.end() ? 0 : found->second;
}

std::optional<std::string> tail::failure() const {
    std::lock_guard lock(impl_->mu);
    return impl_->failure;
}

tail_stats tail::stats() const {
    return {impl_->records.load(), impl_->applied_count.load(), impl_->losers.load(),
            impl_->duplicates.load(), impl_->skipped.load(), impl_->batches.load()};
}

}  // namespace shopstream::eventstore
