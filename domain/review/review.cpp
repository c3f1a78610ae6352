#include "domain/review/review.hpp"

#include <optional>
#include <string>

#include "base/utf8.hpp"

namespace shopstream::domain::review {
namespace {

constexpr char separator = '~';

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};

// A rejection when `text` is not valid UTF-8 or its length in code points is outside
// [min, max]; nullopt when it is acceptable.
std::optional<rejection> check_text(std::string_view text, std::size_t min, std::size_t max,
                                    std::string_view field, std::string_view what) {
    const auto count = utf8::count_code_points(text);
    if (!count) {
        return rejection{rejection_code::invalid, std::string(field),
                         std::string(what) + " must be valid UTF-8"};
    }
    if (*count < min || *count > max) {
        return rejection{rejection_code::invalid, std::string(field),
                         std::string(what) + " must be " + std::to_string(min) + " to " +
                             std::to_string(max) + " characters long, got " +
                             std::to_string(*count)};
    }
    return std::nullopt;
}

std::optional<rejection> check_rating(std::int64_t rating) {
    if (rating < min_rating || rating > max_rating) {
        return rejection{
            rejection_code::invalid, "/rating",
            "rating must be a whole number from 1 to 5, got " + std::to_string(rating)};
    }
    return std::nullopt;
}

// Rating, title and body of a submission or an edit, checked in that order.
std::optional<rejection> check_content(std::int64_t rating, std::string_view title,
                                       std::string_view body) {
    if (auto r = check_rating(rating)) return r;
    if (auto r = check_text(title, 1, max_title_code_points, "/title", "title")) return r;
    if (auto r = check_text(body, 0, max_body_code_points, "/body", "body")) return r;
    return std::nullopt;
}

bool same_content(const state& s, std::int64_t rating, std::string_view title,
                  std::string_view body) {
    return s.rating == rating && s.title == title && s.body == body;
}

decision<event> refuse(rejection r) { return std::unexpected<rejection>(std::move(r)); }

decision<event> emit(event e) { return std::vector<event>{std::move(e)}; }

decision<event> nothing() { return std::vector<event>{}; }

// Existence, the first check of every command that names a review id.
std::optional<rejection> check_exists(const review_id& id, const state& s) {
    if (!s.exists() || s.id != id) {
        return rejection{rejection_code::not_found, "", "no review with id '" + id.value() + "'"};
    }
    return std::nullopt;
}

decision<event> decide_submit(const submit_review& c, const state& s) {
    if (!c.by.is(c.customer)) {
        return reject(rejection_code::forbidden, "",
                      "only the customer themself can submit their review");
    }
    if (!is_valid_sku(c.sku)) {
        return reject(
            rejection_code::invalid, "/sku",
            "sku must be 1-64 characters from [A-Za-z0-9._-] starting with a letter or digit");
    }
    if (!is_valid_id(c.customer.value())) {
        return reject(rejection_code::invalid, "/customerId",
                      "customer id must be 1-128 characters from [A-Za-z0-9._:-]");
    }
    if (auto r = check_content(c.rating, c.title, c.body)) return refuse(std::move(*r));

    const review_id id = review_id_for(c.sku, c.customer);
    if (s.exists() && s.id != id) {
        return reject(
            rejection_code::conflict, "",
            "the state given belongs to review '" + s.id.value() + "', not '" + id.value() + "'");
    }
    if (s.exists() && s.status != review_status::retracted) {
        if (same_content(s, c.rating, c.title, c.body)) return nothing();
        return reject(rejection_code::conflict, "",
                      "this customer has already reviewed this product; edit the review instead");
    }
    // New, or resubmitted after a retraction: a fresh review either way (see review.hpp).
    return emit(review_submitted{id, c.sku, c.customer, static_cast<std::uint8_t>(c.rating),
                                 c.title, c.body, c.at});
}

decision<event> decide_edit(const edit_review& c, const state& s) {
    if (auto r = check_exists(c.id, s)) return refuse(std::move(*r));
    if (!c.by.is(s.author)) {
        return reject(rejection_code::forbidden, "", "only the author can edit a review");
    }
    if (auto r = check_content(c.rating, c.title, c.body)) return refuse(std::move(*r));
    if (s.status == review_status::retracted) {
        return reject(rejection_code::conflict, "",
                      "a retracted review cannot be edited; submit it again");
    }
    if (same_content(s, c.rating, c.title, c.body)) return nothing();
    return emit(review_edited{c.id, static_cast<std::uint8_t>(c.rating), c.title, c.body, c.at});
}

decision<event> decide_retract(const retract_review& c, const state& s) {
    if (auto r = check_exists(c.id, s)) return refuse(std::move(*r));
    if (!c.by.is(s.author) && !c.by.is_admin()) {
        return reject(rejection_code::forbidden, "",
                      "only the author or an admin can retract a review");
    }
    if (s.status == review_status::retracted) return nothing();
    return emit(review_retracted{c.id, c.by, c.at});
}

decision<event> decide_moderate(const moderate_review& c, const state& s) {
    if (auto r = check_exists(c.id, s)) return refuse(std::move(*r));
    if (!c.by.is_admin()) {
        return reject(rejection_code::forbidden, "", "only an admin can moderate a review");
    }
    if (c.action != moderation_action::hide && c.action != moderation_action::restore) {
        return reject(rejection_code::invalid, "/action", "action must be 'hide' or 'restore'");
    }
    if (auto r = check_text(c.reason, 1, max_reason_code_points, "/reason", "reason")) {
        return refuse(std::move(*r));
    }
    if (s.status == review_status::retracted) {
        return reject(rejection_code::conflict, "", "a retracted review cannot be moderated");
    }
    if (c.action == moderation_action::hide) {
        if (s.status == review_status::hidden) return nothing();
        return emit(review_hidden{c.id, c.reason, c.by, c.at});
    }
    if (s.status == review_status::visible) return nothing();
    return emit(review_restored{c.id, c.reason, c.by, c.at});
}

decision<event> decide_vote(const vote_helpful& c, const state& s) {
    if (auto r = check_exists(c.id, s)) return refuse(std::move(*r));
    if (c.by.role != role::customer) {
        return reject(rejection_code::forbidden, "", "only customers can vote a review helpful");
    }
    if (!is_valid_id(c.by.id)) {
        return reject(rejection_code::forbidden, "", "the voter's id is not a valid customer id");
    }
    const customer_id voter{c.by.id};
    if (voter == s.author) {
        return reject(rejection_code::forbidden, "", "authors cannot vote on their own review");
    }
    if (s.status == review_status::retracted) {
        return reject(rejection_code::conflict, "", "a retracted review cannot be voted on");
    }
    if (s.status == review_status::hidden) {
        return reject(rejection_code::conflict, "", "a hidden review cannot be voted on");
    }
    if (c.already_voted) return nothing();  // one vote per customer and generation
    return emit(review_marked_helpful{c.id, voter, c.at});
}

}  // namespace

