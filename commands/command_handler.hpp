#pragma once
// Command handling for one context (ARCHITECTURE.md, "The flow of one command"):
//
//   load the aggregate from the local state store (waiting, bounded, until the store has
//   applied the log as far as the brokers hold it when the command expects a newer
//   version), with the side-index entry its command needs in the same read transaction
//   (a vote's voter: eventstore/aggregates.hpp, "side indexes") → decide → produce ONE
//   commit record → wait for the tail's verdict on it → answer. A loser is decided again
//   on a fresh read of both.
//
// What each answer means, and so what a client may be told (decision 13):
//   applied / duplicate / unchanged   the command's effect is in the log and won (2xx);
//   rejected / precondition_failed / conflict   decided against; nothing of it applies;
//   unavailable   NOTHING was appended that could still apply (the log refused the
//                 commit, the queue was full, the deadline passed before a commit was
//                 produced, shutting down): safe to retry (503);
//   timed_out     a commit was produced and its verdict did not come in time: it may or
//                 may not apply. Retrying with the same command id is safe - the apply rule
//                 turns a second copy into a duplicate (504).
// A loser is decided again on the new state (bounded attempts) unless the command carried
// an expected version, which then fails with precondition_failed.
//
// Within one handler, commands on the same aggregate run one after another (a lane per
// aggregate): they would otherwise only defeat each other as losers. Commands on
// different aggregates run concurrently, and writers in other processes are arbitrated
// by the log.
//
// Threads: handle() runs the first step (load, decide, produce) on the caller's thread.
// Everything that follows a verdict, a delivery report or a wait - deciding again, the
// lane's next command, asking the brokers for a partition's end, and `done` itself - runs
// on the handler's executor (by default its own small thread_pool), never on the tail's
// or the producer's thread, so one slow step or answer cannot hold the verdicts of other
// aggregates. `done` is called exactly once; it should be short (it holds an executor
// thread), and may be called inline from handle() for answers that need no log.
//
// Shutdown is safe by construction: stop() (also run by the destructor) refuses new
// commands, makes every command still running finish without producing again
// (unavailable, or timed_out for one whose commit is in flight), and returns only when
// none of its threads will call the appender. So: stop the callers, stop() the handler,
// destroy the appender (producer: flushes; its last reports still reach the handler's
// state, kept alive by them), then the tail (pending waits end), then the store. The
// store, appender and tail must outlive every callback they make into the handler.
//
// Thread-safety: handle() and current() may be called from any thread concurrently;
// stop() from one thread, not from an executor thread or inside `done`.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "commands/command_observer.hpp"
#include "domain/common.hpp"
#include "commands/executor.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/log_ports.hpp"
#include "eventstore/position.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::commands {

struct command_metadata {
    std::string command_id;  // required; a retry must reuse it
    std::string correlation_id;
    std::string causation_id;
    std::string traceparent;
};

struct command_options {
    // The version the client decided on (If-Match); nullopt = decide on the latest.
    std::optional<std::uint64_t> expected_version;
    std::chrono::milliseconds timeout{5'000};
    int max_attempts = 16;  // decide → append rounds lost to concurrent writers
};

enum class outcome_kind : std::uint8_t { applied = 0, duplicate = 1, unchanged = 2 };

struct command_outcome {
    outcome_kind kind = outcome_kind::applied;
    std::string aggregate_id;
    std::uint64_t version = 0;                  // the aggregate's version after the command
    std::optional<eventstore::position> at;     // the winning commit (none for a new no-op)
    int attempts = 0;                           // commits produced for this answer
};

enum class command_errc : std::uint8_t {
    rejected = 0,             // the decider said no: see `rejection`
    precondition_failed = 1,  // expected_version is not the aggregate's version
    conflict = 2,             // lost max_attempts times to concurrent writers
    timed_out = 3,            // a commit was produced and no verdict came in time: it may still
                              // apply; retry with the same command id
    unavailable = 4,          // nothing that could apply was appended (queue full, the log
                              // refused it, brokers unreachable, deadline before producing)
    internal = 5,             // the store failed; details in `message`
};

struct command_error {
    command_errc code = command_errc::internal;
    domain::rejection rejection;  // for `rejected`
    std::string message;
};

using command_result = result<command_outcome, command_error>;
using command_callback = std::function<void(command_result)>;

// The event-store pieces a handler works with (eventstore::producer and tail, or the
// in-memory twin eventstore::memory_log for both); see "Shutdown" above for their order.
struct store_runtime {
    eventstore::state_store& store;
    eventstore::commit_appender& producer;
    eventstore::commit_tail& tail;
};

struct handler_options {
    command_observer* observer = nullptr;  // optional; must outlive the handler
    // Deadlines are measured on it; it must be the clock the tail expires waits on.
    const eventstore::clock_source* clock = nullptr;  // nullptr: the steady clock
    // Where continuations run; nullptr: a thread_pool of `threads` owned by the handler.
    // An injected executor must outlive every callback into the handler.
    executor* continuations = nullptr;
    std::size_t threads = 2;
    // How long asking the brokers for a partition's end may take, within the deadline.
    std::chrono::milliseconds log_end_timeout{2'000};
};

// An aggregate as the local store knows it.
template <class Aggregate>
struct current_aggregate {
    std::uint64_t version = 0;
    typename Aggregate::state state;
    std::optional<eventstore::position> last_commit;
};

namespace detail {
// Serialises the commands of one aggregate; see command_handler.
class aggregate_lanes {
public:
    // True when the aggregate's lane was free: the caller runs its command now. Otherwise
    // `start` is queued behind the commands before it.
    [[nodiscard]] bool enter(const std::string& aggregate_id, std::function<void()> start);
    // Ends the running command of the lane and hands back the next one queued (empty when
    // none): the caller runs it. Every command that ran must be released exactly once.
    [[nodiscard]] std::function<void()> release(const std::string& aggregate_id);

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::deque<std::function<void()>>> waiting_;
};

struct handler_core;
}  // namespace detail

template <class Aggregate>
class command_handler {
public:
    explicit command_handler(store_runtime runtime, command_observer* observer = nullptr);
    command_handler(store_runtime runtime, handler_options options);
    command_handler(const command_handler&) = delete;
    command_handler& operator=(const command_handler&) = delete;
    ~command_handler();  // stop()

    void handle(typename Aggregate::command command, command_metadata metadata, command_options options,
                command_callback done) const;

    // handle(), waiting on the calling thread.
    [[nodiscard]] command_result handle_sync(typename Aggregate::command command, command_metadata metadata,
                                             command_options options = {}) const;

    // The aggregate in the local store; nullopt when it does not exist.
    [[nodiscard]] result<std::optional<current_aggregate<Aggregate>>, std::string> current(
        std::string_view aggregate_id) const;

    // See "Shutdown" above. Idempotent.
    void stop();

private:
    std::shared_ptr<detail::handler_core> core_;
};

extern template class command_handler<eventstore::order_aggregate>;
extern template class command_handler<eventstore::payment_aggregate>;
extern template class command_handler<eventstore::review_aggregate>;

using order_handler = command_handler<eventstore::order_aggregate>;
using payment_handler = command_handler<eventstore::payment_aggregate>;
using review_handler = command_handler<eventstore::review_aggregate>;

}  // namespace shopstream::commands
