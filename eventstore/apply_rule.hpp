#pragma once
// The apply rule: the one place that decides what a commit does (ARCHITECTURE.md,
// "The one hard problem", point 2). Every reader - state stores, projections, the saga,
// replays - judges every commit with judge(), in log order, so all of them reach the
// same verdict for every record.
//
//   duplicate  the aggregate already applied a commit with this command id (a producer
//              retry, or a client retrying a command that already won): ignored, and
//              the original application is the answer;
//   applied    expected_version equals the aggregate's current version: its events
//              become versions expected_version+1 .. expected_version+n;
//   loser      anything else (a concurrent writer got there first): ignored.
//
// A duplicate's expected version is always stale (its original moved the version on),
// so the duplicate check never makes a commit apply that the version check alone would
// have refused: a late COPY of a commit (a producer retry) can never apply twice, inside
// the window or beyond it.
//
// What the window does NOT guarantee: a command id RE-DECIDED on a fresh view - a client
// retrying a command that already won, after more than `recent_command_window` other
// commands on the same aggregate - is judged like a new command and applies again
// (apply_rule_test: beyond_the_window_a_re_decided_command_id_is_a_new_command). What
// covers that case is above the rule: a retry over HTTP with the same Idempotency-Key
// within 24 h is answered from the stored answer and never reaches the log
// (adapters/http/idempotency_store.hpp), and every command of this domain is idempotent
// at its decider (a repeat decides "unchanged", no second effect). A future command that
// is not idempotent at its decider must not rely on the window alone.
//
// Pure functions over values; safe from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eventstore/position.hpp"

namespace shopstream::eventstore {

// Reaches the wire (state-store records, metrics labels): values only appended.
enum class verdict : std::uint8_t { applied = 0, loser = 1, duplicate = 2 };

[[nodiscard]] constexpr std::string_view name_of(verdict v) noexcept {
    switch (v) {
        case verdict::applied: return "applied";
        case verdict::loser: return "loser";
        case verdict::duplicate: return "duplicate";
    }
    return "unknown";
}

// A command the aggregate applied: its id, the version it produced and where it is.
struct applied_command {
    std::string command_id;
    std::uint64_t version = 0;  // the aggregate's version after it applied
    position at;

    friend bool operator==(const applied_command&, const applied_command&) = default;
};

// How many recent command ids an aggregate remembers for duplicate answers. Every
// reader uses the same number, so the window, too, is the same everywhere.
inline constexpr std::size_t recent_command_window = 64;

// What the rule needs to know of an aggregate: its version and recent commands.
struct aggregate_head {
    std::uint64_t version = 0;                     // 0 = the aggregate does not exist yet
    std::vector<applied_command> recent_commands;  // oldest first, at most the window

    friend bool operator==(const aggregate_head&, const aggregate_head&) = default;
};

struct judgement {
    eventstore::verdict verdict = verdict::loser;
    // For a duplicate: the original application (the answer its writer got).
    std::optional<applied_command> original;
};

[[nodiscard]] judgement judge(const aggregate_head& head, std::string_view command_id,
                              std::uint64_t expected_version);

// Advances `head` past an applied commit of `event_count` events at `at` and returns
// the applied command. Precondition: judge() said applied for the same arguments.
applied_command record_applied(aggregate_head& head, std::string command_id,
                               std::size_t event_count, position at);

}  // namespace shopstream::eventstore
