#include "eventstore/tail.hpp"

#include <spdlog/spdlog.h>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <set>

#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/topics.hpp"

namespace shopstream::eventstore {
namespace {

std::string waiter_key(context ctx, std::string_view aggregate_id, std::string_view command_id,
                       std::uint64_t expected_version) {
    std::string key;
    key.reserve(aggregate_id.size() + command_id.size() + 24);
    key.push_back(static_cast<char>(ctx));
    key.append(std::to_string(aggregate_id.size()));  // length-prefixed: ids may hold any byte
    key.push_back(':');
    key.append(aggregate_id);
    key.append(command_id);
    key.push_back('\x1f');
    key.append(std::to_string(expected_version));
    return key;
}

struct partition_key {
    context ctx;
    std::int32_t partition;
    friend auto operator<=>(const partition_key&, const partition_key&) = default;
};

struct notification {
    std::string key;
    verdict_report report;
};

}  // namespace

struct tail::impl {
    tail_options options;
    state_store& store;
    kafka::handle consumer;
    std::map<context, std::int32_t> partitions;
    std::optional<std::string> identity_to_record;

    // Everything below `mu` is shared with callers of the public functions.
    mutable std::mutex mu;
    std::map<partition_key, std::int64_t> applied;  // next offset to apply
    std::set<partition_key> not_caught_up;
    std::optional<std::string> failure;

    struct waiter {
        std::string key;  // verdict waits
        std::optional<partition_key> where;  // position waits
        std::int64_t offset = 0;
        clock::time_point deadline;
        verdict_callback on_verdict;
        position_callback on_position;
    };
    ticket next_ticket = 1;
    std::unordered_map<ticket, waiter> waiters;
    std::unordered_multimap<std::string, ticket> by_key;
    std::map<partition_key, std::multimap<std::int64_t, ticket>> by_position;
    std::multimap<clock::time_point, ticket> by_deadline;

    std::atomic<bool> stopping{false};
    std::thread thread;

    std::atomic<std::int64_t> records{0}, applied_count{0}, losers{0}, duplicates{0}, skipped{0}, batches{0};

    impl(tail_options o, state_store& s) : options(std::move(o)), store(s) {}

    void run();
    void apply_batch(std::vector<rd_kafka_message_t*>& messages);
    std::optional<notification> apply_record(write_batch& batch, context ctx, const rd_kafka_message_t* m,
                                             std::string& fatal);
    void fail_tail(std::string message);
    void expire(clock::time_point now);
    void fire_stopped();

    // Removes a waiter (lock held) and returns it.
    waiter take(ticket t) {
        auto it = waiters.find(t);
        waiter w = std::move(it->second);
        waiters.erase(it);
        auto range = by_deadline.equal_range(w.deadline);
        for (auto d = range.first; d != range.second; ++d) {
            if (d->second == t) {
                by_deadline.erase(d);
                break;
            }
        }
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
            auto kr = by_key.equal_range(w.key);
            for (auto k = kr.first; k != kr.second; ++k) {
                if (k->second == t) {
                    by_key.erase(k);
                    break;
                }
            }
        }
        return w;
    }
};

