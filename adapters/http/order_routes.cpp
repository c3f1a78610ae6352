#include "adapters/http/order_routes.hpp"

#include <spdlog/spdlog.h>

#include "adapters/http/idempotency_store.hpp"
#include "adapters/http/json_mapping.hpp"
#include "queries/orders.hpp"

namespace shopstream::adapters::http {
namespace {

using aggregate = eventstore::order_aggregate;
using order_command = result<aggregate::command, problem>;

order_command decode(command_route route, std::string_view id, std::string_view body, const request_context& ctx,
                     std::string_view command_id) {
    switch (route) {
        // With an Idempotency-Key the order id follows from it, so a retry addresses the
        // same order.
        case command_route::place_order: return as_command<aggregate>(place_order_from_request(body, ctx, order_id_of(command_id)));
        case command_route::cancel_order: return as_command<aggregate>(cancel_order_from_request(id, body, ctx));
        case command_route::ship_order: return as_command<aggregate>(ship_order_from_request(id, body, ctx));
        default: return fail(internal_error("unrouted request"));
    }
}

}  // namespace

order_routes::order_routes(order_route_dependencies deps)
    : deps_(std::move(deps)),
      lookup_(lookup_in(deps_.orders, [](const domain::order::state& s) { return s.customer.value(); })) {}

void order_routes::command(const request& rq, command_route route, command_call call) const {
    auto c = decode(route, rq.param(), rq.body(), request_context{*rq.actor(), call.at}, call.meta.command_id);
    if (!c) return rq.answer(std::move(c.error()));
    run_command(rq, deps_.orders, route, eventstore::context::orders, std::move(*c), std::move(call), "/v1/orders/",
                render_order_command_response);
}

void order_routes::history(const request& rq) const {
    answer_history(rq, deps_.reads, eventstore::context::orders, "order", lookup_);
}

void order_routes::query(const request& rq, order_query_route route) const {
    if (deps_.queries == nullptr) return rq.answer(unavailable("this process does not serve order queries", 5));
    auto wanted = read_min_position(rq, deps_.reads.tail, {eventstore::context::orders, eventstore::context::payments},
                                    eventstore::context::orders);
    if (!wanted) return rq.answer(std::move(wanted.error()));
    if (!*wanted) {
        std::function<void()> job = [this, rq, route] { answer_now(rq, route); };
        (void)rq.post(work_pool_id::order_reads, job);
        return;
    }
    const auto deadline = eventstore::clock::now() + deps_.reads.min_position_timeout;
    std::function<void()> job = [this, rq, route, wanted = **wanted, deadline] {
        poll_position(rq, route, wanted, deadline);
    };
    (void)rq.post(work_pool_id::order_reads, job);  // closed only after the event loop stopped
}

void order_routes::poll_position(const request& rq, order_query_route route, min_position wanted,
                                 eventstore::clock::time_point deadline) const {
    auto applied = deps_.queries->applied_offset(wanted.ctx, wanted.at.partition);
    if (!applied) {
        spdlog::warn("request {}: {}", rq.id(), applied.error());
        return rq.answer(unavailable("the orders read model cannot be read", 1));
    }
    if (*applied > wanted.at.offset) return answer_now(rq, route);
    if (eventstore::clock::now() >= deadline) {
        return answer_unapplied_position(rq, deps_.reads.tail, wanted,
                                         "the orders read model has not applied the position yet");
    }
    rq.post_after(std::chrono::milliseconds(10), work_pool_id::order_reads,
                  [this, rq, route, wanted, deadline] { poll_position(rq, route, wanted, deadline); });
}

void order_routes::answer_now(const request& rq, order_query_route route) const {
    auto query = rq.query();
    if (!query) return rq.answer(std::move(query.error()));
    const order_query_parameters p{query->get("customerId"), query->get("status"), query->get("limit"),
                                   query->get("after"),      query->get("from"),   query->get("to")};
    auto a = answer_order_query(*deps_.queries, route, rq.param(), p, *rq.actor());
    if (!a) {
        if (a.error().status >= 500) spdlog::warn("request {}: {}", rq.id(), a.error().detail);
        return rq.answer(std::move(a.error()));
    }
    rq.answer(response{a->status, "application/json", std::move(a->body), std::move(a->headers), false});
}

}  // namespace shopstream::adapters::http
