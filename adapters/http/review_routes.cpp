#include "adapters/http/review_routes.hpp"

#include "adapters/http/json_mapping.hpp"
#include "projections/runtime.hpp"

namespace shopstream::adapters::http {
namespace {

using aggregate = eventstore::review_aggregate;
using review_command = result<aggregate::command, problem>;

review_command decode(command_route route, std::string_view id, std::string_view body, const request_context& ctx) {
    switch (route) {
        case command_route::submit_review: return as_command<aggregate>(submit_review_from_request(id, body, ctx));
        case command_route::edit_review: return as_command<aggregate>(edit_review_from_request(id, body, ctx));
        case command_route::retract_review: return as_command<aggregate>(retract_review_from_request(id, body, ctx));
        case command_route::vote_helpful: return as_command<aggregate>(vote_helpful_from_request(id, body, ctx));
        case command_route::moderate_review: return as_command<aggregate>(moderate_review_from_request(id, body, ctx));
        default: return fail(internal_error("unrouted request"));
    }
}

}  // namespace

review_routes::review_routes(review_route_dependencies deps)
    : deps_(std::move(deps)),
      lookup_(lookup_in(deps_.reviews, [](const domain::review::state& s) { return s.author.value(); })) {}

void review_routes::command(const request& rq, command_route route, command_call call) const {
    auto c = decode(route, rq.param(), rq.body(), request_context{*rq.actor(), call.at});
    if (!c) return rq.answer(std::move(c.error()));
    run_command(rq, deps_.reviews, route, eventstore::context::reviews, std::move(*c), std::move(call), "/v1/reviews/",
                render_review_command_response);
}

void review_routes::history(const request& rq) const {
    answer_history(rq, deps_.reads, eventstore::context::reviews, "review", lookup_);
}

void review_routes::query(const request& rq, review_query_route route) const {
    if (deps_.queries == nullptr || deps_.projection == nullptr) {
        return rq.answer(unavailable("this process does not serve review queries", 5));
    }
    auto wanted = read_min_position(rq, deps_.reads.tail, {eventstore::context::reviews}, eventstore::context::reviews);
    if (!wanted) return rq.answer(std::move(wanted.error()));
    if (!*wanted) return answer_now(rq, route);
    const auto deadline = eventstore::clock::now() + deps_.reads.min_position_timeout;
    deps_.projection->await_position(
        eventstore::context::reviews, (*wanted)->at, deadline,
        [this, rq, route, wanted = **wanted](result<void, eventstore::wait_error> r) {
            if (!r) {
                if (r.error().code == eventstore::wait_errc::stopped) {
                    return rq.answer(unavailable("the server is shutting down", 1));
                }
                std::function<void()> job = [this, rq, wanted, why = r.error().message] {
                    answer_unapplied_position(rq, deps_.reads.tail, wanted,
                                              "the reviews read model has not applied the position yet: " + why);
                };
                (void)rq.post(work_pool_id::reads, job);
                return;
            }
            // On the projection's thread now: the read goes to the read pool.
            std::function<void()> job = [this, rq, route] { answer_now(rq, route); };
            (void)rq.post(work_pool_id::reads, job);
        });
}

void review_routes::answer_now(const request& rq, review_query_route route) const {
    auto query = rq.query();
    if (!query) return rq.answer(std::move(query.error()));
    const auto sort = query->get("sort").value_or(""), limit = query->get("limit").value_or(""),
               after = query->get("after").value_or("");
    auto a = answer_review_query(*deps_.queries, route, rq.param(), {sort, limit, after}, rq.actor());
    if (!a) return rq.answer(std::move(a.error()));
    rq.answer(response{a->status, "application/json", std::move(a->body), std::move(a->headers), false});
}

}  // namespace shopstream::adapters::http
