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

// `already_voted` is not the caller's to say: the command handler fills it in, before
// every decision, from the state store's voter index (eventstore/aggregates.hpp,
// review_aggregate), so that one vote per customer holds without the state listing every
// voter. It tells whether this voter has voted in the review's current generation.
struct vote_helpful {
    static constexpr std::string_view name = "vote_helpful";
    review_id id;
    actor by;
    timestamp_ms at = 0;
    bool already_voted = false;
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
    // The review_marked_helpful events applied since the last review_submitted. Who voted
    // is not part of the state: a state holding every voter made each vote cost O(votes so
    // far) to decode and encode, and its record grow without bound (issue 9). The voters
    // live in the state store's voter index beside the state, keyed by review and voter
    // and holding the generation they voted in; the decider learns the one fact it needs
    // from it through vote_helpful::already_voted.
    std::uint64_t helpful_votes = 0;
    // How many times the review was submitted: 0 before the first submission, bumped by
    // every review_submitted. A vote counts for the generation it was cast in, so a review
    // resubmitted after a retraction starts with no votes without touching the old voters'
    // index entries.
    std::uint64_t generation = 0;

    [[nodiscard]] bool exists() const noexcept { return status != review_status::none; }
    [[nodiscard]] std::uint64_t helpful_count() const noexcept { return helpful_votes; }

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
    // The command as it reaches decide() again once its events applied: a vote's voter is
    // then in the voter index, so it comes with already_voted. The given() helper of the
    // decider tests decides it to check that every command is idempotent.
    static command repeated(command c) {
        if (auto* vote = std::get_if<vote_helpful>(&c)) vote->already_voted = true;
        return c;
    }
};

}  // namespace shopstream::domain::review
