#pragma once
// The Review aggregate: one customer's review of one product, as a pure decider
// (ARCHITECTURE.md decision 1). Customers submit, edit and retract their own review and
// vote other customers' reviews helpful; admins hide and restore reviews and may retract
// any. Pure values and functions: no I/O, clock or randomness (time arrives in the
// command); everything here is thread-compatible.
//
// One review per customer and product holds by construction: the review id is derived
// from the pair (review_id_for), so a second submission by the same customer for the same
// product lands on the same aggregate and is decided against the first.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "domain/common.hpp"

namespace shopstream::domain::review {

// ---- identity ----------------------------------------------------------------------

// "<sku>~<customer>". '~' is URL-unreserved (RFC 3986), so the id needs no escaping in a
// path, and it occurs in neither a valid sku ([A-Za-z0-9._-]) nor a valid id
// ([A-Za-z0-9._:-]): the first '~' always splits the id back into exactly the pair it
// came from, so the mapping is injective.
[[nodiscard]] review_id review_id_for(std::string_view sku, const customer_id& customer);

// The (sku, customer) pair behind a review id, or nullopt when `id` is not the id of a
// valid sku and a valid customer id joined by review_id_for. For the HTTP layer.
[[nodiscard]] std::optional<std::pair<std::string, customer_id>> parse_review_id(
    std::string_view id);

// ---- limits (code points, not bytes; all text must be valid UTF-8) --------------------

inline constexpr std::int64_t min_rating = 1;
inline constexpr std::int64_t max_rating = 5;
inline constexpr std::size_t max_title_code_points = 120;   // and at least 1
inline constexpr std::size_t max_body_code_points = 4000;   // may be empty
inline constexpr std::size_t max_reason_code_points = 500;  // and at least 1

// ---- commands ----------------------------------------------------------------------
// Ratings arrive as std::int64_t so that any out-of-range input from the edge reaches
// the decider and is rejected here, rather than wrapping in a narrower type.

struct submit_review {
    static constexpr std::string_view name = "submit_review";
    std::string sku;
    customer_id customer;
    std::int64_t rating = 0;
    std::string title;
    std::string body;
    actor by;
    timestamp_ms at = 0;
};

struct edit_review {
    static constexpr std::string_view name = "edit_review";
    review_id id;
    std::int64_t rating = 0;
    std::string title;
    std::string body;
    actor by;
    timestamp_ms at = 0;
};

struct retract_review {
    static constexpr std::string_view name = "retract_review";
    review_id id;
    actor by;
    timestamp_ms at = 0;
};

// Reaches the wire: explicit underlying type, values only ever appended.
enum class moderation_action : std::uint8_t {
    hide = 0,
    restore = 1,
};

struct moderate_review {
    static constexpr std::string_view name = "moderate_review";
    review_id id;
    moderation_action action = moderation_action::hide;
    std::string reason;
    actor by;
    timestamp_ms at = 0;
};

struct vote_helpful {
    static constexpr std::string_view name = "vote_helpful";
    review_id id;
    actor by;
    timestamp_ms at = 0;
};

using command =
    std::variant<submit_review, edit_review, retract_review, moderate_review, vote_helpful>;

// ---- events (type ids 301.., never reused) -------------------------------------------

struct review_submitted {
    static constexpr std::uint16_t type_id = 301;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "review_submitted";

    review_id id;
    std::string sku;
    customer_id author;
    std::uint8_t rating = 0;
    std::string title;
    std::string body;
    timestamp_ms at = 0;

    friend bool operator==(const review_submitted&, const review_submitted&) = default;
};

struct review_edited {
    static constexpr std::uint16_t type_id = 302;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "review_edited";

    review_id id;
    std::uint8_t rating = 0;
    std::string title;
    std::string body;
    timestamp_ms at = 0;

    friend bool operator==(const review_edited&, const review_edited&) = default;
};

struct review_retracted {
    static constexpr std::uint16_t type_id = 303;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "review_retracted";

    review_id id;
    actor by;
    timestamp_ms at = 0;

    friend bool operator==(const review_retracted&, const review_retracted&) = default;
};

struct review_hidden {
    static constexpr std::uint16_t type_id = 304;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "review_hidden";

    review_id id;
    std::string reason;
    actor by;
    timestamp_ms at = 0;

    friend bool operator==(const review_hidden&, const review_hidden&) = default;
};

struct review_restored {
    static constexpr std::uint16_t type_id = 305;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "review_restored";

    review_id id;
    std::string reason;
    actor by;
    timestamp_ms at = 0;

    friend bool operator==(const review_restored&, const review_restored&) = default;
};

struct review_marked_helpful {
    static constexpr std::uint16_t type_id = 306;
    static constexpr std::uint16_t schema_version = 1;
    static constexpr std::string_view name = "review_marked_helpful";

    review_id id;
    customer_id voter;
    timestamp_ms at = 0;

    friend bool operator==(const review_marked_helpful&, const review_marked_helpful&) = default;
};

using event = std::variant<review_submitted, review_edited, review_retracted, review_hidden,
                           review_restored, review_marked_helpful>;

// ---- state -------------------------------------------------------------------------

// Reaches the wire (state store): explicit underlying type, values only ever appended.
enum class review_status : std::uint8_t {
    none = 0,  // never submitted
    visible = 1,
    hidden = 2,  // by moderation; the author can still edit and retract it
    retracted = 3,
};

struct state {
    review_status status = review_status::none;
    review_id id;
    std::string sku;
    customer_id author;
    std::uint8_t rating = 0;
    std::string title;
    std::string body;
    timestamp_ms submitted_at = 0;
    std::optional<timestamp_ms> edited_at;
    // Sorted ascending and without duplicates; membership by binary search.
    std::vector<customer_id> helpful_voters;

    [[nodiscard]] bool exists() const noexcept { return status != review_status::none; }
    [[nodiscard]] std::size_t helpful_count() const noexcept { return helpful_voters.size(); }
    [[nodiscard]] bool has_voted(const customer_id& voter) const noexcept;

    friend bool operator==(const state&, const state&) = default;
};

// ---- the decider ---------------------------------------------------------------------
//
// decide() expects the state of the review the command addresses (for submit_review,
// the one at review_id_for(sku, customer)). A state that exists under another id is a
// wiring error in the caller and is refused (not_found for commands that name an id,
// conflict for submit_review) rather than decided against the wrong review.
//
// Resubmitting after a retraction is allowed and yields a fresh review_submitted: the
// review starts over (visible, no helpful votes, no edit time), because a retraction
// removes the review from the shop and the old votes judged words that are gone.

[[nodiscard]] state initial_state();
[[nodiscard]] decision<event> decide(const command& cmd, const state& s);
[[nodiscard]] state evolve(state s, const event& e);

struct decider {
    using state = review::state;
    using command = review::command;
    using event = review::event;

    static state initial_state() { return review::initial_state(); }
    static decision<event> decide(const command& cmd, const state& s) {
        return review::decide(cmd, s);
    }
    static state evolve(state s, const event& e) { return review::evolve(std::move(s), e); }
};

}  // namespace shopstream::domain::review
