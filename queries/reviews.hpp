#pragma once
// Review queries over the reviews read model (projections/reviews_model.hpp): one review,
// a product's reviews page by page in three orders, a product's rating summary, a
// customer's reviews - with the visibility rules of issue 11:
//   the public   sees visible reviews only;
//   an author    also sees their own hidden and retracted reviews;
//   an admin     sees every review, with its status.
// A review the viewer may not see is not_found (its existence is not revealed).
//
// Parameters arrive as the text of the request (the HTTP routes stay thin: parse here,
// render there), and every bad one is errc::invalid_argument naming it: `sort` other
// than recent|helpful|rating, `limit` not 1-100, an `after` cursor that is malformed or
// belongs to another listing (another product, customer or order).
//
// Cursors are opaque: base64url (libcrypto's encoder) of a format byte, the listing's
// kind and order, and the model's index key to resume after. They are not secret - a
// cursor names only public index positions of the listing it was made for, and the
// visibility rules apply to every page - so they are not signed.
//
// Thread-safety: const member functions, safe from any thread (the model's reads are).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "domain/common.hpp"
#include "queries/errc.hpp"
#include "projections/reviews_model.hpp"

namespace shopstream::queries {


// queries/errc.hpp's codes, with the parameter at fault beside the message.
struct query_error {
    errc code = errc::unavailable;
    std::string parameter;  // for invalid_argument
    std::string message;
};

// Who asks; nullopt: an anonymous reader.
using viewer = std::optional<domain::actor>;

inline constexpr std::size_t default_page_limit = 20;
inline constexpr std::size_t max_page_limit = 100;

// The page parameters as the request spells them; empty: not given.
struct page_request {
    std::string_view sort;   // products only; default "recent"
    std::string_view limit;  // default default_page_limit
    std::string_view after;  // a cursor from a page's `next`
};

struct review_page {
    std::vector<projections::review_record> items;
    std::optional<std::string> next;  // the cursor of the next page; nullopt: the last page
};

struct rating_view {
    std::uint64_t count = 0;
    // The mean rating in hundredths, rounded half up (433 = 4.33); nullopt without reviews.
    std::optional<std::uint64_t> average_hundredths;
    std::array<std::uint64_t, 5> histogram{};  // [0] = ratings of 1 ... [4] = of 5
    std::uint64_t helpful_votes = 0;
};

// "4.33" for 433.
[[nodiscard]] std::string format_hundredths(std::uint64_t hundredths);

[[nodiscard]] std::string_view name_of(domain::review::review_status s) noexcept;

class review_queries {
public:
    explicit review_queries(const projections::reviews_model& model) : model_(model) {}

    [[nodiscard]] result<projections::review_record, query_error> get_review(std::string_view review_id,
                                                                             const viewer& who) const;
    [[nodiscard]] result<review_page, query_error> list_product_reviews(std::string_view sku, const page_request& page,
                                                                        const viewer& who) const;
    [[nodiscard]] result<rating_view, query_error> get_product_rating(std::string_view sku) const;
    // `sort` is not a parameter of this listing (newest first); a given one is refused.
    [[nodiscard]] result<review_page, query_error> list_customer_reviews(std::string_view customer,
                                                                         const page_request& page,
                                                                         const viewer& who) const;

private:
    [[nodiscard]] result<review_page, query_error> list(const projections::review_listing& listing,
                                                        const page_request& page, const viewer& who) const;
    const projections::reviews_model& model_;
};

}  // namespace shopstream::queries
