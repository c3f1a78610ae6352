#pragma once
// The in-memory twin of the Kafka log (redpanda keeps mem_log_impl beside disk_log_impl):
// one object that is both the appender and the tail of the command path
// (eventstore/log_ports.hpp), for tests that must drive every interleaving and fault
// deterministically - a delivery report that says "possibly persisted" while the record
// is (or is not) in the log, a tail that has not applied what the log already holds,
// another writer's commit, a wait's deadline on a manual clock.
//
// It keeps each partition's records in memory and applies them to a REAL state_store
// with the same batch_applier (and so the same apply rule) the Kafka tail uses; only
// Kafka is replaced. By default it is synchronous: append() puts the record in the log,
// reports its delivery and applies it before returning. hold_delivery()/hold_apply()
// leave that to deliver()/apply(), which the test calls. Waits expire in expire(), on
// the clock given at construction.
//
// Thread-safety: all member functions may be called from any thread; callbacks run on
// the thread of the call that fires them, never under the twin's lock.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "eventstore/log_ports.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::eventstore {

// A clock_source that moves only when told.
class manual_clock final : public clock_source {
public:
    [[nodiscard]] clock::time_point now() const override;
    void advance(clock::duration by);

private:
    mutable std::mutex mu_;
    clock::time_point now_{clock::duration(std::chrono::hours(1))};
};

// What the next append() does instead of succeeding.
enum class append_fault : std::uint8_t {
    none = 0,
    backpressure = 1,             // refused at once; not in the log
    not_persisted = 2,            // reported not persisted; not in the log
    possibly_persisted_kept = 3,  // reported possibly persisted; the record IS in the log
    possibly_persisted_lost = 4,  // reported possibly persisted; the record is not in the log
};

class memory_log final : public commit_appender, public commit_tail {
public:
    // `store` and `time` must outlive the twin; waits expire on `time`.
    memory_log(state_store& store, const clock_source& time, std::int32_t partitions_per_context = 4);
    ~memory_log() override;  // stop()

    // commit_appender
    void append(context ctx, aggregate_ref key, std::span<const std::uint8_t> value,
                const commit_metadata& metadata, append_callback done) override;

    // commit_tail
    [[nodiscard]] std::optional<ticket> await_verdict(context ctx, aggregate_ref aggregate_id,
                                                      command_ref command_id, std::uint64_t expected_version,
                                                      clock::time_point deadline, verdict_callback done) override;
    void await_position(context ctx, position p, clock::time_point deadline, position_callback done) override;
    bool cancel(ticket t) override;
    [[nodiscard]] log_offset applied_through(context ctx, partition_id partition) const override;
    [[nodiscard]] result<log_offset, error> query_log_end(context ctx, partition_id partition,
                                                                std::chrono::milliseconds timeout) const override;
    [[nodiscard]] std::int32_t partition_count(context ctx) const override;

    // ---- the test's controls ----
    void hold_delivery(bool hold);  // delivery reports wait for deliver()
    void hold_apply(bool hold);     // records wait in the log for apply()
    // The next `count` appends fail with `fault` (one after another, in call order).
    void inject(append_fault fault, int count = 1);
    // Fails query_log_end() with `message` until called with nullopt.
    void fail_log_end_queries(std::optional<std::string> message);

    std::size_t deliver();  // runs the held delivery reports; returns how many
    std::size_t apply();    // applies every record not applied yet (one store batch); returns how many
    std::size_t expire();   // ends the waits whose deadline has passed on the clock; returns how many
    void stop();            // every wait ends with stopped; later verdict waits are refused

    // A record another writer put into the log (no delivery report here).
    position write(context ctx, aggregate_ref key, std::span<const std::uint8_t> value);

    [[nodiscard]] log_offset log_end(context ctx, partition_id partition) const;
    [[nodiscard]] std::size_t appends() const;          // append() calls that reached the log or a fault
    [[nodiscard]] std::size_t waits() const;            // verdict and position waits registered now
    [[nodiscard]] std::size_t log_end_queries() const;  // query_log_end() calls

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::eventstore
