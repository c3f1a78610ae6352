#include "commands/saga_consumer.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "eventstore/commit.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/log_reader.hpp"

namespace shopstream::commands {

namespace es = eventstore;
using es::errc;
using es::log_offset;
using es::partition_id;

namespace {

std::int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string header_value(const rd_kafka_message_t& m, std::string_view name) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(&m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == nullptr) return {};
    const void* v = nullptr;
    std::size_t size = 0;
    if (rd_kafka_header_get_last(hdrs, std::string(name).c_str(), &v, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        v == nullptr) {
        return {};
    }
    return {static_cast<const char*>(v), size};
}

struct list_deleter {
    void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
};
using partition_list = std::unique_ptr<rd_kafka_topic_partition_list_t, list_deleter>;

}  // namespace

struct partitioned_consumer::impl {
    struct partition_state {
        log_offset next_read{-1};  // -1: nothing read yet and nothing committed
        std::multiset<std::int64_t> in_flight;
        std::multiset<std::int64_t> held;
        log_offset last_committed{-1};
    };
    struct hold {
        consumed_record record;
        std::int64_t again_at = 0;
        bool out = false;  // handed out again, not called back yet
    };

    consumer_options options;
    record_handler handler;
    es::kafka::handle consumer;
    std::int32_t partitions = 0;
    std::thread thread;
    std::atomic<bool> stopping{false};

    mutable std::mutex mu;
    std::uint64_t generation = 0;
    std::map<owned_partition, partition_state> owned;
    std::map<std::string, hold> holds;               // hold id → hold
    std::multimap<std::int64_t, std::string> timers;  // again_at → hold id
    std::optional<std::string> failure;
    consumer_stats stats;
    std::chrono::steady_clock::time_point last_commit{};

    [[nodiscard]] std::int64_t now() const { return options.now ? options.now() : system_now_ms(); }

    [[nodiscard]] std::string hold_id(const consumed_record& r) const {
        if (options.hold_latest_per_key) return r.key;
        return std::to_string(static_cast<int>(r.ctx)) + ":" + es::to_string(r.at);
    }

    // Under mu: removes a hold and its offset from its partition.
    void drop_hold(const std::string& id) {
        const auto it = holds.find(id);
        if (it == holds.end()) return;
        const auto part = owned.find({it->second.record.ctx, it->second.record.at.partition});
        if (part != owned.end()) {
            const auto off = part->second.held.find(it->second.record.at.offset.value());
            if (off != part->second.held.end()) part->second.held.erase(off);
        }
        holds.erase(it);  // its timer entry, if any, finds no hold and is skipped
    }

    // Under mu: the record came back from the handler.
    void finish(const consumed_record& r, bool redelivered, std::optional<std::int64_t> again_at) {
        const owned_partition key{r.ctx, r.at.partition};
        auto part = owned.find(key);
        if (part == owned.end()) return;
        if (!redelivered) {
            const auto off = part->second.in_flight.find(r.at.offset.value());
            if (off != part->second.in_flight.end()) part->second.in_flight.erase(off);
        }
        const std::string id = hold_id(r);
        const auto existing = holds.find(id);
        if (!again_at) {
            // Done. Per key, the latest answer wins: an older hold of the key is obsolete.
            if (existing != holds.end() &&
                (options.hold_latest_per_key || existing->second.record.at == r.at)) {
                drop_hold(id);
            }
            return;
        }
        drop_hold(id);
        part->second.held.insert(r.at.offset.value());
        consumed_record kept = r;
        holds.emplace(id, hold{std::move(kept), *again_at, false});
        timers.emplace(*again_at, id);
    }

    record_done done_for(const consumed_record& r, bool redelivered, std::uint64_t gen,
                         const std::shared_ptr<impl>& self) {
        std::weak_ptr<impl> weak = self;
        return [weak, r, redelivered, gen](std::optional<std::int64_t> again_at) {
            const auto p = weak.lock();
            if (!p) return;
            std::lock_guard lock(p->mu);
            if (p->generation != gen) return;  // the partition was revoked meanwhile
            p->finish(r, redelivered, again_at);
        };
    }

    // The offset below which every record of the partition is done; -1: none known.
    [[nodiscard]] static std::int64_t checkpoint(const partition_state& s) {
        if (s.next_read.value() < 0) return -1;
        std::int64_t c = s.next_read.value();
        if (!s.in_flight.empty()) c = std::min(c, *s.in_flight.begin());
        if (!s.held.empty()) c = std::min(c, *s.held.begin());
        return c;
    }

