#include "eventstore/memory_log.hpp"

#include <utility>

#include "eventstore/producer.hpp"
#include "eventstore/tail.hpp"

namespace shopstream::eventstore {

clock::time_point manual_clock::now() const {
    std::lock_guard lock(mu_);
    return now_;
}

void manual_clock::advance(clock::duration by) {
    std::lock_guard lock(mu_);
    now_ += by;
}

struct memory_log::impl {
    impl(state_store& s, const clock_source& c, std::int32_t n) : store(s), clock(c), partitions(n) {
        for (const context ctx : all_contexts) logs[ctx].resize(static_cast<std::size_t>(n));
    }

    struct record {
        std::string key;
        std::vector<std::uint8_t> value;
        commit_headers headers;
    };
    struct waiter {
        // verdict waits
        context ctx = context::orders;
        std::string aggregate_id;
        std::string command_id;
        std::uint64_t expected_version = 0;
        verdict_callback on_verdict;
        // position waits
        std::optional<position> at;
        position_callback on_position;
        clock::time_point deadline;
    };

    state_store& store;
    const clock_source& clock;
    std::int32_t partitions;

    mutable std::mutex mu;
    std::map<context, std::vector<std::vector<record>>> logs;
    std::map<std::pair<context, partition_id>, log_offset> applied;  // next offset to apply
    std::map<ticket, waiter> waiting;
    ticket next_ticket = 1;
    bool hold_delivery = false;
    bool hold_apply = false;
    bool stopped = false;
    std::deque<append_fault> faults;
    std::optional<std::string> log_end_failure;
    std::vector<std::function<void()>> held_reports;
    std::size_t appends = 0;
    mutable std::size_t log_end_queries = 0;

