#include "commands/command_handler.hpp"

#include <future>
#include <memory>
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

// One command's progress through decide → append → verdict, kept alive by the
// callbacks that continue it.
template <class Aggregate>
struct attempt : std::enable_shared_from_this<attempt<Aggregate>> {
    store_runtime rt;
    command_observer* observer;  // may be null
    std::shared_ptr<detail::aggregate_lanes> lanes;
    typename Aggregate::command command;
    command_metadata metadata;
    command_options options;
    command_callback done;
    std::string aggregate_id;
    clock::time_point deadline;
    int attempts = 0;
    // Until when a command expecting a version the store has not reached waits for the
    // partition's next records when the tail knows of none yet (set at the first such wait).
    clock::time_point quiet_until{};
    clock::time_point produced_at;  // of the latest commit, with an observer

    attempt(store_runtime r, command_observer* obs, std::shared_ptr<detail::aggregate_lanes> l,
            typename Aggregate::command c, command_metadata m, command_options o, command_callback d)
        : rt(r), observer(obs), lanes(std::move(l)), command(std::move(c)), metadata(std::move(m)), options(o), done(std::move(d)),
          aggregate_id(Aggregate::aggregate_id(command)), deadline(clock::now() + options.timeout) {}

    void finish(command_result r) {
        auto cb = std::move(done);
        done = nullptr;
        if (!cb) return;
        if (observer != nullptr) observer->on_outcome(Aggregate::ctx, Aggregate::command_name(command), observed(r));
        cb(std::move(r));
        lanes->release(aggregate_id);
    }

