#include "commands/command_handler.hpp"

#include <future>
#include <memory>
#include <shared_mutex>
#include <variant>

#include "eventstore/commit.hpp"

namespace shopstream::commands {
namespace {

using eventstore::clock;


command_error error_of(command_errc code, std::string message) {
    return command_error{code, {}, std::move(message)};
}

observed_outcome observed(const command_result& r) {
    if (r) {
        switch (r->kind) {
            case outcome_kind::applied: return observed_outcome::applied;
            case outcome_kind::duplicate: return observed_outcome::duplicate;
            case outcome_kind::unchanged: return observed_outcome::unchanged;
        }
        return observed_outcome::internal;
    }
    switch (r.error().code) {
        case command_errc::rejected: return observed_outcome::rejected;
        case command_errc::precondition_failed: return observed_outcome::precondition_failed;
        case command_errc::conflict: return observed_outcome::conflict;
        case command_errc::timed_out: return observed_outcome::timed_out;
        case command_errc::unavailable: return observed_outcome::unavailable;
        case command_errc::internal: return observed_outcome::internal;
    }
    return observed_outcome::internal;
}

std::string_view role_name(domain::role r) {
    switch (r) {
        case domain::role::customer: return "customer";
        case domain::role::admin: return "admin";
        case domain::role::system: return "system";
    }
    return "unknown";
}

}  // namespace

namespace detail {

// What every command of one handler shares. Attempts hold it, so it outlives the handler
// while callbacks of the tail or the producer may still reach an attempt.
struct handler_core {
    handler_core(store_runtime r, const handler_options& o)
        : rt(r),
          observer(o.observer),
          clock(o.clock != nullptr ? *o.clock : eventstore::steady_clock_source()),
          owned(o.continuations == nullptr ? std::make_unique<thread_pool>(o.threads) : nullptr),
          continuations(o.continuations != nullptr ? *o.continuations : *owned),
          log_end_timeout(o.log_end_timeout) {}

    store_runtime rt;
    command_observer* observer;  // may be null
    const eventstore::clock_source& clock;
    std::unique_ptr<thread_pool> owned;
    executor& continuations;
    std::chrono::milliseconds log_end_timeout;
    aggregate_lanes lanes;

    // Appends take it shared and check `stopping`; stop() takes it exclusively, so once
    // stop() has set the flag no thread is inside, or will enter, the appender.
    std::shared_mutex gate;
    bool stopping = false;

    [[nodiscard]] bool is_stopping() {
        std::shared_lock lock(gate);
        return stopping;
    }

    // Runs `work` on the executor; inline when it is stopping (work then sees `stopping`
    // and finishes without producing).
    void continue_with(std::function<void()> work) {
        if (!continuations.post(work)) work();
    }

    void stop() {
        {
            std::unique_lock lock(gate);
            stopping = true;
        }
        if (owned) owned->stop();
    }
};

}  // namespace detail

namespace {

// One command's progress through decide → append → verdict, kept alive by the
// callbacks that continue it.
template <class Aggregate>
struct attempt : std::enable_shared_from_this<attempt<Aggregate>> {
    std::shared_ptr<detail::handler_core> core;
    typename Aggregate::command command;
    command_metadata metadata;
    command_options options;
    command_callback done;
    std::string aggregate_id;
    clock::time_point deadline;
    int attempts = 0;
    // Whether the partition's end has been asked of the brokers for this command's
    // expected version (at most once: after the store applied that far, a version still
    // missing is beyond what the log held).
    bool log_end_checked = false;
    clock::time_point produced_at;  // of the latest commit, with an observer

    attempt(std::shared_ptr<detail::handler_core> c, typename Aggregate::command cmd, command_metadata m,
            command_options o, command_callback d)
        : core(std::move(c)), command(std::move(cmd)), metadata(std::move(m)), options(o), done(std::move(d)),
          aggregate_id(Aggregate::aggregate_id(command)), deadline(core->clock.now() + options.timeout) {}

    [[nodiscard]] clock::time_point now() const { return core->clock.now(); }

    void finish(command_result r) {
        auto cb = std::move(done);
        done = nullptr;
        if (!cb) return;
        if (core->observer != nullptr) {
            core->observer->on_outcome(Aggregate::ctx, Aggregate::command_name(command), observed(r));
        }
        cb(std::move(r));
        if (auto next = core->lanes.release(aggregate_id)) core->continue_with(std::move(next));
    }