    position put(context ctx, aggregate_ref aggregate, std::span<const std::uint8_t> value,
                 const commit_metadata* metadata = nullptr) {
        const std::string_view key = aggregate.value();
        const partition_id p = murmur2_partition(key, partitions);
        auto& log = logs[ctx][static_cast<std::size_t>(p.value())];
        commit_headers headers;
        if (metadata != nullptr) {
            headers = commit_headers{-1, metadata->command_type, metadata->correlation_id, metadata->causation_id,
                                     metadata->actor, metadata->traceparent};
        }
        log.push_back(record{std::string(key), {value.begin(), value.end()}, std::move(headers)});
        return {p, log_offset(static_cast<std::int64_t>(log.size()) - 1)};
    }
};

memory_log::memory_log(state_store& store, const clock_source& time, std::int32_t partitions_per_context)
    : impl_(std::make_unique<impl>(store, time, partitions_per_context)) {}

memory_log::~memory_log() { stop(); }

void memory_log::append(context ctx, aggregate_ref key, std::span<const std::uint8_t> value,
                        const commit_metadata& metadata, append_callback done) {
    std::function<void()> report;
    bool apply_now = false;
    {
        std::lock_guard lock(impl_->mu);
        ++impl_->appends;
        append_fault fault = append_fault::none;
        if (!impl_->faults.empty()) {
            fault = impl_->faults.front();
            impl_->faults.pop_front();
        }
        if (fault == append_fault::backpressure) {
            report = [done = std::move(done)] {
                done(fail(append_error{append_errc::backpressure, "the local queue is full"}));
            };
        } else {
            std::optional<position> at;
            if (fault == append_fault::none || fault == append_fault::possibly_persisted_kept) {
                at = impl_->put(ctx, key, value, &metadata);
            }
            report = [done = std::move(done), fault, at] {
                switch (fault) {
                    case append_fault::none: done(*at); return;
                    case append_fault::not_persisted:
                        done(fail(append_error{append_errc::not_persisted, "refused by the log"}));
                        return;
                    default:
                        done(fail(append_error{append_errc::possibly_persisted, "sent and not acknowledged"}));
                        return;
                }
            };
            apply_now = !impl_->hold_apply && at.has_value();
        }
        if (impl_->hold_delivery && fault != append_fault::backpressure) {
            impl_->held_reports.push_back(std::move(report));
            report = nullptr;
        }
    }
    if (report) report();
    if (apply_now) (void)apply();
}

position memory_log::write(context ctx, aggregate_ref key, std::span<const std::uint8_t> value) {
    position at;
    bool apply_now = false;
    {
        std::lock_guard lock(impl_->mu);
        at = impl_->put(ctx, key, value);
        apply_now = !impl_->hold_apply;
    }
    if (apply_now) (void)apply();
    return at;
}

std::optional<commit_tail::ticket> memory_log::await_verdict(context ctx, aggregate_ref aggregate_id,
                                                             command_ref command_id,
                                                             std::uint64_t expected_version,
                                                             clock::time_point deadline, verdict_callback done) {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return std::nullopt;
    impl::waiter w;
    w.ctx = ctx;
    w.aggregate_id = std::string(aggregate_id.value());
    w.command_id = std::string(command_id.value());
    w.expected_version = expected_version;
    w.on_verdict = std::move(done);
    w.deadline = deadline;
    const ticket t = impl_->next_ticket++;
    impl_->waiting.emplace(t, std::move(w));
    return t;
}

void memory_log::await_position(context ctx, position p, clock::time_point deadline, position_callback done) {
    {
        std::lock_guard lock(impl_->mu);
        if (!impl_->stopped && p.partition.value() >= 0 && p.partition.value() < impl_->partitions) {
            if (impl_->applied[{ctx, p.partition}] <= p.offset) {
                impl::waiter w;
                w.ctx = ctx;
                w.at = p;
                w.on_position = std::move(done);
                w.deadline = deadline;
                impl_->waiting.emplace(impl_->next_ticket++, std::move(w));
                return;
            }
        }
        if (impl_->stopped) {
            done = [done = std::move(done)](result<void, wait_error>) {
                done(fail(wait_error{wait_errc::stopped, "the tail stopped"}));
            };
        } else if (p.partition.value() < 0 || p.partition.value() >= impl_->partitions) {
            done = [done = std::move(done)](result<void, wait_error>) {
                done(fail(wait_error{wait_errc::timed_out, "no such partition"}));
            };
        }
    }
    done({});
}

bool memory_log::cancel(ticket t) {
    std::lock_guard lock(impl_->mu);
    return impl_->waiting.erase(t) > 0;
}

log_offset memory_log::applied_through(context ctx, partition_id partition) const {
    std::lock_guard lock(impl_->mu);
    const auto found = impl_->applied.find({ctx, partition});
    return found == impl_->applied.end() ? log_offset(0) : found->second;
}

result<log_offset, error> memory_log::query_log_end(context ctx, partition_id partition,
                                                          std::chrono::milliseconds) const {
    std::lock_guard lock(impl_->mu);
    ++impl_->log_end_queries;
    if (impl_->log_end_failure) return fail(error{errc::unreachable, *impl_->log_end_failure});
    return log_offset(static_cast<std::int64_t>(impl_->logs.at(ctx).at(static_cast<std::size_t>(partition.value())).size()));
}

std::int32_t memory_log::partition_count(context) const { return impl_->partitions; }

void memory_log::hold_delivery(bool hold) {
    std::lock_guard lock(impl_->mu);
    impl_->hold_delivery = hold;
}

void memory_log::hold_apply(bool hold) {
    std::lock_guard lock(impl_->mu);
    impl_->hold_apply = hold;
}

void memory_log::inject(append_fault fault, int count) {
    std::lock_guard lock(impl_->mu);
    for (int i = 0; i < count; ++i) impl_->faults.push_back(fault);
}

void memory_log::fail_log_end_queries(std::optional<std::string> message) {
    std::lock_guard lock(impl_->mu);
    impl_->log_end_failure = std::move(message);
}

std::size_t memory_log::deliver() {
    std::vector<std::function<void()>> reports;
    {
        std::lock_guard lock(impl_->mu);
        reports.swap(impl_->held_reports);
    }
    for (auto& r : reports) r();
    return reports.size();
}

std::size_t memory_log::apply() {
    std::vector<std::pair<verdict_callback, verdict_report>> verdicts;
    std::vector<position_callback> positions;
    std::size_t count = 0;
    {
        std::lock_guard lock(impl_->mu);
        if (impl_->stopped) return 0;
        auto batch = impl_->store.begin_write();
        if (!batch) throw std::runtime_error("memory_log: " + batch.error().message);
        batch_applier applier(*batch);
        struct judged_record {
            context ctx;
            batch_applier::judged j;
            std::string key;
        };
        std::vector<judged_record> judged;
        std::map<std::pair<context, partition_id>, log_offset> advanced;
        for (auto& [ctx, partitions] : impl_->logs) {
            for (std::int32_t raw = 0; raw < impl_->partitions; ++raw) {
                const partition_id p(raw);
                const auto& log = partitions[static_cast<std::size_t>(raw)];
                log_offset next = impl_->applied[{ctx, p}];
                for (; next.value() < static_cast<std::int64_t>(log.size()); ++next) {
                    const auto& r = log[static_cast<std::size_t>(next.value())];
                    auto j = applier.apply(
                        ctx, {p, next}, r.key, r.value,
                        [](const void* rec) { return static_cast<const impl::record*>(rec)->headers; }, &r);
                    if (!j) throw std::runtime_error("memory_log: " + j.error().message);
                    if (*j) judged.push_back({ctx, std::move(**j), r.key});
                    ++count;
                }
                if (next != impl_->applied[{ctx, p}]) {
                    advanced[{ctx, p}] = next;
                    if (auto r = batch->set_checkpoint(ctx, p, next); !r) {
                        throw std::runtime_error("memory_log: " + r.error().message);
                    }
                }
            }
        }
        if (auto r = applier.finish(); !r) throw std::runtime_error("memory_log: " + r.error().message);
        if (auto r = batch->commit(); !r) throw std::runtime_error("memory_log: " + r.error().message);
        for (const auto& [where, next] : advanced) impl_->applied[where] = next;
        for (auto& jr : judged) {
            for (auto it = impl_->waiting.begin(); it != impl_->waiting.end();) {
                const auto& w = it->second;
                if (w.on_verdict && w.ctx == jr.ctx && w.aggregate_id == jr.key && w.command_id == jr.j.command_id &&
                    w.expected_version == jr.j.expected_version) {
                    verdicts.emplace_back(std::move(it->second.on_verdict), jr.j.report);
                    it = impl_->waiting.erase(it);
                } else {
                    ++it;
                }
            }
        }
        for (auto it = impl_->waiting.begin(); it != impl_->waiting.end();) {
            const auto& w = it->second;
            if (w.at && impl_->applied[{w.ctx, w.at->partition}] > w.at->offset) {
                positions.push_back(std::move(it->second.on_position));
                it = impl_->waiting.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& [cb, report] : verdicts) cb(report);
    for (auto& cb : positions) cb({});
    return count;
}

std::size_t memory_log::expire() {
    std::vector<impl::waiter> expired;
    {
        std::lock_guard lock(impl_->mu);
        const auto now = impl_->clock.now();
        for (auto it = impl_->waiting.begin(); it != impl_->waiting.end();) {
            if (it->second.deadline <= now) {
                expired.push_back(std::move(it->second));
                it = impl_->waiting.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& w : expired) {
        if (w.on_verdict) {
            w.on_verdict(fail(wait_error{wait_errc::timed_out, "no verdict before the deadline"}));
        } else {
            w.on_position(fail(wait_error{wait_errc::timed_out, "the position was not applied before the deadline"}));
        }
    }
    return expired.size();
}

void memory_log::stop() {
    std::map<ticket, impl::waiter> all;
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopped = true;
        all.swap(impl_->waiting);
    }
    for (auto& [t, w] : all) {
        if (w.on_verdict) {
            w.on_verdict(fail(wait_error{wait_errc::stopped, "the tail stopped"}));
        } else {
            w.on_position(fail(wait_error{wait_errc::stopped, "the tail stopped"}));
        }
    }
}

log_offset memory_log::log_end(context ctx, partition_id partition) const {
    std::lock_guard lock(impl_->mu);
    return log_offset(static_cast<std::int64_t>(impl_->logs.at(ctx).at(static_cast<std::size_t>(partition.value())).size()));
}

std::size_t memory_log::appends() const {
    std::lock_guard lock(impl_->mu);
    return impl_->appends;
}

std::size_t memory_log::waits() const {
    std::lock_guard lock(impl_->mu);
    return impl_->waiting.size();
}

std::size_t memory_log::log_end_queries() const {
    std::lock_guard lock(impl_->mu);
    return impl_->log_end_queries;
}

}  // namespace shopstream::eventstore
