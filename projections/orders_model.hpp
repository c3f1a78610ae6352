#pragma once
// The orders read model in PostgreSQL (ARCHITECTURE.md decisions 5, 6, 8; issue 11): the
// read_model the projection runtime feeds with the commits of the orders and payments
// contexts, kept in the tables of projections/orders_schema.hpp (migrated by open()).
//
// write_batch() stores a batch in ONE transaction, whatever its size, in a fixed number
// of round trips: it loads the rows of the aggregates the batch continues (one SELECT per
// table; an aggregate whose first commit here is at version 1 has none), folds the
// batch's events onto them in memory, and writes the results with one multi-row
// statement per table (unnest() over array parameters: parameterised, no SQL built from
// values), together with the heads, checkpoints and (first batch) the log identity. Upserts are version-guarded: a row
// is replaced only by a higher version, and an event at or below the stored row's
// version is skipped, so an older event never overwrites a newer row (a replay, or a
// second process briefly writing the same partition during a rebalance).
//
// Payments are kept by payment id with their order id, joined to orders at query time
// (queries/orders.hpp), so it never matters which topic's events arrive first.
//
// Refusals (decision 5: the runtime copies the record to the DLQ, the model continues):
// a commit whose events break an invariant of the model leaves all of its own changes out
// of the batch. Invariants checked:
//   - every event names the commit's aggregate (order or payment id);
//   - order_placed / payment_requested only for an aggregate the model does not have;
//     every other event only for one it has (a refused first commit leaves none);
//   - what the tables' constraints demand: a three-letter upper-case currency, a
//     non-negative total, timestamps from 1970 to 9999, a known cancel reason;
//   - payment_requested names a well-formed order id (domain::is_valid_id);
//   - captures and refunds in the payment's currency; refunds that do not overflow.
// A batch that names a context other than orders/payments, a negative partition or
// offset, is refused whole (errc::invalid_argument), nothing written.
//
// Errors: eventstore::error with errc::store_failed (PostgreSQL refused or lost the
// connection; the message names the server, schema and statement) or invalid_argument.
// After a failure the connection is reopened by the next call.
//
// Thread-safety: one thread drives a model (read_model's contract); its queries use
// their own connections (queries/orders.hpp).

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "postgres/connection.hpp"
#include "projections/read_model.hpp"

namespace shopstream::projections {

// The live schema; a rebuild writes a shadow beside it (decision 9).
inline constexpr std::string_view default_orders_schema = "shopstream";

class orders_model final : public read_model {
public:
    // Connects and migrates `schema` (projections/orders_schema.hpp).
    [[nodiscard]] static result<std::unique_ptr<orders_model>, eventstore::error> open(
        const postgres::database_url& url, std::string_view schema = default_orders_schema);

    orders_model(const orders_model&) = delete;
    orders_model& operator=(const orders_model&) = delete;
    ~orders_model() override;

    [[nodiscard]] std::string_view name() const noexcept override { return "orders"; }
    [[nodiscard]] std::span<const context> contexts() const noexcept override;

    [[nodiscard]] result<std::optional<std::string>, eventstore::error> load_log_identity() override;
    // "schema shopstream of USER@HOST:PORT/DATABASE" (no password).
    [[nodiscard]] std::string location() const override;
    [[nodiscard]] result<std::vector<checkpoint>, eventstore::error> load_checkpoints() override;
    [[nodiscard]] result<std::vector<std::optional<eventstore::aggregate_head>>, eventstore::error> load_heads(
        context ctx, std::span<const std::string> aggregate_ids) override;
    [[nodiscard]] result<std::vector<refusal>, eventstore::error> write_batch(const batch& b) override;

    [[nodiscard]] const std::string& schema() const noexcept { return schema_; }

private:
    struct statements;
    struct session;  // the libpqxx connection: its headers stay in orders_model.cpp

    orders_model(postgres::database_url url, std::string schema);
    [[nodiscard]] result<session*, eventstore::error> connection();
    [[nodiscard]] eventstore::error failure(std::string_view doing, const postgres::error& e) const;
    // Runs body(connection) with libpqxx's exceptions as errors; a broken connection is
    // dropped, so the next call opens a new one.
    template <class F>
    [[nodiscard]] auto run(std::string_view doing, F&& body);

    postgres::database_url url_;
    std::string schema_;
    std::unique_ptr<const statements> sql_;
    std::unique_ptr<session> session_;
};

}  // namespace shopstream::projections