    // Continues on the executor (see command_handler.hpp, "Threads").
    template <class F>
    void later(F&& f) {
        core->continue_with([self = this->shared_from_this(), f = std::forward<F>(f)]() mutable { f(*self); });
    }

    void step() {
        if (core->is_stopping()) {
            finish(fail(error_of(command_errc::unavailable, "shutting down: nothing was appended")));
            return;
        }
        if (now() >= deadline) {
            // Every commit this command produced before was judged a loser: nothing of it
            // can apply any more.
            finish(fail(error_of(command_errc::unavailable, "no decision before the deadline; nothing was appended")));
            return;
        }
        auto loaded = load();
        if (!loaded) {
            finish(fail(error_of(command_errc::internal, loaded.error().message)));
            return;
        }
        eventstore::stored_aggregate stored = std::move(loaded->aggregate).value_or(eventstore::stored_aggregate{});
        const std::uint64_t version = stored.head.version;

        // A retry of a command that already won: the first answer again.
        for (auto it = stored.head.recent_commands.rbegin(); it != stored.head.recent_commands.rend(); ++it) {
            if (it->command_id == metadata.command_id) {
                finish(command_outcome{outcome_kind::duplicate, aggregate_id, it->version, it->at, attempts});
                return;
            }
        }
        if (options.expected_version && *options.expected_version != version) {
            if (*options.expected_version > version && !log_end_checked) {
                log_end_checked = true;
                later([](attempt& a) { a.catch_up_with_log_end(); });  // a blocking round trip
                return;
            }
            fail_precondition(version);
            return;
        }

        auto state = Aggregate::decode_state(stored.snapshot);
        if (!state) {
            finish(fail(error_of(command_errc::internal, "cannot read the stored state of " + aggregate_id +
                                                             ": " + state.error().detail)));
            return;
        }
        if constexpr (eventstore::has_side_index<Aggregate>) {
            if (!Aggregate::with_member(command, *state, loaded->member_value)) {
                finish(fail(error_of(command_errc::internal,
                                     "the state store's side index of " + aggregate_id + " holds an unreadable entry")));
                return;
            }
        }
        auto decision = Aggregate::decider::decide(command, *state);
        if (!decision) {
            finish(fail(command_error{command_errc::rejected, std::move(decision.error()), {}}));
            return;
        }
        if (decision->empty()) {
            std::optional<eventstore::position> last;
            if (!stored.head.recent_commands.empty()) last = stored.head.recent_commands.back().at;
            finish(command_outcome{outcome_kind::unchanged, aggregate_id, version, last, attempts});
            return;
        }
        append(version, *decision);
    }

    // The aggregate and, for one with a side index, the entry the command needs, in one
    // read transaction (eventstore/aggregates.hpp, "side indexes").
    [[nodiscard]] result<eventstore::aggregate_with_member, eventstore::store_error> load() const {
        constexpr auto ctx = Aggregate::ctx;
        if constexpr (eventstore::has_side_index<Aggregate>) {
            if (const auto member = Aggregate::member_probe(command)) {
                return core->rt.store.load_with_member(ctx, aggregate_id, *member);
            }
        }
        auto loaded = core->rt.store.load(ctx, aggregate_id);
        if (!loaded) return fail(std::move(loaded.error()));
        return eventstore::aggregate_with_member{std::move(*loaded), std::nullopt};
    }

    void fail_precondition(std::uint64_t version) {
        finish(fail(error_of(command_errc::precondition_failed,
                             "expected version " + std::to_string(*options.expected_version) +
                                 " but the aggregate is at version " + std::to_string(version))));
    }

    // The command expects a version the local store has not reached. Another writer may
    // have reached it, and this tail not applied it yet (busy, or its view of the log end
    // a fetch old): ask the brokers where the partition ends now, wait (within the
    // deadline) until the store applied that far, then decide again - so precondition_failed
    // only ever means the version is beyond what the log held. Runs on the executor.
    void catch_up_with_log_end() {
        constexpr auto ctx = Aggregate::ctx;
        const eventstore::partition_id partition = eventstore::murmur2_partition(aggregate_id, core->rt.tail.partition_count(ctx));
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now());
        auto end = core->rt.tail.query_log_end(ctx, partition, std::min(left, core->log_end_timeout));
        if (!end) {
            finish(fail(error_of(command_errc::unavailable, "nothing was appended: " + end.error().message)));
            return;
        }
        if (core->rt.tail.applied_through(ctx, partition) >= *end) {
            step();
            return;
        }
        core->rt.tail.await_position(ctx, {partition, *end - 1}, deadline,
                                     [self = this->shared_from_this()](result<void, eventstore::wait_error> r) {
                                         if (!r && r.error().code == eventstore::wait_errc::stopped) {
                                             self->finish(fail(error_of(command_errc::unavailable, r.error().message)));
                                             return;
                                         }
                                         // Past the deadline, step() answers so.
                                         self->later([](attempt& a) { a.step(); });
                                     });
    }

