#pragma once
// The review query routes apart from RESTinio and the request (review_routes.cpp applies
// X-Min-Position and answers with what this returns), as pure functions:
//   GET /v1/reviews/{id}                  one review (ETag = its version)
//   GET /v1/products/{sku}/reviews        ?sort=recent|helpful|rating&limit=&after=  (public)
//   GET /v1/products/{sku}/rating         the rating summary                      (public)
//   GET /v1/customers/{id}/reviews        ?limit=&after=
// Parameters are parsed and checked by queries/reviews (a bad one is a 400 problem naming
// it), the answer rendered here: a review as json_mapping's render_review, a page as
// {"items": [...], "next": "<cursor>"|null}, a rating as {sku, count, average (two
// decimals, null without reviews), histogram {"1".."5"}, helpfulVotes}.
//
// Thread-safety: pure functions over a thread-safe review_queries.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/problem.hpp"
#include "base/result.hpp"
#include "queries/reviews.hpp"

namespace shopstream::adapters::http {

enum class review_query_route : std::uint8_t { get_review, product_reviews, product_rating, customer_reviews };

struct query_answer {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// `param` is the path's {id} or {sku}; `page` the query's sort, limit and after.
[[nodiscard]] result<query_answer, problem> answer_review_query(const queries::review_queries& q,
                                                                review_query_route route, const std::string& param,
                                                                const queries::page_request& page,
                                                                const queries::viewer& who);

}  // namespace shopstream::adapters::http
