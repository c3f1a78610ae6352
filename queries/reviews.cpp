#include "queries/reviews.hpp"

#include <charconv>

#include "queries/base64url.hpp"

namespace shopstream::queries {
namespace {

namespace review = domain::review;
using projections::review_listing;
using projections::review_order;
using review::review_status;

constexpr char cursor_format = 1;


std::string make_cursor(const review_listing& l, std::string_view key) {
    std::string raw;
    raw.push_back(cursor_format);
    raw.push_back(static_cast<char>(l.of));
    raw.push_back(static_cast<char>(l.order));
    raw += key;
    return base64url(raw);
}

query_error bad(std::string parameter, std::string message) {
    return {errc::invalid_argument, std::move(parameter), std::move(message)};
}

// The index key a cursor resumes after, when it was made for `l`.
result<std::string, query_error> key_of_cursor(const review_listing& l, std::string_view cursor) {
    // No cursor this API makes is longer (a listing key is bounded); a longer one is not
    // decoded at all.
    auto raw = cursor.size() > 2048 ? std::nullopt : from_base64url(cursor);
    if (!raw || raw->size() < 4 || (*raw)[0] != cursor_format) return fail(bad("after", "after is not a cursor this API made"));
    if ((*raw)[1] != static_cast<char>(l.of) || (*raw)[2] != static_cast<char>(l.order)) {
        return fail(bad("after", "after is a cursor of another listing or sort order"));
    }
    return raw->substr(3);
}

result<std::size_t, query_error> parse_limit(std::string_view text) {
    if (text.empty()) return default_page_limit;
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < 1 || v > max_page_limit || text.front() == '0') {
        return fail(bad("limit", "limit must be a whole number from 1 to " + std::to_string(max_page_limit)));
    }
    return v;
}

result<review_order, query_error> parse_sort(std::string_view text) {
    if (text.empty() || text == "recent") return review_order::recent;
    if (text == "helpful") return review_order::helpful;
    if (text == "rating") return review_order::rating;
    return fail(bad("sort", "sort must be one of recent, helpful, rating"));
}

bool may_see(const viewer& who, review_status status, std::string_view author) {
    if (status == review_status::visible) return true;
    if (!who) return false;
    if (who->is_admin()) return true;
    return who->role == domain::role::customer && who->id == author;
}

query_error unavailable(const eventstore::error& e) { return {errc::unavailable, "", e.message}; }

}  // namespace

std::string format_hundredths(std::uint64_t hundredths) {
    const std::uint64_t cents = hundredths % 100;
    return std::to_string(hundredths / 100) + (cents < 10 ? ".0" : ".") + std::to_string(cents);
}

std::string_view name_of(review_status s) noexcept {
    switch (s) {
        case review_status::none: return "none";
        case review_status::visible: return "visible";
        case review_status::hidden: return "hidden";
        case review_status::retracted: return "retracted";
    }
    return "unknown";
}

result<projections::review_record, query_error> review_queries::get_review(std::string_view review_id,
                                                                           const viewer& who) const {
    auto r = model_.get(review_id);
    if (!r) return fail(unavailable(r.error()));
    if (!*r || !(*r)->state.exists() || !may_see(who, (*r)->state.status, (*r)->state.author.value())) {
        return fail(query_error{errc::not_found, "", "no review " + std::string(review_id)});
    }
    return std::move(**r);
}

result<review_page, query_error> review_queries::list(const review_listing& listing, const page_request& page,
                                                      const viewer& who) const {
    auto limit = parse_limit(page.limit);
    if (!limit) return fail(std::move(limit.error()));
    std::string after;
    if (!page.after.empty()) {
        auto key = key_of_cursor(listing, page.after);
        if (!key) return fail(std::move(key.error()));
        after = std::move(*key);
    }
    auto p = model_.page(listing, after, *limit,
                         [&who](review_status s, std::string_view author) { return may_see(who, s, author); });
    if (!p) {
        if (p.error().code == eventstore::errc::invalid_argument) {
            return fail(bad("after", "after is a cursor of another listing"));
        }
        return fail(unavailable(p.error()));
    }
    review_page out;
    out.items = std::move(p->items);
    if (p->next) out.next = make_cursor(listing, *p->next);
    return out;
}

result<review_page, query_error> review_queries::list_product_reviews(std::string_view sku, const page_request& page,
                                                                      const viewer& who) const {
    auto order = parse_sort(page.sort);
    if (!order) return fail(std::move(order.error()));
    return list({review_listing::kind::product, std::string(sku), *order}, page, who);
}

result<review_page, query_error> review_queries::list_customer_reviews(std::string_view customer,
                                                                       const page_request& page,
                                                                       const viewer& who) const {
    if (!page.sort.empty() && page.sort != "recent") return fail(bad("sort", "sort is not a parameter of a customer's reviews (newest first)"));
    return list({review_listing::kind::customer, std::string(customer), review_order::recent}, page, who);
}

result<rating_view, query_error> review_queries::get_product_rating(std::string_view sku) const {
    auto s = model_.rating(sku);
    if (!s) return fail(unavailable(s.error()));
    rating_view out;
    out.count = s->count;
    out.histogram = s->histogram;
    out.helpful_votes = s->helpful_votes;
    if (s->count > 0) out.average_hundredths = (s->sum * 200 + s->count) / (2 * s->count);
    return out;
}

}  // namespace shopstream::queries