    void append(std::uint64_t version, const std::vector<typename Aggregate::event>& events) {
        constexpr auto ctx = Aggregate::ctx;
        eventstore::commit c;
        c.aggregate_id = aggregate_id;
        c.expected_version = version;
        c.command_id = metadata.command_id;
        c.events.reserve(events.size());
        std::string event_types;
        for (const auto& e : events) {
            c.events.push_back(Aggregate::encode_event(e));
            if (!event_types.empty()) event_types.push_back(',');
            event_types.append(Aggregate::event_name(e));
        }
        const auto value = eventstore::encode_commit(c);
        const domain::actor& by = std::visit([](const auto& cmd) -> const domain::actor& { return cmd.by; }, command);
        eventstore::commit_metadata headers{std::string(Aggregate::command_name(command)),
                                            std::move(event_types),
                                            metadata.command_id,
                                            metadata.correlation_id,
                                            metadata.causation_id,
                                            std::string(role_name(by.role)) + ":" + by.id,
                                            metadata.traceparent};
        auto self = this->shared_from_this();
        std::shared_lock gate(core->gate);
        if (core->stopping) {
            gate.unlock();
            finish(fail(error_of(command_errc::unavailable, "shutting down: nothing was appended")));
            return;
        }
        ++attempts;
        // Set before the wait is registered (under the tail's lock), so the tail's thread
        // reads it after this write.
        if (core->observer != nullptr) produced_at = now();
        // Registered before producing, so the verdict cannot be missed.
        const auto registered = core->rt.tail.await_verdict(
            ctx, eventstore::aggregate_ref(aggregate_id), eventstore::command_ref(metadata.command_id), version, deadline,
            [self](result<eventstore::verdict_report, eventstore::wait_error> r) {
                self->later([r = std::move(r)](attempt& a) mutable { a.on_verdict(std::move(r)); });
            });
        if (!registered) {
            gate.unlock();
            finish(fail(error_of(command_errc::unavailable, "shutting down: nothing was appended")));
            return;
        }
        const auto ticket = *registered;
        core->rt.producer.append(
            ctx, eventstore::aggregate_ref(aggregate_id), value, headers, [self, ticket](result<eventstore::position, eventstore::append_error> r) {
                if (r) {  // the verdict answers
                    if (self->core->observer != nullptr) self->core->observer->on_appended(Aggregate::ctx);
                    return;
                }
                // A commit that may be in the log may still win: its verdict (or the
                // deadline) answers. Only one that is certainly not there is 503.
                if (eventstore::may_be_in_log(r.error().code)) return;
                if (!self->core->rt.tail.cancel(ticket)) return;  // already answered
                self->later([message = std::move(r.error().message)](attempt& a) {
                    a.finish(fail(error_of(command_errc::unavailable, "the log did not take the commit: " + message)));
                });
            });
    }

    void on_verdict(result<eventstore::verdict_report, eventstore::wait_error> r) {
        if (!r) {
            // A commit was produced: without its verdict (deadline, or the tail stopped
            // first) it may still apply.
            finish(fail(error_of(command_errc::timed_out, "outcome unknown: " + r.error().message +
                                                              "; a retry with the same command id is safe")));
            return;
        }
        if (core->observer != nullptr) core->observer->on_verdict(Aggregate::ctx, now() - produced_at);
        switch (r->verdict) {
            case eventstore::verdict::applied:
                finish(command_outcome{outcome_kind::applied, aggregate_id, r->version, r->at, attempts});
                return;
            case eventstore::verdict::duplicate:
                finish(command_outcome{outcome_kind::duplicate, aggregate_id, r->version, r->at, attempts});
                return;
            case eventstore::verdict::loser: break;
        }
        if (options.expected_version) {
            finish(fail(error_of(command_errc::precondition_failed,
                                 "expected version " + std::to_string(*options.expected_version) +
                                     " but a concurrent command moved the aggregate to version " +
                                     std::to_string(r->version))));
            return;
        }
        if (attempts >= options.max_attempts) {
            finish(fail(error_of(command_errc::conflict, "lost " + std::to_string(attempts) +
                                                             " times to concurrent commands on " + aggregate_id)));
            return;
        }
        if (core->observer != nullptr) {
            core->observer->on_outcome(Aggregate::ctx, Aggregate::command_name(command),
                                       observed_outcome::conflict_retried);
        }
        step();  // the tail applied the winner before judging us: the store is fresh
    }
};

}  // namespace

