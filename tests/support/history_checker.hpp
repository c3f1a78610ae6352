#pragma once
// The history checker of every fault test (issue 10): what clients sent and were
// answered during a run with faults, checked against what the log holds and what the
// stores and reads serve - the promises of ARCHITECTURE.md decision 13 and "The one
// hard problem":
//
//   2xx          the command's own commit applied exactly once, at the position and
//                version it was told ("applied-once");
//   2xx no-op    (an answer the decider reached without a commit of its own, `unchanged`)
//                the command applied at most once, and what it was told names an applied
//                commit of the aggregate at that version ("consistent");
//   503, 4xx     nothing of the attempt applied ("absent"). When another attempt of the same
//                command id (a retry with the same Idempotency-Key) got a 2xx, a 504 or no
//                answer, the log cannot tell which attempt wrote the one applied commit:
//                then the command id applied at most once;
//   504, 5xx, no answer   the command applied at most once ("at-most-once");
//   order        a command sent after another command of its aggregate was answered 2xx
//                at version v applied above v ("kept");
//   aggregates   versions contiguous from 1 in the log, in every store and in every read
//                ("contiguous");
//   stores       every given state store equal to a fresh replay of the log: each
//                aggregate's head (version, recent command ids with their positions),
//                partition, commit locations, snapshot (decoded, against
//                eventstore::replay of the log's events), the store's own replay
//                (eventstore::replay over its copies), the log holding its copies byte for
//                byte (aggregate_reader::verify, when a reader is given) and checkpoints at
//                the log's end ("equal-replay");
//   reads        every history a client read (GET .../events) a prefix of the log's
//                applied history of that aggregate ("equal-log");
//   recorded     (when every writer of the log was recorded) every applied commit is of a
//                recorded command: nothing applied that no client sent ("recorded").
//
// The log is judged with the event store's own decoder (decode_commit) and apply rule
// (eventstore::judge / record_applied), the one rule every reader shares; so versions
// contiguous in the log hold by construction, and the checker's own tests
// (tests/support/history_checker_test.cpp) build stores and reads that break them.
//
// Each violation names the command (its request and answer), the rule and what the log
// shows. The summary line prints the counts, e.g.
//   "2xx 812 applied-once 812; 503 14 absent 14; 504 3 at-most-once 3; ...;
//    aggregates 40 contiguous 40; stores 2 equal-replay 2".
//
// A recording can be saved as JSON lines and checked later by the CLI
// shopstream_history_check (tests/support/history_check_main.cpp).
//
// Thread-safety: a history_recorder may be used from any number of threads at once.
// check_history() and the rest are pure over their arguments (the stores are only read);
// call them once the run is over.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "commands/command_handler.hpp"
#include "eventstore/aggregate_reader.hpp"
#include "eventstore/context.hpp"
#include "eventstore/position.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"
#include "tests/support/kafka_fixture.hpp"

namespace shopstream::testing {

// What a client sent.
struct sent_command {
    eventstore::context ctx = eventstore::context::orders;
    std::string aggregate_id;
    // The id the command's commit carries: for HTTP with an Idempotency-Key,
    // adapters::http::idempotent_command_id(principal, key).
    std::string command_id;
    std::string idempotency_key;  // empty: none
    std::string request;          // what was sent ("POST /v1/reviews/r-1/helpful"), for reports
};

// What it was answered.
struct command_answer {
    int status = 0;      // the HTTP status; 0: no answer (connection lost, a process killed)
    bool no_op = false;  // a 2xx the decider reached without a commit of its own
    std::optional<eventstore::position> at;  // the position token (X-Position)
    std::optional<std::uint64_t> version;    // the ETag
};

// The answer an HTTP client would get for a command handler's result: 200 for applied,
// duplicate and unchanged (no_op), 503 unavailable, 504 timed_out, 409/412 for decided
// refusals, 500 internal.
[[nodiscard]] command_answer answer_of(const commands::command_result& r);

struct recorded_attempt {
    std::uint64_t sequence = 0;  // in the order sent
    sent_command command;
    std::optional<command_answer> answer;  // nullopt: never answered (treated as status 0)
    std::chrono::steady_clock::time_point sent_at;
    std::chrono::steady_clock::time_point answered_at;
};

class history_recorder {
public:
    using ticket = std::uint64_t;

