#pragma once
// The projection runtime: consumes `<ctx>.events` for the contexts of one read model
// (projections/read_model.hpp), judges every record with the event store's one apply rule
// (eventstore/apply_rule.hpp) in log order against the heads the model stores, decodes
// the applied commits' events with this build's codecs and hands the model batches
// bounded by count and time - each written in ONE model transaction with its checkpoints
// (ARCHITECTURE.md decision 5).
//
// Partitions (decision 6):
//   all_partitions  every partition of the model's contexts, at the model's checkpoints:
//                   the reviews model, a complete local replica in every process;
//   consumer_group  Kafka hands partitions out across processes; on EVERY assignment the
//                   runtime reads the model's checkpoints and seeks there, never to
//                   Kafka's committed offsets (it commits none). Before partitions are
//                   taken away the batch in hand is written. The orders model.
//
// Poison records, as the state store's tail treats them, so every reader agrees:
//   - not a valid commit (verifier failure, foreign bytes, key not the aggregate id):
//     skipped, copied to `<ctx>.events.dlq` (original key, value and headers plus a
//     `reason` header) before the batch that skips it is written, counted, logged once;
//   - an applied commit holding an event this build cannot decode: the runtime stops
//     (failure() names the upgrade) and writes nothing of that batch;
//   - a commit the model refuses (read_model::write_batch): copied to the DLQ with the
//     model's reason inside the model's transaction, before it commits
//     (batch::before_commit), so a crash never leaves a checkpoint past a refused record
//     whose copy is not in the DLQ (a crash before the commit copies it again); the
//     runtime continues.
// A DLQ copy that cannot be delivered is an outage like the model's (below): nothing of
// the batch is written, the partitions resume at the checkpoints after the backoff and the
// copies are made again, by a new DLQ producer if the old one raised a fatal error - so
// nothing is skipped silently, and a record may be in the DLQ twice.
// Every process running a model copies the records it skips itself, so with N replicas
// the DLQ holds up to N copies of one record (they carry the same key and position).
//
// A read model that cannot be read or written (errc::store_failed: PostgreSQL gone away, a
// refused statement) does not stop the runtime: it drops the batch in hand (nothing of it
// was stored, or all of it), pauses its partitions and tries the model again after a
// bounded exponential backoff with jitter (retry_initial doubling up to retry_max); once
// the model answers it re-reads the checkpoints and resumes every partition there, so no
// record is applied twice or skipped. A model that fails again before a batch is written
// after the resume (it reads but refuses writes) continues the outage: the backoff goes
// on growing from where it was. outage() says so meanwhile (/readyz, /metrics). An
// assignment met while the model is away is taken the same way. The model's and the DLQ's
// failures are retried; an unreadable commit or another log still stop it.
//
// On start (and, in consumer_group mode, on every assignment) it refuses a model built
// from another log: another log identity, a checkpoint for a partition the topic does not
// have, beyond the partition's end or before its start - naming the data to delete.
//
// Thread-safety: every public member function may be called from any thread. Position
// callbacks run on the runtime's thread (or inline when already satisfied, expired or
// stopped); they must be short and must not block on the runtime.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "eventstore/errc.hpp"
#include "eventstore/log_ports.hpp"
#include "projections/read_model.hpp"

struct rd_kafka_s;  // librdkafka's client (rd_kafka_t), for the test seam below

