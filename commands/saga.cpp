#include "commands/saga.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "commands/executor.hpp"
#include "eventstore/log_ports.hpp"

namespace shopstream::commands {

namespace saga = domain::saga;
namespace es = eventstore;

domain::timestamp_ms system_now_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

std::string_view outcome_text(const command_result& r) {
    if (r) {
        switch (r->kind) {
            case outcome_kind::applied: return "applied";
            case outcome_kind::duplicate: return "duplicate";
            case outcome_kind::unchanged: return "unchanged";
        }
        return "applied";
    }
    switch (r.error().code) {
        case command_errc::rejected: return "rejected";
        case command_errc::precondition_failed: return "precondition_failed";
        case command_errc::conflict: return "conflict";
        case command_errc::timed_out: return "timed_out";
        case command_errc::unavailable: return "unavailable";
        case command_errc::internal: return "internal";
    }
    return "internal";
}

// Answers after which the saga decides again at once: the step's effect is in the log, or
// the decider refused it on a newer state (which the next decision sees).
bool decided(const command_result& r) { return r || r.error().code == command_errc::rejected; }

bool terminal(saga::stage s) { return s == saga::stage::completed || s == saga::stage::compensated; }

}  // namespace

struct saga_engine::core : std::enable_shared_from_this<core> {
    const order_handler& orders;
    const payment_handler& payments;
    es::commit_tail& tail;
    saga_options options;
    thread_pool pool;

    // One reaction running per order; triggers meanwhile wait for one more round.
    struct run {
        domain::order_id order;
        saga_trigger trigger;
        std::vector<std::function<void(saga_reaction)>> done;
        std::set<saga::step> tried;
        saga::stage first_stage = saga::stage::not_started;
        bool first = true;
        bool payments_checked = false;
        int steps = 0;
        bool applied_any = false;
    };
    struct lane {
        bool running = false;
        saga_trigger trigger;
        std::vector<std::function<void(saga_reaction)>> waiting;
    };
    std::mutex mu;
    std::condition_variable idle;
    std::unordered_map<std::string, lane> lanes;
    std::size_t active = 0;
    bool stopping = false;

    core(const order_handler& o, const payment_handler& p, es::commit_tail& t, saga_options opts)
        : orders(o), payments(p), tail(t), options(std::move(opts)), pool(options.threads) {}

    [[nodiscard]] domain::timestamp_ms now() const { return options.now ? options.now() : system_now_ms(); }

    void react(const domain::order_id& order, saga_trigger trigger, std::function<void(saga_reaction)> done) {
        {
            std::lock_guard lock(mu);
            if (stopping) {
                done(retry(saga::stage::not_started));  // held: whoever runs next does it
                return;
            }
            auto& l = lanes[order.value()];
            if (l.running) {
                l.waiting.push_back(std::move(done));
                if (l.trigger.correlation_id.empty()) l.trigger = std::move(trigger);
                return;
            }
            l.running = true;
            ++active;
        }
        auto r = std::make_shared<run>();
        r->order = order;
        r->trigger = std::move(trigger);
        r->done.push_back(std::move(done));
        post(r);
    }

    void post(const std::shared_ptr<run>& r) {
        auto self = shared_from_this();
        if (!pool.post([self, r] { self->decide_and_act(r); })) decide_and_act(r);
    }

    void finish(const std::shared_ptr<run>& r, saga_reaction reaction) {
        reaction.steps = r->steps;
        for (auto& d : r->done) d(reaction);
        std::shared_ptr<run> next;
        {
            std::lock_guard lock(mu);
            auto it = lanes.find(r->order.value());
            if (it != lanes.end() && !it->second.waiting.empty() && !stopping) {
                next = std::make_shared<run>();
                next->order = r->order;
                next->trigger = std::move(it->second.trigger);
                next->done = std::move(it->second.waiting);
                it->second.waiting.clear();
                it->second.trigger = {};
            } else {
                if (it != lanes.end()) {
                    for (auto& d : it->second.waiting) d(retry(saga::stage::not_started));
                    lanes.erase(it);
                }
                --active;
            }
        }
        if (next) {
            post(next);
        } else {
            idle.notify_all();
        }
    }