    // Call right before sending, then answered() with what came back.
    [[nodiscard]] ticket sent(sent_command command);
    void answered(ticket t, command_answer answer);

    [[nodiscard]] std::vector<recorded_attempt> attempts() const;

    // JSON lines, one attempt per line; load() reads what save() writes.
    [[nodiscard]] result<void, std::string> save(const std::filesystem::path& file) const;
    [[nodiscard]] static result<std::vector<recorded_attempt>, std::string> load(const std::filesystem::path& file);

private:
    mutable std::mutex mu_;
    std::vector<recorded_attempt> attempts_;
};

// A history a client read, in the order served.
struct observed_history {
    std::string source;  // "GET /v1/reviews/r-1/events from serve b"
    eventstore::context ctx = eventstore::context::reviews;
    std::string aggregate_id;
    struct event {
        std::uint64_t version = 0;
        eventstore::position at;
        std::string command_id;
    };
    std::vector<event> events;
};

struct history_violation {
    std::string subject;  // the command (request and answer), aggregate, store or read
    std::string rule;
    std::string log_shows;
};

struct history_counts {
    int ok = 0, ok_applied_once = 0;
    int no_ops = 0, no_ops_consistent = 0;
    int unavailable = 0, unavailable_absent = 0;
    int refused = 0, refused_absent = 0;
    int timed_out = 0, timed_out_at_most_once = 0;
    int unanswered = 0, unanswered_at_most_once = 0;  // no answer, or a 5xx other than 503/504
    int ordered = 0, ordered_kept = 0;
    int aggregates = 0, aggregates_contiguous = 0;
    int stores = 0, stores_equal_replay = 0;
    int reads = 0, reads_equal_log = 0;
    int applied_checked = 0, applied_recorded = 0;  // only with all_writers_recorded
    int commits = 0, applied = 0, not_commits = 0;  // what the log held
};

struct history_report {
    history_counts counts;
    std::vector<history_violation> violations;

    [[nodiscard]] bool ok() const noexcept { return violations.empty(); }
    // The counts, on one line.
    [[nodiscard]] std::string summary() const;
    // The summary and every violation, one per line.
    [[nodiscard]] std::string describe() const;
};

struct history_input {
    std::vector<recorded_attempt> attempts;
    // Each context's topic as consume_all() reads it: every partition from offset 0.
    std::map<eventstore::context, std::vector<record>> log;
    // Checked for every context of `log`; each must have applied all of it.
    std::vector<const eventstore::state_store*> stores;
    std::vector<observed_history> reads;
    // When set, every store's copies are verified against the log byte for byte.
    eventstore::aggregate_reader* reader = nullptr;
    // Every command of these contexts was recorded (no saga, no other client wrote them):
    // then an applied commit of a command no attempt names is a violation.
    bool all_writers_recorded = false;
};

[[nodiscard]] history_report check_history(const history_input& input);

// Reads the topics of `contexts` from the cluster from the beginning (consume_all), opens
// an aggregate_reader on it and checks `input` (whose `log` and `reader` it fills).
[[nodiscard]] result<history_report, std::string> check_history_on_cluster(
    std::string_view bootstrap, const std::vector<eventstore::context>& contexts, history_input input,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A state store of this process that has applied the log of `contexts` up to the end
// the cluster has when it starts (its tail keeps running until destroyed): a stopped
// process's store brought up to date, or a fresh replay from offset 0 in a new directory.
struct caught_up_store {
    std::unique_ptr<eventstore::state_store> store;
    std::unique_ptr<eventstore::tail> tail;
};
[[nodiscard]] result<caught_up_store, std::string> catch_up_store(
    const std::filesystem::path& dir, std::string_view bootstrap, const std::vector<eventstore::context>& contexts,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// For gtest: checks on the cluster, prints the summary and fails the test with every
// violation (or the reason the check could not run). Returns the report.
history_report expect_history_holds(std::string_view bootstrap, const std::vector<eventstore::context>& contexts,
                                    history_input input);

}  // namespace shopstream::testing