namespace detail {

bool aggregate_lanes::enter(const std::string& aggregate_id, std::function<void()> start) {
    std::lock_guard lock(mu_);
    auto [it, fresh] = waiting_.try_emplace(aggregate_id);
    if (!fresh) it->second.push_back(std::move(start));
    return fresh;
}

std::function<void()> aggregate_lanes::release(const std::string& aggregate_id) {
    std::lock_guard lock(mu_);
    auto it = waiting_.find(aggregate_id);
    if (it == waiting_.end()) return {};
    if (it->second.empty()) {
        waiting_.erase(it);
        return {};
    }
    auto next = std::move(it->second.front());
    it->second.pop_front();
    return next;
}

}  // namespace detail

template <class Aggregate>
command_handler<Aggregate>::command_handler(store_runtime runtime, command_observer* observer)
    : command_handler(runtime, handler_options{.observer = observer}) {}

template <class Aggregate>
command_handler<Aggregate>::command_handler(store_runtime runtime, handler_options options)
    : core_(std::make_shared<detail::handler_core>(runtime, options)) {}

template <class Aggregate>
command_handler<Aggregate>::~command_handler() {
    stop();
}

template <class Aggregate>
void command_handler<Aggregate>::stop() {
    core_->stop();
}

template <class Aggregate>
void command_handler<Aggregate>::handle(typename Aggregate::command command, command_metadata metadata,
                                        command_options options, command_callback done) const {
    auto* observer = core_->observer;
    auto refuse = [&](command_error e) {
        if (observer != nullptr) {
            observer->on_outcome(Aggregate::ctx, Aggregate::command_name(command),
                                 observed(command_result(fail(e))));
        }
        done(fail(std::move(e)));
    };
    if (metadata.command_id.empty() || metadata.command_id.size() > 255) {
        return refuse(command_error{command_errc::rejected,
                                    {domain::rejection_code::invalid, "", "a command id of 1-255 bytes is required"},
                                    {}});
    }
    if (core_->is_stopping()) {
        return refuse(error_of(command_errc::unavailable, "shutting down: nothing was appended"));
    }
    auto a = std::make_shared<attempt<Aggregate>>(core_, std::move(command), std::move(metadata), options,
                                                  std::move(done));
    if (core_->lanes.enter(a->aggregate_id, [a] { a->step(); })) a->step();
}

template <class Aggregate>
command_result command_handler<Aggregate>::handle_sync(typename Aggregate::command command,
                                                       command_metadata metadata, command_options options) const {
    std::promise<command_result> promise;
    auto future = promise.get_future();
    handle(std::move(command), std::move(metadata), options,
           [&promise](command_result r) { promise.set_value(std::move(r)); });
    return future.get();
}

template <class Aggregate>
result<std::optional<current_aggregate<Aggregate>>, std::string> command_handler<Aggregate>::current(
    std::string_view aggregate_id) const {
    auto loaded = core_->rt.store.load(Aggregate::ctx, aggregate_id);
    if (!loaded) return fail(std::move(loaded.error().message));
    if (!*loaded) return std::optional<current_aggregate<Aggregate>>{};
    auto state = Aggregate::decode_state((*loaded)->snapshot);
    if (!state) return fail("cannot read the stored state of " + std::string(aggregate_id) + ": " + state.error().detail);
    current_aggregate<Aggregate> out{(*loaded)->head.version, std::move(*state), std::nullopt};
    if (!(*loaded)->head.recent_commands.empty()) out.last_commit = (*loaded)->head.recent_commands.back().at;
    return std::optional<current_aggregate<Aggregate>>{std::move(out)};
}

template class command_handler<eventstore::order_aggregate>;
template class command_handler<eventstore::payment_aggregate>;
template class command_handler<eventstore::review_aggregate>;

}  // namespace shopstream::commands