namespace shopstream::projections {

using eventstore::clock;

enum class assignment_mode : std::uint8_t { all_partitions = 0, consumer_group = 1 };

struct runtime_options {
    std::string bootstrap_servers;
    assignment_mode mode = assignment_mode::all_partitions;
    std::string group_id;  // consumer_group; empty: "shopstream-projection-<model name>"
    std::size_t max_batch = 5'000;                 // records per model transaction
    std::chrono::milliseconds max_batch_delay{5};  // how long a batch may wait to fill
    std::chrono::milliseconds fetch_wait{5};       // the mock holds idle fetches this long
    std::chrono::milliseconds start_timeout{15'000};
    std::chrono::milliseconds dlq_timeout{10'000};  // to deliver a batch's DLQ copies
    // Retries of a model that failed (see the header comment): the n-th waits
    // min(retry_max, retry_initial * 2^(n-1)), less up to half of it at random.
    std::chrono::milliseconds retry_initial{100};
    std::chrono::milliseconds retry_max{5'000};
    // Passed to librdkafka as they are (consumer, DLQ producer and identity clients).
    std::map<std::string, std::string> extra;
    // Test seam: called on the runtime's thread (or in start()) with every DLQ producer it
    // makes, the first and each replacement after a fatal error, so a test can inject
    // faults into a client the runtime keeps private (rd_kafka_test_fatal_error). The
    // client stays the runtime's: do not keep it past the runtime.
    std::function<void(rd_kafka_s*)> on_dlq_client;
};

// One partition the runtime reads: everything below `applied` is in the model; `log_end`
// is the high watermark as the consumer last saw it (-1: not known yet).
struct partition_progress {
    context ctx = context::orders;
    partition_id partition{0};
    log_offset applied{0};
    log_offset log_end{-1};
};

// Counts per bucket: counts[i] observations <= bounds[i] (and above bounds[i-1]);
// counts.back() those above every bound.
struct histogram {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;
    double sum = 0;
    std::uint64_t count = 0;
};

struct runtime_stats {
    std::int64_t records = 0;     // judged or skipped
    std::int64_t applied = 0;     // commits applied (events: events_applied)
    std::int64_t events_applied = 0;
    std::int64_t losers = 0;
    std::int64_t duplicates = 0;
    std::int64_t not_commits = 0;  // skipped and copied to the DLQ
    std::int64_t refused = 0;      // refused by the model and copied to the DLQ
    std::int64_t dead_lettered = 0;  // DLQ copies delivered
    std::int64_t batches = 0;
    std::int64_t model_retries = 0;  // tries of a failed model (see runtime::outage)
    histogram batch_records;   // records per written batch
    histogram batch_seconds;   // time to judge, decode and write a batch
};

// The read model failed and the runtime is waiting to try it again.
struct model_outage {
    std::string error;             // the model's last failure
    std::int64_t attempts = 0;     // tries since it failed (0: none yet)
    clock::time_point since;       // the first failure
    clock::time_point next_try;
};

// "waiting for its read model (try 3 in 400 ms, away for 5 s): <error>", for /readyz.
[[nodiscard]] std::string describe(const model_outage& o, clock::time_point now = clock::now());

class runtime {
public:
    // Checks the log identity and (all_partitions) the checkpoints against the log, then
    // starts the runtime's thread. `model` must outlive the runtime.
    [[nodiscard]] static result<std::unique_ptr<runtime>, eventstore::error> start(runtime_options options,
                                                                                   read_model& model);

    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;
    ~runtime();  // stops (writing nothing more); pending waits end with wait_errc::stopped

    // Called back once every record of (ctx, p.partition) up to and including p.offset is
    // in the model, or at `deadline` with timed_out. A partition this process does not
    // read (yet) waits like any other: in consumer_group mode it may be assigned later.
    // A context the model is not fed from, or a partition the topic does not have, fails
    // at once (timed_out, saying so).
    void await_position(context ctx, position p, clock::time_point deadline, eventstore::position_callback done);

    // The same, blocking the caller until then (for tests, benchmarks and start-up).
    [[nodiscard]] result<void, eventstore::wait_error> wait_for_position(context ctx, position p,
                                                                         clock::time_point deadline);

    // Next offset to apply in (ctx, partition) as this runtime wrote it; 0 when this
    // process does not read the partition.
    [[nodiscard]] log_offset applied_through(context ctx, partition_id partition) const;

    // The partitions this process reads now, in (context, partition) order.
    [[nodiscard]] std::vector<partition_progress> progress() const;

    // True once every partition read now has been read to its end at least once.
    [[nodiscard]] bool caught_up() const;

    // Why the runtime stopped writing (an unreadable commit, a model or DLQ failure, a
    // model from another log met on an assignment); nullopt while it runs.
    [[nodiscard]] std::optional<std::string> failure() const;
    // While the read model is away (see the header comment); nullopt while it answers.
    [[nodiscard]] std::optional<model_outage> outage() const;
    // consumer_group: true once the group has handed this member its partitions (none is
    // an answer too), false before the first assignment and after a revocation until
    // the next; all_partitions: always true.
    [[nodiscard]] bool assigned() const;
    [[nodiscard]] runtime_stats stats() const;
    [[nodiscard]] const std::string& log_identity() const noexcept;

    struct impl;

private:
    runtime() = default;
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::projections