    // Commits every owned partition whose checkpoint moved (sync: at revocation and stop).
    void commit(bool sync) {
        partition_list list(rd_kafka_topic_partition_list_new(8));
        {
            std::lock_guard lock(mu);
            for (auto& [key, state] : owned) {
                const std::int64_t c = checkpoint(state);
                if (c < 0 || c == state.last_committed.value()) continue;
                rd_kafka_topic_partition_list_add(list.get(), std::string(es::topic_of(key.ctx)).c_str(),
                                                  key.partition.value())
                    ->offset = c;
                state.last_committed = log_offset(c);
            }
            if (list->cnt > 0) ++stats.commits;
        }
        if (list->cnt == 0) return;
        const bool observed = static_cast<bool>(options.on_committed);
        const auto err = rd_kafka_commit(consumer.get(), list.get(), sync || observed ? 0 : 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            spdlog::warn("consumer group {}: cannot commit offsets: {} (they are committed again later)",
                         options.group_id, rd_kafka_err2str(err));
            std::lock_guard lock(mu);
            for (auto& [key, state] : owned) state.last_committed = log_offset(-1);
            return;
        }
        if (observed) {
            std::map<owned_partition, log_offset> committed;
            {
                std::lock_guard lock(mu);
                for (const auto& [key, state] : owned) committed.emplace(key, state.last_committed);
            }
            options.on_committed(committed);
        }
    }

    void on_assign(rd_kafka_topic_partition_list_t* given) {
        if (stopping.load()) {
            rd_kafka_assign(consumer.get(), nullptr);
            return;
        }
        partition_list wanted(rd_kafka_topic_partition_list_new(given->cnt * static_cast<int>(1 + options.co_partitioned.size())));
        for (int i = 0; i < given->cnt; ++i) {
            const std::int32_t p = given->elems[i].partition;
            rd_kafka_topic_partition_list_add(wanted.get(), std::string(es::topic_of(options.primary)).c_str(), p);
            for (const auto ctx : options.co_partitioned) {
                rd_kafka_topic_partition_list_add(wanted.get(), std::string(es::topic_of(ctx)).c_str(), p);
            }
        }
        const auto timeout = static_cast<int>(options.start_timeout.count());
        if (const auto err = rd_kafka_committed(consumer.get(), wanted.get(), timeout); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            spdlog::warn("consumer group {}: cannot read the committed offsets ({}): starting at the logs' beginning",
                         options.group_id, rd_kafka_err2str(err));
            for (int i = 0; i < wanted->cnt; ++i) wanted->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        }
        {
            std::lock_guard lock(mu);
            ++generation;
            owned.clear();
            holds.clear();
            timers.clear();
            ++stats.assignments;
            for (int i = 0; i < wanted->cnt; ++i) {
                auto& e = wanted->elems[i];
                const auto ctx = es::context_of_topic(e.topic);
                if (!ctx) continue;
                partition_state s;
                if (e.offset >= 0) {
                    s.next_read = log_offset(e.offset);
                    s.last_committed = log_offset(e.offset);
                } else {
                    e.offset = RD_KAFKA_OFFSET_BEGINNING;
                }
                owned.emplace(owned_partition{*ctx, partition_id(e.partition)}, s);
            }
        }
        spdlog::info("consumer group {}: assigned partitions of {} ({}), co-partitioned", options.group_id,
                     es::topic_of(options.primary), given->cnt);
        if (const auto err = rd_kafka_assign(consumer.get(), wanted.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::lock_guard lock(mu);
            failure = std::string("assign: ") + rd_kafka_err2str(err);
        }
    }

    void on_revoke() {
        commit(true);
        {
            std::lock_guard lock(mu);
            ++generation;
            owned.clear();
            holds.clear();
            timers.clear();
        }
        rd_kafka_assign(consumer.get(), nullptr);
    }

    void deliver(const rd_kafka_message_t& m, const std::shared_ptr<impl>& self) {
        const auto ctx = es::context_of_topic(rd_kafka_topic_name(m.rkt));
        if (!ctx) return;
        consumed_record r;
        r.ctx = *ctx;
        r.at = {partition_id(m.partition), log_offset(m.offset)};
        if (m.key != nullptr) r.key.assign(static_cast<const char*>(m.key), m.key_len);
        if (m.payload != nullptr) {
            const auto* bytes = static_cast<const std::uint8_t*>(m.payload);
            r.value.assign(bytes, bytes + m.len);
        }
        r.correlation_id = header_value(m, es::header::correlation_id);
        r.command_id = header_value(m, es::header::command_id);
        std::uint64_t gen = 0;
        {
            std::lock_guard lock(mu);
            auto part = owned.find({r.ctx, r.at.partition});
            if (part == owned.end()) return;  // fetched before a revocation
            part->second.next_read = log_offset(m.offset + 1);
            part->second.in_flight.insert(m.offset);
            ++stats.records;
            gen = generation;
        }
        handler(r, done_for(r, false, gen, self));
    }

    void redeliver_due(const std::shared_ptr<impl>& self) {
        std::vector<std::pair<consumed_record, std::uint64_t>> due;
        {
            std::lock_guard lock(mu);
            const std::int64_t t = now();
            while (!timers.empty() && timers.begin()->first <= t) {
                const std::string id = timers.begin()->second;
                const std::int64_t at = timers.begin()->first;
                timers.erase(timers.begin());
                auto h = holds.find(id);
                if (h == holds.end() || h->second.again_at != at || h->second.out) continue;
                h->second.out = true;
                ++h->second.record.delivery;
                ++stats.redeliveries;
                due.emplace_back(h->second.record, generation);
            }
        }
        for (auto& [r, gen] : due) handler(r, done_for(r, true, gen, self));
    }

    void run(const std::shared_ptr<impl>& self) {
        while (!stopping.load(std::memory_order_relaxed)) {
            rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 20);
            if (m != nullptr) {
                if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    deliver(*m, self);
                } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    spdlog::warn("consumer group {}: {}", options.group_id, rd_kafka_message_errstr(m));
                }
                rd_kafka_message_destroy(m);
            }
            redeliver_due(self);
            const auto t = std::chrono::steady_clock::now();
            if (t - last_commit >= options.commit_interval) {
                last_commit = t;
                commit(false);
            }
        }
    }
};