review_id review_id_for(std::string_view sku, const customer_id& customer) {
    std::string id;
    id.reserve(sku.size() + 1 + customer.value().size());
    id.append(sku).push_back(separator);
    id.append(customer.value());
    return review_id{std::move(id)};
}

std::optional<std::pair<std::string, customer_id>> parse_review_id(std::string_view id) {
    const auto at = id.find(separator);
    if (at == std::string_view::npos) return std::nullopt;
    const std::string_view sku = id.substr(0, at);
    const std::string_view customer = id.substr(at + 1);
    // A second '~' fails is_valid_id, so only ids built by review_id_for get through.
    if (!is_valid_sku(sku) || !is_valid_id(customer)) return std::nullopt;
    return std::pair{std::string(sku), customer_id{std::string(customer)}};
}

state initial_state() { return state{}; }

decision<event> decide(const command& cmd, const state& s) {
    return std::visit(overloaded{
                          [&](const submit_review& c) { return decide_submit(c, s); },
                          [&](const edit_review& c) { return decide_edit(c, s); },
                          [&](const retract_review& c) { return decide_retract(c, s); },
                          [&](const moderate_review& c) { return decide_moderate(c, s); },
                          [&](const vote_helpful& c) { return decide_vote(c, s); },
                      },
                      cmd);
}

// Events are facts already decided: evolve applies them without re-checking the rules.
state evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const review_submitted& ev) {
                       // A resubmission after a retraction starts the review over, in a
                       // generation of its own that no earlier vote counts for.
                       const std::uint64_t generation = s.generation + 1;
                       s = state{};
                       s.generation = generation;
                       s.status = review_status::visible;
                       s.id = ev.id;
                       s.sku = ev.sku;
                       s.author = ev.author;
                       s.rating = ev.rating;
                       s.title = ev.title;
                       s.body = ev.body;
                       s.submitted_at = ev.at;
                   },
                   [&](const review_edited& ev) {
                       s.rating = ev.rating;
                       s.title = ev.title;
                       s.body = ev.body;
                       s.edited_at = ev.at;
                   },
                   [&](const review_retracted&) { s.status = review_status::retracted; },
                   [&](const review_hidden&) { s.status = review_status::hidden; },
                   [&](const review_restored&) { s.status = review_status::visible; },
                   // The decider emits one per voter and generation (already_voted), and the
                   // apply rule keeps a decision made on an older version from applying, so
                   // the count is the number of distinct voters of this generation.
                   [&](const review_marked_helpful&) { ++s.helpful_votes; },
               },
               e);
    return s;
}

}  // namespace shopstream::domain::review