    saga_reaction retry(saga::stage at) const {
        return saga_reaction{at, now() + options.retry_delay.count(), false, 0};
    }

    // The store holds the order's payments partition as far as the brokers do: a timeout
    // is decided only then. Blocks this pool thread for one round trip.
    void check_payments_then_decide(const std::shared_ptr<run>& r, saga::stage at) {
        const auto count = tail.partition_count(es::context::payments);
        const auto partition = es::murmur2_partition(r->order.value(), count);
        auto end = tail.query_log_end(es::context::payments, partition, std::chrono::milliseconds(2'000));
        if (!end) {
            spdlog::warn("saga {}: cannot read the end of payments.events partition {} before timing the payment out: "
                         "{} (retried)", r->order.value(), partition.value(), end.error());
            return finish(r, retry(at));
        }
        if (tail.applied_through(es::context::payments, partition) >= *end || end->value() == 0) {
            return decide_and_act(r);
        }
        auto self = shared_from_this();
        tail.await_position(es::context::payments, es::position{partition, es::log_offset(end->value() - 1)},
                            es::clock::now() + options.command_timeout, [self, r, at](result<void, es::wait_error> w) {
                                if (!w) return self->finish(r, self->retry(at));
                                self->post(r);
                            });
    }

    void decide_and_act(const std::shared_ptr<run>& r) {
        auto o = orders.current(r->order.value());
        auto p = payments.current(saga::payment_id_for(r->order).value());
        if (!o || !p) {
            spdlog::error("saga {}: cannot read the store: {}", r->order.value(), !o ? o.error() : p.error());
            return finish(r, retry(saga::stage::not_started));
        }
        const domain::order::state order_state = *o ? (*o)->state : domain::order::initial_state();
        const domain::payment::state payment_state = *p ? (*p)->state : domain::payment::initial_state();
        const saga::decision d = saga::decide(order_state, payment_state, now(), options.decisions);
        if (r->first) {
            r->first = false;
            r->first_stage = d.stage;
        } else if (r->applied_any && options.observer != nullptr) {
            options.observer->on_stage(d.stage);
        }
        if (d.commands.empty() || r->tried.contains(d.commands.front().step)) {
            if (r->applied_any && terminal(d.stage)) {
                spdlog::info("saga {}: {} (correlation id {})", r->order.value(), saga::stage_name(d.stage),
                             r->trigger.correlation_id);
            }
            return finish(r, saga_reaction{d.stage, d.wake_at, true, 0});
        }
        const saga::next_command& next = d.commands.front();
        if (next.step == saga::step::reject_timeout && !r->payments_checked) {
            r->payments_checked = true;
            auto self = shared_from_this();
            const saga::stage at = d.stage;
            if (!pool.post([self, r, at] { self->check_payments_then_decide(r, at); })) {
                return finish(r, retry(at));
            }
            return;
        }
        r->tried.insert(next.step);
        ++r->steps;
        command_metadata meta{next.id.value(), r->trigger.correlation_id, r->trigger.causation_id, ""};
        command_options opts;
        opts.timeout = options.command_timeout;
        auto self = shared_from_this();
        const saga::step step = next.step;
        const saga::stage at = d.stage;
        auto answered = [self, r, step, at](command_result result) {
            const std::string_view outcome = outcome_text(result);
            if (self->options.observer != nullptr) self->options.observer->on_step(r->order, step, outcome);
            if (result && result->kind == outcome_kind::applied) {
                r->applied_any = true;
                spdlog::info("saga {}: {} -> {} {} (correlation id {})", r->order.value(), saga::stage_name(at),
                             saga::step_name(step), outcome, r->trigger.correlation_id);
            } else if (decided(result)) {
                spdlog::debug("saga {}: {} -> {} {} (correlation id {})", r->order.value(), saga::stage_name(at),
                              saga::step_name(step), outcome, r->trigger.correlation_id);
            } else {
                spdlog::warn("saga {}: {} -> {} {}: {} (retried in {} ms; correlation id {})", r->order.value(),
                             saga::stage_name(at), saga::step_name(step), outcome, result.error().message,
                             self->options.retry_delay.count(), r->trigger.correlation_id);
            }
            if (!decided(result)) return self->finish(r, self->retry(at));
            self->decide_and_act(r);
        };
        std::visit(
            [&](auto&& c) {
                using C = std::decay_t<decltype(c)>;
                if constexpr (std::is_constructible_v<domain::order::command, C>) {
                    orders.handle(domain::order::command{std::move(c)}, std::move(meta), opts, std::move(answered));
                } else {
                    payments.handle(domain::payment::command{std::move(c)}, std::move(meta), opts,
                                    std::move(answered));
                }
            },
            saga::saga_command(next.command));
    }

    void stop() {
        std::unique_lock lock(mu);
        stopping = true;
        idle.wait(lock, [this] { return active == 0; });
        lock.unlock();
        pool.stop();
    }
};

saga_engine::saga_engine(const order_handler& orders, const payment_handler& payments, es::commit_tail& tail,
                         saga_options options)
    : core_(std::make_shared<core>(orders, payments, tail, std::move(options))) {}

saga_engine::~saga_engine() { stop(); }

void saga_engine::stop() { core_->stop(); }

void saga_engine::react(const domain::order_id& order, saga_trigger trigger, std::function<void(saga_reaction)> done) {
    core_->react(order, std::move(trigger), std::move(done));
}

saga_reaction saga_engine::react_sync(const domain::order_id& order, saga_trigger trigger) {
    std::promise<saga_reaction> promise;
    auto future = promise.get_future();
    react(order, std::move(trigger), [&promise](saga_reaction r) { promise.set_value(r); });
    return future.get();
}

// ---- the runtime ---------------------------------------------------------------------

result<std::unique_ptr<saga_runtime>, es::error> saga_runtime::start(saga_runtime_options options, saga_engine& engine,
                                                                     es::commit_tail& tail,
                                                                     std::function<domain::timestamp_ms()> now,
                                                                     commit_observer on_committed) {
    consumer_options c;
    c.bootstrap_servers = options.bootstrap_servers;
    c.group_id = options.group_id;
    c.primary = es::context::orders;
    c.co_partitioned = {es::context::payments};
    c.hold_latest_per_key = true;
    c.commit_interval = options.commit_interval;
    c.fetch_wait = options.fetch_wait;
    c.extra = options.extra;
    c.now = now;
    c.on_committed = std::move(on_committed);
    const auto apply_timeout = options.apply_timeout;
    auto clock_now = now ? now : std::function<domain::timestamp_ms()>(&system_now_ms);
    auto handler = [&engine, &tail, apply_timeout, clock_now](const consumed_record& record, record_done done) {
        // The store decides; it must hold this record first. The wait's callback runs on the
        // tail's thread: the engine posts its work to its own pool.
        const domain::order_id order{record.key};
        saga_trigger trigger{record.correlation_id, record.command_id};
        tail.await_position(record.ctx, record.at, es::clock::now() + apply_timeout,
                            [&engine, order, trigger = std::move(trigger), done = std::move(done), clock_now,
                             apply_timeout](result<void, es::wait_error> applied) mutable {
                                if (!applied) {
                                    // Stopping: left in flight, so the checkpoint stays below it.
                                    if (applied.error().code == es::wait_errc::stopped) return;
                                    return done(clock_now() + apply_timeout.count());
                                }
                                engine.react(order, std::move(trigger), [done = std::move(done)](saga_reaction r) {
                                    done(r.wake_at);
                                });
                            });
    };
    auto consumer = partitioned_consumer::start(std::move(c), std::move(handler));
    if (!consumer) return fail(std::move(consumer.error()));
    std::unique_ptr<saga_runtime> r(new saga_runtime());
    r->consumer_ = std::move(*consumer);
    return r;
}

saga_runtime::~saga_runtime() = default;

}  // namespace shopstream::commands
