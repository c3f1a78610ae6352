#include "adapters/http/review_query_routes.hpp"

#include <nlohmann/json.hpp>

#include "adapters/http/json_mapping.hpp"

namespace shopstream::adapters::http {
namespace {

problem problem_of(const queries::query_error& e) {
    switch (e.code) {
        case queries::errc::invalid_argument: return bad_query_parameter(e.parameter, e.message);
        case queries::errc::not_found: return not_found(e.message);
        case queries::errc::unavailable:
        case queries::errc::not_yet_applied: break;
    }
    return unavailable("the reviews read model cannot be read", 1);
}

std::string render_page(const queries::review_page& p) {
    std::string body = R"({"items":[)";
    for (std::size_t i = 0; i < p.items.size(); ++i) {
        if (i > 0) body.push_back(',');
        body += render_review(p.items[i].state, p.items[i].version);
    }
    body += R"(],"next":)";
    body += p.next ? nlohmann::json(*p.next).dump() : std::string("null");
    body.push_back('}');
    return body;
}

std::string render_rating(std::string_view sku, const queries::rating_view& r) {
    nlohmann::json histogram = nlohmann::json::object();
    for (std::size_t i = 0; i < r.histogram.size(); ++i) histogram[std::to_string(i + 1)] = r.histogram[i];
    // Two decimals exactly: the number is written from its hundredths, not a double's digits.
    std::string body = nlohmann::json{{"sku", sku}, {"count", r.count}, {"average", "@"}, {"histogram", histogram},
                                      {"helpfulVotes", r.helpful_votes}}
                           .dump();
    const std::string written = r.average_hundredths ? queries::format_hundredths(*r.average_hundredths) : "null";
    body.replace(body.find(R"("@")"), 3, written);
    return body;
}

}  // namespace

result<query_answer, problem> answer_review_query(const queries::review_queries& q, review_query_route route,
                                                  const std::string& param, const queries::page_request& page,
                                                  const queries::viewer& who) {
    switch (route) {
        case review_query_route::get_review: {
            auto r = q.get_review(param, who);
            if (!r) return fail(problem_of(r.error()));
            return query_answer{200, render_review(r->state, r->version), {{"ETag", etag(r->version)}}};
        }
        case review_query_route::product_reviews: {
            auto p = q.list_product_reviews(param, page, who);
            if (!p) return fail(problem_of(p.error()));
            return query_answer{200, render_page(*p), {}};
        }
        case review_query_route::customer_reviews: {
            auto p = q.list_customer_reviews(param, page, who);
            if (!p) return fail(problem_of(p.error()));
            return query_answer{200, render_page(*p), {}};
        }
        case review_query_route::product_rating: {
            auto r = q.get_product_rating(param);
            if (!r) return fail(problem_of(r.error()));
            return query_answer{200, render_rating(param, *r), {}};
        }
    }
    return fail(internal_error("unknown review query route"));
}

}  // namespace shopstream::adapters::http
