#pragma once
// The routes of the ordering context, behind the shared pipeline (server.cpp routes the
// request, authenticates it, applies the rate limit and checks a command request's
// headers, then calls these with a `request`, request.hpp):
//   POST /v1/orders                  place an order (201, Location; with an Idempotency-Key
//                                    the order id follows from the key)
//   POST /v1/orders/{id}/cancel      cancel it
//   POST /v1/orders/{id}/ship        ship it
//   GET  /v1/orders/{id}/events      its history (aggregate_routes.hpp)
//   GET  /v1/orders/{id}, GET /v1/orders, GET /v1/admin/orders/summary
//                                    the order queries over the orders model in PostgreSQL
//                                    (order_query_routes.hpp), with their read-your-writes
//                                    wait: X-Min-Position (or ?minPosition=) waits, bounded,
//                                    on the checkpoint stored beside the model's rows, not
//                                    on this process's projection (another serve process
//                                    may own the partition); an orders or payments token
//                                    (both feed the model; a bare one means orders) is
//                                    waited for, a reviews token is ignored.
//
// Thread-safety: every member may be called from any thread concurrently; the queries and
// their polls run on the order read pool (PostgreSQL round trips), a poll's next round 10
// ms later with no thread waiting meanwhile. The dependencies must outlive the routes.

#include <chrono>

#include "adapters/http/aggregate_routes.hpp"
#include "adapters/http/order_query_routes.hpp"
#include "adapters/http/request.hpp"
#include "commands/command_handler.hpp"
#include "eventstore/log_ports.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::queries {
class order_queries;
}

namespace shopstream::adapters::http {

struct order_route_dependencies {
    const commands::order_handler& orders;
    read_sources reads;
    // null: the order queries answer 503.
    queries::order_queries* queries = nullptr;
};

class order_routes {
public:
    explicit order_routes(order_route_dependencies deps);

    // place_order, cancel_order or ship_order.
    void command(const request& rq, command_route route, command_call call) const;
    void history(const request& rq) const;
    void query(const request& rq, order_query_route route) const;

private:
    void poll_position(const request& rq, order_query_route route, min_position wanted,
                       eventstore::clock::time_point deadline) const;
    void answer_now(const request& rq, order_query_route route) const;

    order_route_dependencies deps_;
    history_lookup lookup_;
};

}  // namespace shopstream::adapters::http
