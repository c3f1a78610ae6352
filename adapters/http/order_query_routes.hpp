#pragma once
// The order query routes apart from RESTinio and the request (order_routes.cpp applies
// X-Min-Position and answers with what this returns), as pure functions over the orders
// read model in PostgreSQL (queries/orders.hpp):
//   GET /v1/orders/{id}            one order (owner or admin; ETag = its version)
//   GET /v1/orders                 ?customerId=&status=&limit=&after=  a customer's orders,
//                                  newest first (a customer: only their own, customerId
//                                  defaults to them; an admin: any, customerId required)
//   GET /v1/admin/orders/summary   ?from=&to=  per UTC day and status (admin only)
// Every bad parameter is a 400 problem naming it (limit outside 1-100, a malformed or
// foreign cursor, an unknown status, a time that is not RFC 3339); the answer is written
// with json_writer: money as {amount, currency}, times RFC 3339 (UTC, milliseconds), a
// page as {"items": [...], "next": "<cursor>"|null}.
//
// Thread-safety: pure functions over a thread-safe order_queries; each call blocks on
// PostgreSQL (call them off the event loop).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/http/problem.hpp"
#include "adapters/http/review_query_routes.hpp"
#include "base/result.hpp"
#include "domain/common.hpp"
#include "queries/orders.hpp"

namespace shopstream::adapters::http {

enum class order_query_route : std::uint8_t { get_order, list_orders, summary };

// The query string's parameters of the order routes; nullopt: absent.
struct order_query_parameters {
    std::optional<std::string> customer_id, status, limit, after, from, to;
};

// `id` is the path's {id} (get_order only).
[[nodiscard]] result<query_answer, problem> answer_order_query(queries::order_queries& q, order_query_route route,
                                                               const std::string& id,
                                                               const order_query_parameters& parameters,
                                                               const domain::actor& who);

// An RFC 3339 date-time ("2026-12-01T10:00:00Z", "…T10:00:00.250+01:00"; 'T'/'Z' in either
// case, a fraction of up to 9 digits, truncated to milliseconds) or a full date ("2026-12-01", its UTC midnight), in
// ms since the epoch; years 1970-9999. nullopt on anything else. Hand-written: std::chrono
// of g++ 12 has no parse(), and the date arithmetic is std::chrono's (civil days).
[[nodiscard]] std::optional<std::int64_t> parse_rfc3339(std::string_view text) noexcept;

}  // namespace shopstream::adapters::http
