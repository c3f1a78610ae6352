#pragma once
// The consumer under the saga and the gateway worker (issue 12): one Kafka consumer group
// over `<primary>.events`, with the SAME partition numbers of the co-partitioned contexts
// assigned beside it, handing every record to a handler on a thread of its own, and
// committing, per partition, the offset below which every record is done.
//
// Co-partitioning. librdkafka 2.0.2's C API has no custom assignor, so the group is used
// for membership and the primary topic only: the consumer subscribes to the primary topic,
// and on each assignment of its partitions p1..pn it assigns, by hand and in the same
// rd_kafka_assign call, partitions p1..pn of every co-partitioned topic. Every member owns
// partition p of all the topics or of none, so the saga instance of an order (whose
// payment is keyed by the order id, hence on the same partition number:
// domain/saga/order_payment.hpp) is handled by one member. The group's eager protocol
// revokes everything before a new assignment, so two members never own one partition in
// the same generation; a member that is slow to notice its revocation only repeats steps,
// which the deterministic command ids turn into duplicates.
//
// Checkpoints are the group's committed offsets, for the co-partitioned topics as well
// (Kafka keeps offsets per group and partition whoever subscribed to what), so a member
// taking a partition over, or this process after a restart, resumes there. A record is
// done when its handler calls back without asking to be called again; one that asks
// (`again_at`: a deadline, or a retry after a failure) is HELD, and the committed offset of
// its partition stays at or below it until it is done. So a restart reads every held record
// again and its deadline is found again: the deadline index is rebuilt from the log, never
// lost. With `hold_latest_per_key` a newer record of the same key replaces the key's hold
// (the saga decides from state, so any record of an order finds its deadline again).
//
// Committing below what is done is what makes it at-least-once: a record may be handed out
// again after a crash or a rebalance. Handlers must be idempotent (they are: command ids
// are deterministic; the provider's calls carry idempotency keys).
//
// Thread-safety: the handler is called on the consumer's thread and must not block (post
// the work elsewhere); its `done` may be called from any thread, exactly once. Public
// members may be called from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "eventstore/context.hpp"
#include "eventstore/errc.hpp"
#include "eventstore/position.hpp"

namespace shopstream::commands {

// One record of a context's log, as handed to a handler.
struct consumed_record {
    eventstore::context ctx = eventstore::context::orders;
    eventstore::position at;
    std::string key;
    std::vector<std::uint8_t> value;
    std::string correlation_id;  // header; may be empty
    std::string command_id;      // header; may be empty
    int delivery = 0;            // 0 the first time, n for the n-th call again (held)
};

// nullopt: done. A time (milliseconds on the wall clock, as domain timestamps): call the
// handler again with the same record then, and hold the checkpoint until it is done.
using record_done = std::function<void(std::optional<std::int64_t> again_at)>;
using record_handler = std::function<void(const consumed_record&, record_done)>;

// The wall clock the holds are measured on (injected for tests).
using wall_now = std::function<std::int64_t()>;

struct owned_partition {
    eventstore::context ctx = eventstore::context::orders;
    eventstore::partition_id partition{0};
    friend bool operator==(const owned_partition&, const owned_partition&) = default;
    friend auto operator<=>(const owned_partition&, const owned_partition&) = default;
};

// Offsets committed and acknowledged, the next to read per partition owned.
using commit_observer = std::function<void(const std::map<owned_partition, eventstore::log_offset>&)>;

struct consumer_options {
    std::string bootstrap_servers;
    std::string group_id;
    eventstore::context primary = eventstore::context::orders;
    std::vector<eventstore::context> co_partitioned;  // e.g. payments for the saga
    bool hold_latest_per_key = false;
    std::chrono::milliseconds commit_interval{200};
    std::chrono::milliseconds fetch_wait{5};
    std::chrono::milliseconds start_timeout{15'000};
    wall_now now;  // empty: the system clock
    // Passed to librdkafka as they are; they win.
    std::map<std::string, std::string> extra;
    // A test seam (the saga crash tests' "right after the checkpoint" point,
    // tests/support/saga_main.cpp), empty in the product: called on the consumer's thread
    // once the group coordinator acknowledged a commit, with the committed offset (the
    // next to read) of every partition owned. Set, every commit is synchronous, so the
    // call follows the acknowledgement.
    commit_observer on_committed;
};

struct consumer_stats {
    std::int64_t records = 0;     // handed to the handler the first time
    std::int64_t redeliveries = 0;  // held records handed out again
    std::int64_t held = 0;        // records held now
    std::int64_t in_flight = 0;   // records handed out and not called back yet
    std::int64_t assignments = 0;  // rebalances that gave this member partitions
    std::int64_t commits = 0;     // offset commits sent
};

class partitioned_consumer {
public:
    // Checks that the primary and co-partitioned topics exist with one partition count,
    // subscribes, and starts the consumer's thread.
    [[nodiscard]] static result<std::unique_ptr<partitioned_consumer>, eventstore::error> start(
        consumer_options options, record_handler handler);

    partitioned_consumer(const partitioned_consumer&) = delete;
    partitioned_consumer& operator=(const partitioned_consumer&) = delete;
    // Commits what is done, leaves the group, and returns once no handler call runs. A
    // `done` called later is ignored.
    ~partitioned_consumer();

    // The partitions this member owns now, in (context, partition) order.
    [[nodiscard]] std::vector<owned_partition> owned() const;
    // The offsets committed last by this member (next offset to read), per partition owned.
    [[nodiscard]] std::map<owned_partition, eventstore::log_offset> committed() const;
    [[nodiscard]] consumer_stats stats() const;
    [[nodiscard]] std::int32_t partition_count() const noexcept;
    // Why the consumer stopped (a client failure); nullopt while it runs.
    [[nodiscard]] std::optional<std::string> failure() const;

    struct impl;

private:
    partitioned_consumer() = default;
    std::shared_ptr<impl> impl_;
};

}  // namespace shopstream::commands
