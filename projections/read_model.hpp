#pragma once
// The contract between the projection runtime (projections/runtime.hpp: consumes
// `<ctx>.events`, judges every record with the apply rule, batches, copies poison
// records to the DLQ) and each read model it feeds (the orders model in PostgreSQL, the
// reviews model in LMDB). ARCHITECTURE.md decisions 5 and 6.
//
// Exactly-once by construction: a read model stores, in ONE transaction, the changes a
// batch makes, the apply rule's heads of the aggregates the batch touched, and the
// checkpoint of every partition the batch covers. The runtime resumes from
// load_checkpoints() on start and on every partition assignment - never from Kafka's
// committed offsets - so a crash anywhere replays exactly the batch that did not commit.
//
// Why the model keeps the heads: the apply rule (eventstore/apply_rule.hpp) judges a
// commit against the aggregate's version and its recent command ids. A read model that
// kept only versions would agree with the state stores on losers but not on a command
// id re-decided within the window (a duplicate by the rule); keeping the same head the
// state store keeps makes every reader reach the same verdict for every record.
//
// Thread-safety: a read_model is driven by one runtime thread; its query side (queries/)
// reads through its own connections or read transactions.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "domain/review/review.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/context.hpp"
#include "eventstore/errc.hpp"
#include "eventstore/position.hpp"

namespace shopstream::projections {

using eventstore::context;
using eventstore::log_offset;
using eventstore::partition_id;
using eventstore::position;

// Everything below `next_offset` of (ctx, partition) is applied to the model (skipped
// records included). A partition with no stored checkpoint starts at the log's start.
struct checkpoint {
    context ctx = context::orders;
    partition_id partition{0};
    log_offset next_offset{0};

    friend bool operator==(const checkpoint&, const checkpoint&) = default;
};

// One event of any context, decoded by this build's codec (eventstore/aggregates.hpp).
using any_event = std::variant<domain::order::event, domain::payment::event, domain::review::event>;

// A commit the apply rule accepted, decoded.
struct applied_commit {
    context ctx = context::orders;
    position at;
    std::int64_t timestamp_ms = -1;   // the record's timestamp (-1: unknown)
    std::string aggregate_id;
    std::string command_id;
    std::uint64_t first_version = 1;  // events[i] is version first_version + i
    std::vector<any_event> events;    // at least one
    std::string correlation_id;       // header, for log lines; may be empty
};

// The aggregate's head after the batch, to store with it.
struct head_update {
    context ctx = context::orders;
    std::string aggregate_id;
    eventstore::aggregate_head head;
};

// A commit the model refuses because it breaks one of the model's invariants (e.g. a
// line for an order the model has never seen): the model leaves its own changes for it
// out of the batch, still stores the heads and checkpoints, and the runtime copies the
// record to `<ctx>.events.dlq` with `reason` (decision 5: the model continues) - before
// the model commits (batch::before_commit), so no checkpoint passes a refused record
// whose copy is not in the DLQ.
struct refusal {
    context ctx = context::orders;
    position at;
    std::string reason;
};

// One batch, in log order within each partition. Records the rule ignored (losers,
// duplicates) and records that are not valid commits appear only in the checkpoints.
struct batch {
    std::vector<applied_commit> commits;
    std::vector<head_update> heads;        // every aggregate whose head changed
    std::vector<checkpoint> checkpoints;   // every partition the batch covers
    // The log identity (eventstore/topics.hpp) to store with the checkpoints: set on the
    // first batch a new model writes, nullopt after.
    std::optional<std::string> log_identity;
    // write_batch calls it inside its transaction once it knows its refusals (only when
    // there are some) and before it commits: the runtime copies the refused records to
    // the DLQ there. A failure aborts the batch - nothing stored, write_batch fails with
    // it. A model may call it more than once for one batch (a retried transaction): the
    // DLQ is at-least-once. Unset: nothing to call.
    std::function<result<void, eventstore::error>(std::span<const refusal>)> before_commit;
};

class read_model {
public:
    virtual ~read_model() = default;

    // "orders", "reviews": the checkpoint key, metrics label and log name.
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;

    // The contexts whose topics feed this model (orders: orders and payments).
    [[nodiscard]] virtual std::span<const context> contexts() const noexcept = 0;

    // The log identity stored with the checkpoints (nullopt for a new model). The runtime
    // refuses to feed a model from another log.
    [[nodiscard]] virtual result<std::optional<std::string>, eventstore::error> load_log_identity() = 0;

    // Where the model keeps its data, for messages that name what to delete to rebuild
    // ("the LMDB environment /d", "schema shopstream of postgresql://h/db").
    [[nodiscard]] virtual std::string location() const = 0;

    // The stored checkpoints (none for a new model).
    [[nodiscard]] virtual result<std::vector<checkpoint>, eventstore::error> load_checkpoints() = 0;

    // The stored heads of these aggregates of `ctx`, in the order asked; nullopt for an
    // aggregate the model has not seen (version 0).
    [[nodiscard]] virtual result<std::vector<std::optional<eventstore::aggregate_head>>, eventstore::error>
    load_heads(context ctx, std::span<const std::string> aggregate_ids) = 0;

    // Writes the batch in one transaction: its changes, heads and checkpoints, or
    // nothing. Hands its refusals to b.before_commit before committing and returns them
    // (see refusal). A failure means nothing of the batch was stored; the runtime stops
    // and says why.
    [[nodiscard]] virtual result<std::vector<refusal>, eventstore::error> write_batch(const batch& b) = 0;
};

}  // namespace shopstream::projections
