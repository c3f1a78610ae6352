#pragma once
// The routes of the reviews context, behind the shared pipeline (server.cpp routes the
// request, authenticates it - the public reads may come without a token -, applies the
// rate limit and checks a command request's headers, then calls these with a `request`,
// request.hpp):
//   POST   /v1/products/{sku}/reviews   submit a review (201, Location)
//   PUT    /v1/reviews/{id}             edit it
//   DELETE /v1/reviews/{id}             retract it
//   POST   /v1/reviews/{id}/helpful     vote it helpful
//   POST   /v1/reviews/{id}/moderation  hide or restore it (admin)
//   GET    /v1/reviews/{id}/events      its history (aggregate_routes.hpp)
//   GET    /v1/reviews/{id}, /v1/products/{sku}/reviews, /v1/products/{sku}/rating,
//          /v1/customers/{id}/reviews   the review queries over the local reviews replica
//                                       (review_query_routes.hpp), with their
//                                       read-your-writes wait: X-Min-Position (or
//                                       ?minPosition=) waits, bounded, until the replica's
//                                       projection has applied the position; a token of
//                                       another context names another log and is ignored.
//
// Thread-safety: every member may be called from any thread concurrently; a query without
// a position is answered on the caller's thread (LMDB reads that never block on the
// writer), one after a wait on the read pool. The dependencies must outlive the routes.

#include "adapters/http/aggregate_routes.hpp"
#include "adapters/http/request.hpp"
#include "adapters/http/review_query_routes.hpp"
#include "commands/command_handler.hpp"

namespace shopstream::projections {
class runtime;
}

namespace shopstream::adapters::http {

struct review_route_dependencies {
    const commands::review_handler& reviews;
    read_sources reads;
    // The local reviews replica's queries and the projection runtime feeding it; either
    // null: the review queries answer 503.
    const queries::review_queries* queries = nullptr;
    projections::runtime* projection = nullptr;
};

class review_routes {
public:
    explicit review_routes(review_route_dependencies deps);

    // submit_review, edit_review, retract_review, vote_helpful or moderate_review.
    void command(const request& rq, command_route route, command_call call) const;
    void history(const request& rq) const;
    void query(const request& rq, review_query_route route) const;

private:
    void answer_now(const request& rq, review_query_route route) const;

    review_route_dependencies deps_;
    history_lookup lookup_;
};

}  // namespace shopstream::adapters::http
