#pragma once
// What a command_handler reports as it works, for metrics: every answer it gives, every
// loser it decides again, every commit the log acknowledged, and how long each verdict
// took from the produce call. The adapters implement it (Prometheus counters); commands/
// knows nothing of them. A handler without an observer skips all of it.
//
// Thread-safety: called from any thread (the caller's, the tail's, the producer's), often
// concurrently; implementations must be cheap, must not block and must not throw.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "eventstore/context.hpp"

namespace shopstream::commands {

// Reaches metrics labels: values only appended.
enum class observed_outcome : std::uint8_t {
    applied = 0,
    duplicate = 1,
    unchanged = 2,
    conflict_retried = 3,  // a loser decided again (not an answer: the command goes on)
    rejected = 4,
    precondition_failed = 5,
    conflict = 6,
    timed_out = 7,
    unavailable = 8,
    internal = 9,
};

[[nodiscard]] constexpr std::string_view name_of(observed_outcome o) noexcept {
    switch (o) {
        case observed_outcome::applied: return "applied";
        case observed_outcome::duplicate: return "duplicate";
        case observed_outcome::unchanged: return "unchanged";
        case observed_outcome::conflict_retried: return "conflict_retried";
        case observed_outcome::rejected: return "rejected";
        case observed_outcome::precondition_failed: return "precondition_failed";
        case observed_outcome::conflict: return "conflict";
        case observed_outcome::timed_out: return "timed_out";
        case observed_outcome::unavailable: return "unavailable";
        case observed_outcome::internal: return "internal";
    }
    return "unknown";
}

class command_observer {
public:
    virtual ~command_observer() = default;

    // One answer (or, with conflict_retried, one more round); `command` is the command's
    // type name ("place_order").
    virtual void on_outcome(eventstore::context ctx, std::string_view command, observed_outcome outcome) noexcept = 0;
    // The log acknowledged a commit this handler produced.
    virtual void on_appended(eventstore::context ctx) noexcept = 0;
    // The tail judged a commit this handler produced, `took` after the produce call.
    virtual void on_verdict(eventstore::context ctx, std::chrono::steady_clock::duration took) noexcept = 0;
};

}  // namespace shopstream::commands
