#pragma once
// The tail: reads every partition of the contexts this process serves, judges every
// commit with the apply rule, in log order, and applies the winners to the LMDB state
// store - one write transaction per batch of records, checkpoints included, so a crash
// resumes exactly at a batch boundary (ARCHITECTURE.md decision 2).
//
// Writers learn their verdict here (rule 3: acknowledge only what you have seen win): a
// writer registers await_verdict() for (context, aggregate id, command id, expected
// version) BEFORE producing, and is called back once the record is applied to the store,
// with
//   applied    its resulting version and position,
//   duplicate  the original application (a retry of a command that already won),
//   loser      the aggregate's version now (decide again, or report the conflict),
// or with timed_out at its deadline. Readers that need read-your-writes wait with
// await_position().
//
// On start the tail refuses, with a message naming the fix, a store built from another
// log (log identity) and a partition whose log start offset has moved past the store's
// checkpoint (records lost to retention). A record that is not a valid commit is skipped
// by every reader alike; an applied commit whose events this build cannot decode stops
// the tail (failure() says why) instead of letting this store diverge from others.
//
// Thread-safety: all public member functions may be called from any thread. Callbacks
// run on the tail's thread (or inline, when a wait is already satisfied or expired);
// they must be short and must not block on the tail.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/context.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/log_ports.hpp"
#include "eventstore/position.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::eventstore {

struct tail_options {
    std::string bootstrap_servers;
    std::vector<context> contexts{all_contexts.begin(), all_contexts.end()};
    std::size_t max_batch = 10'000;
    std::chrono::milliseconds fetch_wait{5};  // the mock holds idle fetches this long
    std::chrono::milliseconds start_timeout{15'000};
    // Passed to librdkafka as they are (also to the log identity's clients); they win
    // over the settings above.
    std::map<std::string, std::string> extra;
};

// One partition's progress, for metrics: the tail has applied everything below
// `next_offset`; `log_end` is the partition's high watermark as the consumer last saw it
// (-1 when not known yet).
struct partition_progress {
    context ctx = context::orders;
    partition_id partition{0};
    log_offset next_offset{0};
    log_offset log_end{-1};
};

struct tail_stats {
    std::int64_t records = 0;
    std::int64_t applied = 0;
    std::int64_t losers = 0;
    std::int64_t duplicates = 0;
    std::int64_t skipped = 0;  // not valid commits
    std::int64_t batches = 0;
};

// The tail's work on one batch of records, apart from Kafka (the tail uses it; exposed
// for the micro-benchmarks): judges each record with the apply rule, in log order, and
// applies the winners to `batch`. Every aggregate the batch touches is loaded from the
// store once, its state evolved in memory across the batch's commits, and its record
// written at its first applied commit and, if more commits of the batch applied to it,
// once more by finish() - so an aggregate with many commits in a batch costs one read,
// one snapshot decode and at most two encodes and writes, while the rule still sees every commit
// with the aggregate's head as of the commits before it. Commit locations, and the
// side-index entries the applied events write (eventstore/aggregates.hpp), are written as
// records apply. Use from one thread; `batch` must outlive it.
class batch_applier {
public:
    explicit batch_applier(write_batch& batch);
    batch_applier(const batch_applier&) = delete;
    batch_applier& operator=(const batch_applier&) = delete;
    ~batch_applier();

    struct judged {
        verdict_report report;
        std::string aggregate_id;
        std::string command_id;
        std::uint64_t expected_version = 0;
    };

    // The verdict on the record at `at` (key and value as Kafka holds them); nullopt for a
    // record that is not a valid commit, which every reader skips (and this one logs).
    // Fails, with the reason, when the tail must stop: the store cannot be read or
    // written, or an applied commit holds an event this build cannot decode. The batch
    // must then be dropped.
    //
    // The store keeps an applied commit's bytes and the headers its history shows;
    // `read_headers(record)` gives those, and is called only for commits that apply (most
    // records of a busy log are not worth parsing headers for). Without it the commit is
    // kept with no headers.
    using header_reader = commit_headers (*)(const void* record);
    [[nodiscard]] result<std::optional<judged>, error> apply(context ctx, position at, std::string_view key,
                                                             std::span<const std::uint8_t> value,
                                                             header_reader read_headers = nullptr,
                                                             const void* record = nullptr);

    // Writes every aggregate the applied commits changed. Call once, before the batch
    // commits; fails like apply().
    [[nodiscard]] result<void, error> finish();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

class tail final : public commit_tail {
public:
    // Checks the log identity and truncation, then starts applying from the store's
    // checkpoints. `store` must outlive the tail.
    [[nodiscard]] static result<std::unique_ptr<tail>, error> start(tail_options options,
                                                                           state_store& store);

    tail(const tail&) = delete;
    tail& operator=(const tail&) = delete;
    ~tail();  // stops; pending waits end with wait_errc::stopped

    // commit_tail (eventstore/log_ports.hpp).
    [[nodiscard]] std::optional<ticket> await_verdict(context ctx, aggregate_ref aggregate_id,
                                                      command_ref command_id, std::uint64_t expected_version,
                                                      clock::time_point deadline, verdict_callback done) override;
    void await_position(context ctx, position p, clock::time_point deadline, position_callback done) override;
    bool cancel(ticket t) override;
    [[nodiscard]] log_offset applied_through(context ctx, partition_id partition) const override;
    [[nodiscard]] result<log_offset, error> query_log_end(context ctx, partition_id partition,
                                                                std::chrono::milliseconds timeout) const override;
    [[nodiscard]] std::int32_t partition_count(context ctx) const override;

    // The partition's end as the consumer last saw it (no network round trip); -1 when
    // not known yet.
    [[nodiscard]] log_offset known_log_end(context ctx, partition_id partition) const;

    // Every partition the tail reads, in (context, partition) order; no network round trip
    // (librdkafka caches the watermarks from fetch responses).
    [[nodiscard]] std::vector<partition_progress> progress() const;

    // True once every partition has been read to the end at least once since start.
    [[nodiscard]] bool caught_up() const;

    // Waits until every partition of `ctx` is applied through the end the log has now
    // (the high watermarks, asked of the brokers once, at the call) and returns those
    // ends by partition. Fails when the brokers do not answer, when the tail fails, or
    // when `deadline` passes first, saying which partition is behind and by how much.
    // Blocks the caller, checking every millisecond: for start-up, tests and benchmarks,
    // not for a request path.
    [[nodiscard]] result<std::vector<log_offset>, error> await_log_end(context ctx,
                                                                            clock::time_point deadline) const;

    [[nodiscard]] const std::string& log_identity() const noexcept { return identity_; }
    [[nodiscard]] std::optional<std::string> failure() const;
    [[nodiscard]] tail_stats stats() const;

    struct impl;

private:
    tail() = default;
    std::unique_ptr<impl> impl_;
    std::string identity_;
};

}  // namespace shopstream::eventstore