    void step() {
        constexpr auto ctx = Aggregate::ctx;
        if (clock::now() >= deadline) {
            finish(fail(error_of(command_errc::timed_out, "no verdict before the deadline")));
            return;
        }
        auto loaded = rt.store.load(ctx, aggregate_id);
        if (!loaded) {
            finish(fail(error_of(command_errc::internal, loaded.error().message)));
            return;
        }
        eventstore::stored_aggregate stored = loaded->value_or(eventstore::stored_aggregate{});
        const std::uint64_t version = stored.head.version;

        // A retry of a command that already won: the first answer again.
        for (auto it = stored.head.recent_commands.rbegin(); it != stored.head.recent_commands.rend(); ++it) {
            if (it->command_id == metadata.command_id) {
                finish(command_outcome{outcome_kind::duplicate, aggregate_id, it->version, it->at, attempts});
                return;
            }
        }
        if (options.expected_version && *options.expected_version != version) {
            if (*options.expected_version > version) {
                wait_for_log_end(version);
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

    void fail_precondition(std::uint64_t version) {
        finish(fail(error_of(command_errc::precondition_failed,
                             "expected version " + std::to_string(*options.expected_version) +
                                 " but the aggregate is at version " + std::to_string(version))));
    }

    // The command expects a version the local store has not reached. When the tail knows
    // the partition goes further, wait (up to the command's deadline) until it applied that
    // far, then decide again. When it knows of nothing further, its view of the log end
    // may be a fetch old - another writer's commit can be on its way - so wait for the
    // partition's next records for a short window before answering precondition_failed.
    void wait_for_log_end(std::uint64_t version) {
        constexpr auto ctx = Aggregate::ctx;
        constexpr auto quiet_window = std::chrono::milliseconds(100);
        const std::int32_t partition = eventstore::murmur2_partition(aggregate_id, rt.tail.partition_count(ctx));
        const std::int64_t end = rt.tail.known_log_end(ctx, partition);
        const std::int64_t applied = rt.tail.applied_through(ctx, partition);
        eventstore::position target{partition, end - 1};
        clock::time_point until = deadline;
        if (end <= applied) {
            if (quiet_until == clock::time_point{}) quiet_until = std::min(deadline, clock::now() + quiet_window);
            if (clock::now() >= quiet_until) {
                fail_precondition(version);
                return;
            }
            target.offset = applied;  // the partition's next record
            until = quiet_until;
        }
        auto self = this->shared_from_this();
        rt.tail.await_position(ctx, target, until, [self, until](result<void, eventstore::wait_error> r) {
            if (!r && (r.error().code == eventstore::wait_errc::stopped || clock::now() < until)) {
                // The tail is stopping, or refused the wait outright (a partition it does not read).
                self->finish(fail(error_of(command_errc::unavailable, r.error().message)));
                return;
            }
            self->step();  // decides again; past the command's deadline it reports timed_out
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
        ++attempts;
        auto self = this->shared_from_this();
        // Set before the wait is registered (under the tail's lock), so the tail's thread
        // reads it after this write.
        if (observer != nullptr) produced_at = clock::now();
        // Registered before producing, so the verdict cannot be missed.
        const auto registered = rt.tail.await_verdict(
            ctx, aggregate_id, metadata.command_id, version, deadline,
            [self](result<eventstore::verdict_report, eventstore::wait_error> r) { self->on_verdict(std::move(r)); });
        if (!registered) {
            finish(fail(error_of(command_errc::unavailable, "shutting down: the command was not appended")));
            return;
        }
        const auto ticket = *registered;
        rt.producer.append(ctx, aggregate_id, value, headers,
                           [self, ticket](result<eventstore::position, eventstore::append_error> r) {
                               if (r) {  // the verdict answers
                                   if (self->observer != nullptr) self->observer->on_appended(Aggregate::ctx);
                                   return;
                               }
                               if (!self->rt.tail.cancel(ticket)) return;  // already answered
                               self->finish(fail(error_of(command_errc::unavailable,
                                                          "the log did not take the commit: " + r.error().message)));
                           });
    }

    void on_verdict(result<eventstore::verdict_report, eventstore::wait_error> r) {
        if (!r) {
            const auto code = r.error().code == eventstore::wait_errc::timed_out ? command_errc::timed_out
                                                                                 : command_errc::unavailable;
            finish(fail(error_of(code, r.error().message)));
            return;
        }
        if (observer != nullptr) observer->on_verdict(Aggregate::ctx, clock::now() - produced_at);
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
        if (observer != nullptr) {
            observer->on_outcome(Aggregate::ctx, Aggregate::command_name(command), observed_outcome::conflict_retried);
        }
        step();  // the tail applied the winner before judging us: the store is fresh
    }
};

}  // namespace

namespace detail {

namespace {
// Commands that finish inline would start the next one from inside release(), nesting
// one stack frame per queued command; instead, the outermost release() on a thread runs
// what the nested ones hand it.
thread_local std::deque<std::function<void()>>* draining = nullptr;

void run_drained(std::function<void()> start) {
    if (draining != nullptr) {
        draining->push_back(std::move(start));
        return;
    }
    std::deque<std::function<void()>> pending;
    draining = &pending;
    pending.push_back(std::move(start));
    while (!pending.empty()) {
        auto next = std::move(pending.front());
        pending.pop_front();
        next();
    }
    draining = nullptr;
}
}  // namespace

void aggregate_lanes::enter(const std::string& aggregate_id, std::function<void()> start) {
    {
        std::lock_guard lock(mu_);
        auto [it, fresh] = waiting_.try_emplace(aggregate_id);
        if (!fresh) {
            it->second.push_back(std::move(start));
            return;
        }
    }
    run_drained(std::move(start));
}

void aggregate_lanes::release(const std::string& aggregate_id) {
    std::function<void()> next;
    {
        std::lock_guard lock(mu_);
        auto it = waiting_.find(aggregate_id);
        if (it == waiting_.end()) return;
        if (it->second.empty()) {
            waiting_.erase(it);
            return;
        }
        next = std::move(it->second.front());
        it->second.pop_front();
    }
    run_drained(std::move(next));
}

}  // namespace detail

template <class Aggregate>
void command_handler<Aggregate>::handle(typename Aggregate::command command, command_metadata metadata,
                                        command_options options, command_callback done) const {
    if (metadata.command_id.empty() || metadata.command_id.size() > 255) {
        if (observer_ != nullptr) {
            observer_->on_outcome(Aggregate::ctx, Aggregate::command_name(command), observed_outcome::rejected);
        }
        done(fail(command_error{command_errc::rejected,
                                {domain::rejection_code::invalid, "", "a command id of 1-255 bytes is required"},
                                {}}));
        return;
    }
    auto a = std::make_shared<attempt<Aggregate>>(runtime_, observer_, lanes_, std::move(command), std::move(metadata),
                                                  options, std::move(done));
    const std::string id = a->aggregate_id;
    lanes_->enter(id, [a] { a->step(); });
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
    auto loaded = runtime_.store.load(Aggregate::ctx, aggregate_id);
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
