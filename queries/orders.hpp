#pragma once
// The order queries (issue 11) over the orders read model in PostgreSQL
// (projections/orders_model.hpp): one order with its lines, payment and version (the
// ETag); a customer's orders newest first, filtered by status, in keyset pages behind an
// opaque cursor; the admin summary per UTC day; and read-your-writes: the position the
// model has applied, as stored beside its rows (another process's projector may own the
// partition), and a bounded wait for it.
//
// Cursors: base64url of (placed_at, order id) followed by an HMAC-SHA256 (OpenSSL) over
// the customer and that position, keyed by a secret the caller gives. A cursor therefore
// cannot be edited, nor used on another customer's list: either is refused with
// errc::invalid_argument, "after: ...". The status filter is not bound: a cursor is a
// position in the customer's newest-first order, valid with any filter.
//
// Payments are joined at query time (the newest payment requested for the order), so the
// answer does not depend on which topic's events the model applied first. Money is
// integer minor units with its currency (decision 8); times are ms since the epoch, UTC.
//
// Thread-safety: every member function is safe from any thread; calls take a connection
// from a small pool (at most `max_connections`, opened on demand; a caller waits for one
// when all are busy, at most `statement_timeout`). Every call is bounded: a connection
// that cannot be had, opened or answered within the timeouts is errc::unavailable, so an
// HTTP read is answered (503) before the server's request timeout.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "eventstore/context.hpp"
#include "eventstore/position.hpp"
#include "postgres/connection.hpp"
#include "queries/errc.hpp"

namespace shopstream::queries {

inline constexpr int max_page_size = 100;

struct order_line_view {
    std::string sku;
    std::int32_t quantity = 0;
    std::int64_t unit_price = 0;  // minor units of the order's currency

    friend bool operator==(const order_line_view&, const order_line_view&) = default;
};

struct payment_view {
    std::string id;
    domain::payment::payment_status status = domain::payment::payment_status::requested;
    domain::money amount;
    std::int64_t captured = 0;
    std::int64_t refunded = 0;

    friend bool operator==(const payment_view&, const payment_view&) = default;
};

struct order_view {
    std::string id;
    std::string customer;
    domain::order::order_status status = domain::order::order_status::pending;
    domain::money total;
    std::optional<domain::order::cancel_reason> cancel_reason;
    bool payment_captured = false;
    std::vector<order_line_view> lines;
    std::optional<payment_view> payment;
    std::uint64_t version = 0;  // the aggregate's version (ETag)
    std::int64_t placed_at_ms = 0;
    std::int64_t updated_at_ms = 0;
};

struct order_list_item {
    std::string id;
    domain::order::order_status status = domain::order::order_status::pending;
    domain::money total;
    std::optional<domain::payment::payment_status> payment_status;
    std::uint64_t version = 0;
    std::int64_t placed_at_ms = 0;
    std::int64_t updated_at_ms = 0;
};

struct order_page {
    std::vector<order_list_item> items;
    std::optional<std::string> next;  // the `after` of the next page; nullopt on the last
};

struct list_orders_request {
    std::string customer;
    std::optional<domain::order::order_status> status;
    int limit = 20;                    // 1 .. max_page_size
    std::optional<std::string> after;  // a `next` this customer's list returned
};

// Orders placed on one UTC day with one status.
struct summary_row {
    std::string day;  // YYYY-MM-DD, UTC
    domain::order::order_status status = domain::order::order_status::pending;
    std::int64_t count = 0;
    std::vector<domain::money> revenue;  // Σ totals, one per currency, by currency code
};

struct order_summary {
    std::vector<summary_row> rows;              // by day, then status
    std::vector<domain::money> revenue;         // over the whole range, per currency
};

// "pending", "confirmed", "cancelled", "shipped"; anything else: "status: ...".
[[nodiscard]] result<domain::order::order_status, error> parse_order_status(std::string_view text);

class order_queries {
public:
    struct options {
        postgres::database_url url;
        std::string schema = "shopstream";
        std::string cursor_key;  // at least 16 bytes; the same in every process serving lists
        std::size_t max_connections = 8;  // the HTTP server's order_query_threads
        // PostgreSQL's statement_timeout on the pooled connections, and the longest wait
        // for a free one; below the HTTP server's request timeout (8 s).
        std::chrono::milliseconds statement_timeout{3'000};
        std::chrono::seconds connect_timeout{2};
    };

    // Checks the options (a plain schema name, a key of 16 bytes or more); connects lazily.
    [[nodiscard]] static result<std::unique_ptr<order_queries>, error> open(options o);

    order_queries(const order_queries&) = delete;
    order_queries& operator=(const order_queries&) = delete;
    ~order_queries();

    // not_found when the model has no such order.
    [[nodiscard]] result<order_view, error> get_order(std::string_view id);

    [[nodiscard]] result<order_page, error> list_orders(const list_orders_request& request);

    // Orders placed in [from, to), at most 366 days, per UTC day and status.
    [[nodiscard]] result<order_summary, error> summary(std::int64_t from_ms, std::int64_t to_ms);

    // Read-your-writes. Everything below the returned offset of (ctx, partition) is
    // applied to the model (0: nothing yet); ctx is orders or payments.
    [[nodiscard]] result<eventstore::log_offset, error> applied_offset(eventstore::context ctx,
                                                                       eventstore::partition_id partition);
    // Returns once the model has applied `at` (applied_offset > at.offset), polling every
    // `poll`; not_yet_applied when `timeout` passes first.
    [[nodiscard]] result<void, error> wait_until_applied(eventstore::context ctx, eventstore::position at,
                                                         std::chrono::milliseconds timeout,
                                                         std::chrono::milliseconds poll = std::chrono::milliseconds(10));

private:
    struct pool;
    struct statements;
    explicit order_queries(options o);

    options options_;
    std::unique_ptr<const statements> sql_;
    std::unique_ptr<pool> pool_;
};

}  // namespace shopstream::queries
