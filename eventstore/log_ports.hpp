#pragma once
// What a writer needs of the log, as two small interfaces: a commit_appender puts a
// commit record into its context's log, a commit_tail tells the writer what the apply
// rule made of it and how far the local state store has applied each partition. The
// Kafka implementations are eventstore::producer and eventstore::tail; memory_log
// (eventstore/memory_log.hpp) is their in-memory twin for tests of the command path, the
// way redpanda keeps mem_log_impl beside disk_log_impl. Time comes through a clock_source
// so that twin and the command handler can run on a manual clock.
//
// Thread-safety: every implementation's member functions may be called from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/strong_id.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/context.hpp"
#include "eventstore/errc.hpp"
#include "eventstore/position.hpp"

namespace shopstream::eventstore {

using clock = std::chrono::steady_clock;

// What a commit is keyed by and what makes a retry a duplicate: distinct types, so a
// call cannot pass one for the other (both are bytes of any value on the wire).
struct aggregate_id_tag;
struct command_id_tag;
using aggregate_ref = id_ref<aggregate_id_tag>;
using command_ref = id_ref<command_id_tag>;

// The time every deadline of the command path is measured on.
class clock_source {
public:
    virtual ~clock_source() = default;
    [[nodiscard]] virtual clock::time_point now() const = 0;
};

// The process's steady clock.
[[nodiscard]] const clock_source& steady_clock_source() noexcept;

// The partition of a keyed record: Kafka's murmur2 partitioner, as the Java client's
// default partitioner computes it, so every client puts an aggregate's commits in the
// same partition. Defined in producer.cpp over librdkafka's rd_kafka_msg_partitioner_murmur2.
[[nodiscard]] partition_id murmur2_partition(std::string_view key, std::int32_t partition_count) noexcept;

// ---- appending ---------------------------------------------------------------------

// What became of an append that failed. The difference between the first two is what
// an answer may promise (ARCHITECTURE.md decision 13): nothing appended, or unknown.
enum class append_errc : std::uint8_t {
    backpressure = 0,        // the local queue was full: never sent, not in the log
    not_persisted = 1,       // the cluster did not take it (never sent, or refused): not in the log
    possibly_persisted = 2,  // sent, but not acknowledged (timeout, lost response, fatal
                             // producer error): it may be in the log and may still win
    invalid = 3,             // refused before sending (too large, unknown context): not in the log
};

[[nodiscard]] constexpr bool may_be_in_log(append_errc e) noexcept { return e == append_errc::possibly_persisted; }

struct append_error {
    append_errc code = append_errc::possibly_persisted;
    std::string message;
};

using append_callback = std::function<void(result<position, append_error>)>;

class commit_appender {
public:
    virtual ~commit_appender() = default;

    // Enqueues one record with key `key` to the context's log. `done` is called exactly
    // once with the record's position or the reason it is not known to be in the log -
    // never on the calling thread's stack after append() blocked: append() does not wait
    // for room in a full queue when called from a delivery callback.
    virtual void append(context ctx, aggregate_ref key, std::span<const std::uint8_t> value,
                        const commit_metadata& metadata, append_callback done) = 0;
};

// ---- verdicts and positions --------------------------------------------------------

struct verdict_report {
    eventstore::verdict verdict = verdict::loser;
    std::uint64_t version = 0;  // applied: resulting; duplicate: the original's; loser: now
    position at;                // applied/loser: this record; duplicate: the original
};

enum class wait_errc : std::uint8_t { timed_out = 0, stopped = 1 };

struct wait_error {
    wait_errc code = wait_errc::timed_out;
    std::string message;
};

using verdict_callback = std::function<void(result<verdict_report, wait_error>)>;
using position_callback = std::function<void(result<void, wait_error>)>;

class commit_tail {
public:
    virtual ~commit_tail() = default;

    using ticket = std::uint64_t;

    // Calls `done` once the commit of (aggregate, command id, expected version) has been
    // judged and applied to the store, or at `deadline` with timed_out. The aggregate id
    // is part of what is awaited: command ids are unique per aggregate only. Register it
    // BEFORE producing the commit, so the verdict cannot be missed. Returns nullopt,
    // without calling `done`, once the tail is stopping: do not produce the commit then.
    [[nodiscard]] virtual std::optional<ticket> await_verdict(context ctx, aggregate_ref aggregate_id,
                                                              command_ref command_id,
                                                              std::uint64_t expected_version,
                                                              clock::time_point deadline, verdict_callback done) = 0;

    // Called back once every record up to and including `p` is applied to the store, or
    // at `deadline` with timed_out (with stopped, inline, once the tail is stopping).
    virtual void await_position(context ctx, position p, clock::time_point deadline, position_callback done) = 0;

    // Removes a wait without calling it; false when it already fired.
    virtual bool cancel(ticket t) = 0;

    // Next offset to apply in the partition (everything before it is in the store).
    [[nodiscard]] virtual log_offset applied_through(context ctx, partition_id partition) const = 0;

    // The partition's end (high watermark) as the brokers report it now: one round trip
    // that BLOCKS the caller up to `timeout`. Not for a tail's or an event loop's thread.
    [[nodiscard]] virtual result<log_offset, error> query_log_end(context ctx, partition_id partition,
                                                                        std::chrono::milliseconds timeout) const = 0;

    [[nodiscard]] virtual std::int32_t partition_count(context ctx) const = 0;
};

}  // namespace shopstream::eventstore