result<std::unique_ptr<tail>, std::string> tail::start(tail_options options, state_store& store) {
    const auto timeout = options.start_timeout;
    auto identity = ensure_log_identity(options.bootstrap_servers, timeout);
    if (!identity) return fail(std::move(identity.error()));
    auto known = store.log_identity();
    if (!known) return fail(std::move(known.error().message));

    auto p = std::make_unique<impl>(std::move(options), store);
    if (!*known) {
        for (context c : p->options.contexts) {
            auto cps = store.checkpoints(c);
            if (!cps) return fail(std::move(cps.error().message));
            if (!cps->empty()) {
                return fail("the state store in " + store.directory().string() +
                            " has checkpoints but no log identity: it is not a store this version "
                            "wrote; delete the directory to rebuild it from the log");
            }
        }
        p->identity_to_record = *identity;
    } else if (**known != *identity) {
        return fail("the state store in " + store.directory().string() + " was built from log " + **known +
                    ", but the brokers hold log " + *identity +
                    ": point --brokers at the cluster it was built from, or delete " +
                    store.directory().string() + " to rebuild the store from this log");
    }

    std::map<std::string, std::string> settings = {
        {"bootstrap.servers", p->options.bootstrap_servers},
        {"group.id", "shopstream-tail"},  // never joined or committed: offsets live in the store
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "error"},
        {"fetch.wait.max.ms", std::to_string(p->options.fetch_wait.count())},
        {"fetch.error.backoff.ms", "10"},
        {"socket.nagle.disable", "true"},
        {"queued.min.messages", "100000"},
        {"log_level", "3"},
    };
    for (const auto& [k, v] : p->options.extra) settings[k] = v;
    auto conf = kafka::make_conf(settings);
    if (!conf) return fail(std::move(conf.error()));
    auto consumer = kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!consumer) return fail(std::move(consumer.error()));
    p->consumer = std::move(*consumer);
    rd_kafka_t* rk = p->consumer.get();
    const int timeout_ms = static_cast<int>(timeout.count());

    rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(64);
    auto release = [&] { rd_kafka_topic_partition_list_destroy(assignment); };
    for (context c : p->options.contexts) {
        const std::string topic(topic_of(c));
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
        const rd_kafka_metadata_t* md = nullptr;
        const auto err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
        rd_kafka_topic_destroy(rkt);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            release();
            return fail("cannot read metadata of " + topic + ": " + rd_kafka_err2str(err));
        }
        const std::int32_t count = (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                                       ? md->topics[0].partition_cnt
                                       : 0;
        rd_kafka_metadata_destroy(md);
        if (count <= 0) {
            release();
            return fail("topic " + topic + " does not exist on " + p->options.bootstrap_servers);
        }
        p->partitions[c] = count;
        auto cps = store.checkpoints(c);
        if (!cps) {
            release();
            return fail(std::move(cps.error().message));
        }
        for (const auto& [partition, next] : *cps) {
            if (partition >= count) {
                release();
                return fail("the state store has a checkpoint for " + topic + " partition " +
                            std::to_string(partition) + " but the topic has " + std::to_string(count) +
                            " partitions: the log is not the one the store was built from");
            }
        }
        for (std::int32_t part = 0; part < count; ++part) {
            const auto found = cps->find(part);
            const std::int64_t next = found == cps->end() ? 0 : found->second;
            std::int64_t low = 0;
            std::int64_t high = 0;
            const auto werr = rd_kafka_query_watermark_offsets(rk, topic.c_str(), part, &low, &high, timeout_ms);
            if (werr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                release();
                return fail("cannot read the offsets of " + topic + " partition " + std::to_string(part) + ": " +
                            rd_kafka_err2str(werr));
            }
            if (low > next) {
                release();
                return fail("records lost: " + topic + " partition " + std::to_string(part) +
                            " now starts at offset " + std::to_string(low) + " but the state store in " +
                            store.directory().string() + " needs offset " + std::to_string(next) +
                            " next. The log lost records to retention, so no reader can rebuild this "
                            "state any more: set the topic's retention to unlimited (retention.ms=-1, "
                            "retention.bytes=-1) and restore the lost records from a backup of the log "
                            "into a new cluster, then point --brokers at it");
            }
            if (next > high) {
                release();
                return fail("the state store in " + store.directory().string() + " has applied " + topic +
                            " partition " + std::to_string(part) + " up to offset " + std::to_string(next) +
                            " but the log ends at " + std::to_string(high) +
                            ": the log is not the one the store was built from; delete the directory to rebuild");
            }
            rd_kafka_topic_partition_list_add(assignment, topic.c_str(), part)->offset = next;
            p->applied[{c, part}] = next;
            p->not_caught_up.insert({c, part});
        }
    }
    const auto aerr = rd_kafka_assign(rk, assignment);
    release();
    if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(std::string("assign: ") + rd_kafka_err2str(aerr));

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
        {
            std::lock_guard lock(mu);
            if (failure) {
                // Keep the connection but apply nothing more; waits expire normally.
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
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
    std::vector<notification> notifications;
    std::map<partition_key, std::int64_t> advanced;
    std::vector<partition_key> reached_end;
    std::int64_t count = 0;
    for (const rd_kafka_message_t* m : messages) {
        const auto ctx = context_of_topic(m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "");
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (ctx) reached_end.push_back({*ctx, m->partition});
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
        const partition_key pk{*ctx, m->partition};
        const auto expected_next = advanced.contains(pk) ? advanced[pk] : applied[pk];
        if (m->offset < expected_next) continue;  // already applied (a re-fetch after a leader change)
        std::string fatal;
        auto note = apply_record(*batch, *ctx, m, fatal);
        if (!fatal.empty()) {
            fail_tail(std::move(fatal));
            return;  // the batch is aborted: the store stays at the previous batch
        }
        if (note) notifications.push_back(std::move(*note));
        advanced[pk] = m->offset + 1;
        ++count;
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

std::optional<notification> tail::impl::apply_record(write_batch& batch, context ctx, const rd_kafka_message_t* m,
                                                     std::string& fatal) {
    const position at{m->partition, m->offset};
    auto c = decode_commit({static_cast<const std::uint8_t*>(m->payload), m->len});
    const std::string_view key(static_cast<const char*>(m->key), m->key_len);
    if (!c || key != c->aggregate_id) {
        ++skipped;
        spdlog::warn("{}[{}]@{} is not a valid commit and is ignored by every reader: {}", topic_of(ctx),
                     at.partition, at.offset, c ? "its key is not its aggregate id" : c.error().detail);
        return std::nullopt;
    }
    auto loaded = batch.load(ctx, c->aggregate_id);
    if (!loaded) {
        fatal = "cannot read the state store: " + loaded.error().message;
        return std::nullopt;
    }
    stored_aggregate aggregate = loaded->value_or(stored_aggregate{{}, at.partition, {}});
    const auto j = judge(aggregate.head, c->command_id, c->expected_version);
    notification note{waiter_key(ctx, c->aggregate_id, c->command_id, c->expected_version), {}};
    switch (j.verdict) {
        case verdict::duplicate:
            ++duplicates;
            note.report = {verdict::duplicate, j.original->version, j.original->at};
            return note;
        case verdict::loser:
            ++losers;
            note.report = {verdict::loser, aggregate.head.version, at};
            return note;
        case verdict::applied: break;
    }
    auto snapshot = evolve_snapshot(ctx, aggregate.snapshot, c->events);
    if (!snapshot) {
        fatal = "the applied commit at " + std::string(topic_of(ctx)) + "[" + std::to_string(at.partition) + "]@" +
                std::to_string(at.offset) + " holds an event this build cannot read (" + snapshot.error().detail +
                "): upgrade shopstream; the state store stays at its last good batch";
        return std::nullopt;
    }
    const std::uint64_t first_version = aggregate.head.version + 1;
    const auto applied_cmd = record_applied(aggregate.head, c->command_id, c->events.size(), at);
    aggregate.snapshot = std::move(*snapshot);
    aggregate.partition = at.partition;
    if (auto r = batch.put(ctx, c->aggregate_id, aggregate); !r) {
        fatal = "cannot write the state store: " + r.error().message;
        return std::nullopt;
    }
    if (auto r = batch.add_commit_location(ctx, c->aggregate_id,
                                           {first_version, static_cast<std::uint32_t>(c->events.size()), at});
        !r) {
        fatal = "cannot write the state store: " + r.error().message;
        return std::nullopt;
    }
    ++applied_count;
    note.report = {verdict::applied, applied_cmd.version, at};
    return note;
}

void tail::impl::expire(clock::time_point now) {
    std::vector<waiter> expired;
    {
        std::lock_guard lock(mu);
        while (!by_deadline.empty() && by_deadline.begin()->first <= now) {
            expired.push_back(take(by_deadline.begin()->second));
        }
    }
    for (auto& w : expired) {
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
    std::vector<waiter> all;
    {
        std::lock_guard lock(mu);
        while (!waiters.empty()) all.push_back(take(waiters.begin()->first));
    }
    for (auto& w : all) {
        wait_error e{wait_errc::stopped, "the tail stopped"};
        if (w.on_verdict) {
            w.on_verdict(fail(std::move(e)));
        } else {
            w.on_position(fail(std::move(e)));
        }
    }
}

std::optional<tail::ticket> tail::await_verdict(context ctx, std::string_view aggregate_id,
                                                std::string_view command_id, std::uint64_t expected_version,
                                                clock::time_point deadline, verdict_callback done) {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping.load()) return std::nullopt;
    const ticket t = impl_->next_ticket++;
    impl::waiter w;
    w.key = waiter_key(ctx, aggregate_id, command_id, expected_version);
    w.deadline = deadline;
    w.on_verdict = std::move(done);
    impl_->by_key.emplace(w.key, t);
    impl_->by_deadline.emplace(deadline, t);
    impl_->waiters.emplace(t, std::move(w));
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
                const ticket t = impl_->next_ticket++;
                impl::waiter w;
                w.where = pk;
                w.offset = p.offset;
                w.deadline = deadline;
                w.on_position = std::move(done);
                impl_->by_position[pk].emplace(p.offset, t);
                impl_->by_deadline.emplace(deadline, t);
                impl_->waiters.emplace(t, std::move(w));
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

std::int64_t tail::applied_through(context ctx, std::int32_t partition) const {
    std::lock_guard lock(impl_->mu);
    const auto found = impl_->applied.find({ctx, partition});
    return found == impl_->applied.end() ? 0 : found->second;
}

std::int64_t tail::known_log_end(context ctx, std::int32_t partition) const {
    std::int64_t low = -1;
    std::int64_t high = -1;
    const std::string topic(topic_of(ctx));
    if (rd_kafka_get_watermark_offsets(impl_->consumer.get(), topic.c_str(), partition, &low, &high) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        return -1;
    }
    return high;
}

bool tail::caught_up() const {
    std::lock_guard lock(impl_->mu);
    return impl_->not_caught_up.empty();
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
