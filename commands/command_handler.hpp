#pragma once
// Command handling for one context (ARCHITECTURE.md, "The flow of one command"):
//
//   load the aggregate from the local state store (waiting, bounded, until the store has
//   caught up when the command expects a newer version) → decide → produce ONE commit
//   record → wait for the tail's verdict on it → answer.
//
// Answers: applied (the new version and the commit's position); duplicate (the command
// id already won: the first answer again); unchanged (the decider accepted the command
// as an idempotent repeat and nothing was appended). A loser is decided again on the new
// state (bounded attempts) unless the command carried an expected version, which then
// fails with precondition_failed. A command whose verdict does not come in time reports
// timed_out; retrying it with the same command id is safe, because the apply rule turns a
// second copy into a duplicate.
//
// Within one handler, commands on the same aggregate run one after another (a lane per
// aggregate): they would otherwise only defeat each other as losers. Commands on
// different aggregates run concurrently, and writers in other processes are arbitrated
// by the log. Use one handler per context per process.
//
// Thread-safety: handle() may be called from any thread concurrently. `done` runs on
// the tail's or the producer's thread, or inline; it must be short and not block.

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
#include "eventstore/aggregates.hpp"
#include "eventstore/position.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"

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
    timed_out = 3,            // no verdict in time: the command may still apply; retry safely
    unavailable = 4,          // the log could not take the commit (back-pressure, broker down)
    internal = 5,             // the store failed; details in `message`
};

struct command_error {
    command_errc code = command_errc::internal;
    domain::rejection rejection;  // for `rejected`
    std::string message;
};

using command_result = result<command_outcome, command_error>;
using command_callback = std::function<void(command_result)>;

// The event-store pieces a handler works with; they must outlive it. Shut down in this
// order: stop calling handle(), destroy the producer (it flushes, and answers what it
// cannot deliver), then the tail (pending waits end as unavailable), then the store.
struct store_runtime {
    eventstore::state_store& store;
    eventstore::producer& producer;
    eventstore::tail& tail;
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
    // Runs `start` now if the aggregate's lane is free, else after the commands queued
    // before it; every started command must call release() exactly once.
    void enter(const std::string& aggregate_id, std::function<void()> start);
    void release(const std::string& aggregate_id);

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::deque<std::function<void()>>> waiting_;
};
}  // namespace detail

template <class Aggregate>
class command_handler {
public:
    // `observer` (optional) must outlive the handler.
    explicit command_handler(store_runtime runtime, command_observer* observer = nullptr)
        : runtime_(runtime), observer_(observer), lanes_(std::make_shared<detail::aggregate_lanes>()) {}

    void handle(typename Aggregate::command command, command_metadata metadata, command_options options,
                command_callback done) const;

    // handle(), waiting on the calling thread.
    [[nodiscard]] command_result handle_sync(typename Aggregate::command command, command_metadata metadata,
                                             command_options options = {}) const;

    // The aggregate in the local store; nullopt when it does not exist.
    [[nodiscard]] result<std::optional<current_aggregate<Aggregate>>, std::string> current(
        std::string_view aggregate_id) const;

private:
    store_runtime runtime_;
    command_observer* observer_;
    std::shared_ptr<detail::aggregate_lanes> lanes_;
};

extern template class command_handler<eventstore::order_aggregate>;
extern template class command_handler<eventstore::payment_aggregate>;
extern template class command_handler<eventstore::review_aggregate>;

using order_handler = command_handler<eventstore::order_aggregate>;
using payment_handler = command_handler<eventstore::payment_aggregate>;
using review_handler = command_handler<eventstore::review_aggregate>;

}  // namespace shopstream::commands