result<std::unique_ptr<partitioned_consumer>, es::error> partitioned_consumer::start(consumer_options options,
                                                                                     record_handler handler) {
    auto p = std::make_shared<impl>();
    p->options = std::move(options);
    p->handler = std::move(handler);
    auto settings = es::kafka::reader_settings(p->options.bootstrap_servers, p->options.group_id,
                                               p->options.fetch_wait, {});
    settings["auto.offset.reset"] = "earliest";
    settings["enable.partition.eof"] = "false";
    for (const auto& [k, v] : p->options.extra) settings[k] = v;
    auto conf = es::kafka::make_conf(settings);
    if (!conf) return fail(std::move(conf.error()));
    rd_kafka_conf_set_opaque(conf->get(), p.get());
    rd_kafka_conf_set_rebalance_cb(conf->get(), [](rd_kafka_t*, rd_kafka_resp_err_t err,
                                                   rd_kafka_topic_partition_list_t* parts, void* opaque) {
        auto* self = static_cast<impl*>(opaque);
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            self->on_assign(parts);
        } else {
            self->on_revoke();
        }
    });
    auto consumer = es::kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!consumer) return fail(std::move(consumer.error()));
    p->consumer = std::move(*consumer);

    auto counts = es::kafka::partition_counts(p->consumer.get(), p->options.start_timeout);
    if (!counts) return fail(es::error{errc::unreachable, "cannot read the topics' metadata: " + counts.error().message});
    std::vector<es::context> all{p->options.primary};
    all.insert(all.end(), p->options.co_partitioned.begin(), p->options.co_partitioned.end());
    for (const auto ctx : all) {
        const std::string topic(es::topic_of(ctx));
        const auto it = counts->find(topic);
        if (it == counts->end() || it->second <= 0) {
            return fail(es::error{errc::missing_topic, "topic " + topic + " does not exist on " + p->options.bootstrap_servers});
        }
        if (p->partitions != 0 && it->second != p->partitions) {
            return fail(es::error{errc::misconfigured,
                                  "topic " + topic + " has " + std::to_string(it->second) + " partitions and " +
                                      std::string(es::topic_of(p->options.primary)) + " " +
                                      std::to_string(p->partitions) +
                                      ": they must be equal for an order and its payment to share a partition number"});
        }
        p->partitions = it->second;
    }
    partition_list topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), std::string(es::topic_of(p->options.primary)).c_str(),
                                      RD_KAFKA_PARTITION_UA);
    if (const auto err = rd_kafka_subscribe(p->consumer.get(), topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(es::error{errc::client_failed, std::string("subscribe: ") + rd_kafka_err2str(err)});
    }
    std::unique_ptr<partitioned_consumer> c(new partitioned_consumer());
    c->impl_ = p;
    p->thread = std::thread([p] { p->run(p); });
    return c;
}

partitioned_consumer::~partitioned_consumer() {
    if (!impl_) return;
    impl_->stopping = true;
    if (impl_->thread.joinable()) impl_->thread.join();
    impl_->commit(true);
    rd_kafka_consumer_close(impl_->consumer.get());  // its revocation commits nothing more: stopping
    std::lock_guard lock(impl_->mu);
    ++impl_->generation;  // a `done` still to come is ignored
}

std::vector<owned_partition> partitioned_consumer::owned() const {
    std::lock_guard lock(impl_->mu);
    std::vector<owned_partition> out;
    for (const auto& [key, state] : impl_->owned) out.push_back(key);
    return out;
}

std::map<owned_partition, log_offset> partitioned_consumer::committed() const {
    std::lock_guard lock(impl_->mu);
    std::map<owned_partition, log_offset> out;
    for (const auto& [key, state] : impl_->owned) out.emplace(key, state.last_committed);
    return out;
}

consumer_stats partitioned_consumer::stats() const {
    std::lock_guard lock(impl_->mu);
    consumer_stats s = impl_->stats;
    s.held = static_cast<std::int64_t>(impl_->holds.size());
    s.in_flight = 0;
    for (const auto& [key, state] : impl_->owned) s.in_flight += static_cast<std::int64_t>(state.in_flight.size());
    return s;
}

std::int32_t partitioned_consumer::partition_count() const noexcept { return impl_->partitions; }

std::optional<std::string> partitioned_consumer::failure() const {
    std::lock_guard lock(impl_->mu);
    return impl_->failure;
}

}  // namespace shopstream::commands
