// The Review decider's business rules, one scenario per rule and per rejection.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/utf8.hpp"
#include "domain/review/review.hpp"
#include "tests/domain/given.hpp"

namespace shopstream::domain::review {
namespace {

using shopstream::testing::given;
using rc = rejection_code;

// "é" is two bytes, "€" three, "𝄞" four: repeating them makes bytes ≠ code points.
std::string repeat(std::string_view piece, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out.append(piece);
    return out;
}

const std::string sku = "SKU-42.blue";
const customer_id alice{"alice"};
const customer_id bob{"bob"};
const customer_id carol{"carol"};
const actor alice_actor{"alice", role::customer};
const actor bob_actor{"bob", role::customer};
const actor carol_actor{"carol", role::customer};
const actor admin_actor{"mod-1", role::admin};
const actor system_actor{"saga", role::system};
const actor admin_named_alice{"alice", role::admin};
const review_id id = review_id_for(sku, alice);

const std::string title = "Gr\xC3\xBCn und sch\xC3\xB6n \xE2\x82\xAC";  // "Grün und schön €"
const std::string body = "Tr\xC3\xA8s bien \xF0\x9D\x84\x9E";           // "Très bien 𝄞"

submit_review submit(std::int64_t rating = 4, std::string t = title, std::string b = body) {
    return submit_review{sku, alice, rating, std::move(t), std::move(b), alice_actor, 1000};
}

edit_review edit(std::int64_t rating = 2, std::string t = "Changed my mind", std::string b = "",
                 actor by = alice_actor) {
    return edit_review{id, rating, std::move(t), std::move(b), std::move(by), 2000};
}

retract_review retract(actor by = alice_actor) { return retract_review{id, std::move(by), 3000}; }

moderate_review moderate(moderation_action action, std::string reason = "spam \xE2\x9A\xA0",
                         actor by = admin_actor) {
    return moderate_review{id, action, std::move(reason), std::move(by), 4000};
}

vote_helpful vote(actor by = bob_actor) { return vote_helpful{id, std::move(by), 5000}; }

// A vote by a customer the voter index says has voted in this generation already.
vote_helpful repeat_vote(actor by = bob_actor) {
    auto v = vote(std::move(by));
    v.already_voted = true;
    return v;
}

const review_submitted submitted{id, sku, alice, 4, title, body, 1000};
const review_edited edited{id, 2, "Changed my mind", "", 2000};
const review_retracted retracted{id, alice_actor, 3000};
const review_hidden hidden{id, "spam \xE2\x9A\xA0", admin_actor, 4000};
const review_restored restored{id, "spam \xE2\x9A\xA0", admin_actor, 4000};
const review_marked_helpful bob_voted{id, bob, 5000};

// ---- identity ----------------------------------------------------------------------

TEST(review_id, is_sku_tilde_customer_and_parses_back) {
    EXPECT_EQ(id.value(), "SKU-42.blue~alice");
    const auto parsed = parse_review_id(id.value());
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->first, sku);
    EXPECT_EQ(parsed->second, alice);

    const customer_id odd{"a:b-c.d_e"};
    const auto round = parse_review_id(review_id_for("0.x_Y-z", odd).value());
    ASSERT_TRUE(round.has_value());
    EXPECT_EQ(round->first, "0.x_Y-z");
    EXPECT_EQ(round->second, odd);
}

TEST(review_id, is_injective_over_valid_skus_and_customer_ids) {
    // Pairs whose plain concatenation would collide; the separator keeps them apart.
    const std::vector<std::pair<std::string, std::string>> pairs = {
        {"ab", "c"}, {"a", "bc"}, {"a.b", "c"}, {"a", ".bc"},
        {"a-", "b"}, {"a", "-b"}, {"a", "b:c"}, {"a:b", "c"}};
    std::vector<std::string> ids;
    for (const auto& [s, c] : pairs) {
        const auto rid = review_id_for(s, customer_id{c});
        ids.push_back(rid.value());
        const auto parsed = parse_review_id(rid.value());
        if (is_valid_sku(s) && is_valid_id(c)) {
            ASSERT_TRUE(parsed.has_value()) << rid.value();
            EXPECT_EQ(parsed->first, s);
            EXPECT_EQ(parsed->second.value(), c);
        }
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
        for (std::size_t j = i + 1; j < ids.size(); ++j)
            EXPECT_NE(ids[i], ids[j]) << i << " vs " << j;
    }
}

TEST(review_id, parse_refuses_what_review_id_for_cannot_produce) {
    for (const char* bad :
         {"", "~", "sku", "sku~", "~alice", "sku~alice~x", "sku~~alice", "-sku~alice", "sk u~alice",
          "sku~al ice", "sku:x~alice", "sku~al/ice"}) {
        EXPECT_FALSE(parse_review_id(bad).has_value()) << bad;
    }
    EXPECT_FALSE(parse_review_id(std::string(65, 'a') + "~alice").has_value());
    EXPECT_TRUE(parse_review_id(std::string(64, 'a') + "~" + std::string(128, 'b')).has_value());
    EXPECT_FALSE(parse_review_id(std::string(64, 'a') + "~" + std::string(129, 'b')).has_value());
}

// ---- submit_review ---------------------------------------------------------------------

TEST(review_submit, a_new_review_is_submitted) {
    const state s = given<decider>({}).when(submit()).then({submitted});
    EXPECT_EQ(s.status, review_status::visible);
    EXPECT_TRUE(s.exists());
    EXPECT_EQ(s.id, id);
    EXPECT_EQ(s.sku, sku);
    EXPECT_EQ(s.author, alice);
    EXPECT_EQ(s.rating, 4);
    EXPECT_EQ(s.title, title);
    EXPECT_EQ(s.body, body);
    EXPECT_EQ(s.submitted_at, 1000);
    EXPECT_FALSE(s.edited_at.has_value());
    EXPECT_EQ(s.helpful_count(), 0U);
}

TEST(review_submit, initial_state_does_not_exist) {
    const state s = initial_state();
    EXPECT_FALSE(s.exists());
    EXPECT_EQ(s.status, review_status::none);
    EXPECT_EQ(s.helpful_count(), 0U);
}

TEST(review_submit, only_the_customer_themself_may_submit) {
    for (const actor& by :
         {bob_actor, admin_actor, admin_named_alice, system_actor, actor{"alice", role::system}}) {
        auto c = submit();
        c.by = by;
        given<decider>({}).when(c).then_rejected(rc::forbidden, "");
    }
}

TEST(review_submit, authorization_comes_before_validation) {
    auto c = submit(0, "", "");
    c.sku = "bad sku";
    c.by = bob_actor;
    given<decider>({}).when(c).then_rejected(rc::forbidden, "");
}

TEST(review_submit, rejects_a_bad_sku) {
    for (const std::string& bad : {std::string{}, std::string("-leading"), std::string("has space"),
                                   std::string("a~b"), std::string(65, 'x')}) {
        auto c = submit();
        c.sku = bad;
        given<decider>({}).when(c).then_rejected(rc::invalid, "/sku");
    }
}

TEST(review_submit, rejects_a_bad_customer_id) {
    for (const std::string& bad :
         {std::string{}, std::string("a~b"), std::string("al ice"), std::string(129, 'x')}) {
        auto c = submit();
        c.customer = customer_id{bad};
        c.by = actor{bad, role::customer};
        given<decider>({}).when(c).then_rejected(rc::invalid, "/customerId");
    }
}

TEST(review_submit, rating_must_be_1_to_5) {
    for (std::int64_t bad : {std::int64_t{0}, std::int64_t{6}, std::int64_t{-1},
                             std::int64_t{256 + 4}, INT64_MIN, INT64_MAX}) {
        given<decider>({}).when(submit(bad)).then_rejected(rc::invalid, "/rating");
    }
    for (std::int64_t ok : {1, 5}) {
        auto e = submitted;
        e.rating = static_cast<std::uint8_t>(ok);
        given<decider>({}).when(submit(ok)).then({e});
    }
}

TEST(review_submit, title_is_1_to_120_code_points) {
    const std::string t120 =
        repeat("\xC3\xA9", 60) + repeat("\xF0\x9D\x84\x9E", 60);  // 120 cp, 360 bytes
    const std::string t121 = t120 + "x";
    ASSERT_EQ(utf8::count_code_points(t120), 120U);
    ASSERT_GT(t120.size(), 120U);

    given<decider>({}).when(submit(4, "")).then_rejected(rc::invalid, "/title");
    given<decider>({}).when(submit(4, t121)).then_rejected(rc::invalid, "/title");
    for (const std::string& ok : {std::string("\xE2\x82\xAC"), t120}) {
        auto e = submitted;
        e.title = ok;
        given<decider>({}).when(submit(4, ok)).then({e});
    }
}

TEST(review_submit, body_is_0_to_4000_code_points) {
    const std::string b4000 = repeat("\xE2\x82\xAC", 4000);  // 12 000 bytes
    ASSERT_EQ(utf8::count_code_points(b4000), 4000U);
    given<decider>({})
        .when(submit(4, title, b4000 + "\xC3\xA9"))
        .then_rejected(rc::invalid, "/body");
    for (const std::string& ok : {std::string{}, b4000}) {
        auto e = submitted;
        e.body = ok;
        given<decider>({}).when(submit(4, title, ok)).then({e});
    }
}

TEST(review_submit, title_and_body_must_be_valid_utf8) {
    for (const std::string& bad :
         {std::string("\xC3"), std::string("ok\xFF"), std::string("\xC0\xAF"),
          std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80")}) {
        given<decider>({}).when(submit(4, bad)).then_rejected(rc::invalid, "/title");
        given<decider>({}).when(submit(4, title, bad)).then_rejected(rc::invalid, "/body");
    }
}

TEST(review_submit, fields_are_checked_in_order) {
    auto c = submit(9, "", "\xFF");
    c.sku = "";
    c.customer = customer_id{""};
    c.by = actor{"", role::customer};
    given<decider>({}).when(c).then_rejected(rc::invalid, "/sku");
    c.sku = sku;
    given<decider>({}).when(c).then_rejected(rc::invalid, "/customerId");
    c.customer = alice;
    c.by = alice_actor;
    given<decider>({}).when(c).then_rejected(rc::invalid, "/rating");
    c.rating = 3;
    given<decider>({}).when(c).then_rejected(rc::invalid, "/title");
    c.title = "t";
    given<decider>({}).when(c).then_rejected(rc::invalid, "/body");
}

TEST(review_submit, the_same_review_again_is_an_idempotent_repeat) {
    given<decider>({submitted}).when(submit()).then_nothing();
    given<decider>({submitted, hidden}).when(submit()).then_nothing();
    auto later = submit();
    later.at = 99999;  // a retry later in time is still the same review
    given<decider>({submitted}).when(later).then_nothing();
}

TEST(review_submit, a_different_review_over_an_existing_one_is_a_conflict) {
    given<decider>({submitted}).when(submit(5)).then_rejected(rc::conflict, "");
    given<decider>({submitted}).when(submit(4, "Other")).then_rejected(rc::conflict, "");
    given<decider>({submitted}).when(submit(4, title, "other")).then_rejected(rc::conflict, "");
    given<decider>({submitted, hidden}).when(submit(5)).then_rejected(rc::conflict, "");
    // After an edit, the edited content is what a repeat must match.
    given<decider>({submitted, edited}).when(submit()).then_rejected(rc::conflict, "");
    given<decider>({submitted, edited}).when(submit(2, "Changed my mind", "")).then_nothing();
}

TEST(review_submit, validation_comes_before_the_state_rules) {
    given<decider>({submitted}).when(submit(0)).then_rejected(rc::invalid, "/rating");
}

TEST(review_submit, resubmission_after_retraction_starts_the_review_over) {
    auto again = submit(1, "Second try", "");
    again.at = 9000;
    const review_submitted fresh{id, sku, alice, 1, "Second try", "", 9000};
    const state s =
        given<decider>({submitted, edited, bob_voted, hidden, retracted}).when(again).then({fresh});
    EXPECT_EQ(s.status, review_status::visible);
    EXPECT_EQ(s.rating, 1);
    EXPECT_EQ(s.title, "Second try");
    EXPECT_EQ(s.submitted_at, 9000);
    EXPECT_FALSE(s.edited_at.has_value());
    EXPECT_EQ(s.helpful_count(), 0U);
    EXPECT_EQ(s.generation, 2U);  // bob's vote was in generation 1: it no longer counts
    // Even identical content is resubmitted: the retracted review is gone.
    given<decider>({submitted, retracted}).when(submit()).then({submitted});
}

TEST(review_submit, a_state_of_another_review_is_refused) {
    auto other = submitted;
    other.id = review_id_for("OTHER", alice);
    other.sku = "OTHER";
    given<decider>({other}).when(submit()).then_rejected(rc::conflict, "");
}

// ---- edit_review -------------------------------------------------------------------

TEST(review_edit, the_author_edits_their_review) {
    const state s = given<decider>({submitted}).when(edit()).then({edited});
    EXPECT_EQ(s.rating, 2);
    EXPECT_EQ(s.title, "Changed my mind");
    EXPECT_EQ(s.body, "");
    EXPECT_EQ(s.edited_at, 2000);
    EXPECT_EQ(s.submitted_at, 1000);
    EXPECT_EQ(s.status, review_status::visible);
}

TEST(review_edit, each_changed_field_is_an_edit) {
    given<decider>({submitted})
        .when(edit(5, title, body))
        .then({review_edited{id, 5, title, body, 2000}});
    given<decider>({submitted})
        .when(edit(4, "New", body))
        .then({review_edited{id, 4, "New", body, 2000}});
    given<decider>({submitted})
        .when(edit(4, title, ""))
        .then({review_edited{id, 4, title, "", 2000}});
}

TEST(review_edit, keeps_the_helpful_votes) {
    const state s = given<decider>({submitted, bob_voted}).when(edit()).then({edited});
    EXPECT_EQ(s.helpful_count(), 1U);
    EXPECT_EQ(s.generation, 1U);
}

TEST(review_edit, a_hidden_review_may_be_edited_and_stays_hidden) {
    const state s = given<decider>({submitted, hidden}).when(edit()).then({edited});
    EXPECT_EQ(s.status, review_status::hidden);
}

TEST(review_edit, the_same_content_is_an_idempotent_repeat) {
    given<decider>({submitted}).when(edit(4, title, body)).then_nothing();
    given<decider>({submitted, edited}).when(edit()).then_nothing();
}

TEST(review_edit, a_review_that_does_not_exist_is_not_found) {
    given<decider>({}).when(edit()).then_rejected(rc::not_found, "");
    auto other = edit();
    other.id = review_id_for(sku, bob);
    given<decider>({submitted}).when(other).then_rejected(rc::not_found, "");
}

TEST(review_edit, only_the_author_may_edit_not_even_an_admin) {
    for (const actor& by : {bob_actor, admin_actor, admin_named_alice, system_actor}) {
        given<decider>({submitted}).when(edit(2, "x", "", by)).then_rejected(rc::forbidden, "");
    }
}

TEST(review_edit, existence_then_authorization_then_validation) {
    given<decider>({}).when(edit(0, "", "", bob_actor)).then_rejected(rc::not_found, "");
    given<decider>({submitted}).when(edit(0, "", "", bob_actor)).then_rejected(rc::forbidden, "");
    given<decider>({submitted, retracted}).when(edit(0)).then_rejected(rc::invalid, "/rating");
}

TEST(review_edit, validates_rating_title_and_body) {
    const std::string t120 = repeat("\xE2\x82\xAC", 120);
    const std::string b4000 = repeat("\xC3\xA9", 4000);
    given<decider>({submitted}).when(edit(0)).then_rejected(rc::invalid, "/rating");
    given<decider>({submitted}).when(edit(6)).then_rejected(rc::invalid, "/rating");
    given<decider>({submitted}).when(edit(2, "")).then_rejected(rc::invalid, "/title");
    given<decider>({submitted})
        .when(edit(2, t120 + "\xE2\x82\xAC"))
        .then_rejected(rc::invalid, "/title");
    given<decider>({submitted}).when(edit(2, "ok\xC3")).then_rejected(rc::invalid, "/title");
    given<decider>({submitted})
        .when(edit(2, "ok", b4000 + "x"))
        .then_rejected(rc::invalid, "/body");
    given<decider>({submitted})
        .when(edit(2, "ok", "\xE0\x80\x80"))
        .then_rejected(rc::invalid, "/body");
    given<decider>({submitted})
        .when(edit(1, t120, b4000))
        .then({review_edited{id, 1, t120, b4000, 2000}});
    given<decider>({submitted}).when(edit(5, "t")).then({review_edited{id, 5, "t", "", 2000}});
}

TEST(review_edit, a_retracted_review_cannot_be_edited) {
    given<decider>({submitted, retracted}).when(edit()).then_rejected(rc::conflict, "");
    given<decider>({submitted, retracted})
        .when(edit(4, title, body))
        .then_rejected(rc::conflict, "");
}

// ---- retract_review ----------------------------------------------------------------

TEST(review_retract, the_author_retracts) {
    const state s = given<decider>({submitted}).when(retract()).then({retracted});
    EXPECT_EQ(s.status, review_status::retracted);
    EXPECT_TRUE(s.exists());
}

TEST(review_retract, an_admin_retracts_and_is_recorded) {
    given<decider>({submitted})
        .when(retract(admin_actor))
        .then({review_retracted{id, admin_actor, 3000}});
}

TEST(review_retract, a_hidden_review_can_be_retracted) {
    const state s = given<decider>({submitted, hidden}).when(retract()).then({retracted});
    EXPECT_EQ(s.status, review_status::retracted);
}

TEST(review_retract, others_are_forbidden) {
    for (const actor& by : {bob_actor, system_actor, actor{"alice", role::system}}) {
        given<decider>({submitted}).when(retract(by)).then_rejected(rc::forbidden, "");
    }
}

TEST(review_retract, retracting_twice_is_an_idempotent_repeat) {
    given<decider>({submitted, retracted}).when(retract()).then_nothing();
    given<decider>({submitted, retracted}).when(retract(admin_actor)).then_nothing();
}

TEST(review_retract, a_review_that_does_not_exist_is_not_found) {
    given<decider>({}).when(retract()).then_rejected(rc::not_found, "");
    given<decider>({}).when(retract(admin_actor)).then_rejected(rc::not_found, "");
}

TEST(review_retract, authorization_comes_before_the_state_rules) {
    given<decider>({submitted, retracted})
        .when(retract(bob_actor))
        .then_rejected(rc::forbidden, "");
}

// ---- moderate_review ---------------------------------------------------------------

TEST(review_moderate, an_admin_hides_a_visible_review) {
    const state s =
        given<decider>({submitted}).when(moderate(moderation_action::hide)).then({hidden});
    EXPECT_EQ(s.status, review_status::hidden);
}

TEST(review_moderate, an_admin_restores_a_hidden_review) {
    const state s = given<decider>({submitted, hidden})
                        .when(moderate(moderation_action::restore))
                        .then({restored});
    EXPECT_EQ(s.status, review_status::visible);
}

TEST(review_moderate, hide_and_restore_can_alternate) {
    const state s = given<decider>({submitted, hidden, restored})
                        .when(moderate(moderation_action::hide))
                        .then({hidden});
    EXPECT_EQ(s.status, review_status::hidden);
}

TEST(review_moderate, hiding_a_hidden_or_restoring_a_visible_review_is_an_idempotent_repeat) {
    given<decider>({submitted, hidden})
        .when(moderate(moderation_action::hide, "another reason"))
        .then_nothing();
    given<decider>({submitted}).when(moderate(moderation_action::restore)).then_nothing();
    given<decider>({submitted, hidden, restored})
        .when(moderate(moderation_action::restore))
        .then_nothing();
}

TEST(review_moderate, only_admins_moderate) {
    for (const actor& by : {alice_actor, bob_actor, system_actor}) {
        given<decider>({submitted})
            .when(moderate(moderation_action::hide, "r", by))
            .then_rejected(rc::forbidden, "");
        given<decider>({submitted, hidden})
            .when(moderate(moderation_action::restore, "r", by))
            .then_rejected(rc::forbidden, "");
    }
}

TEST(review_moderate, a_review_that_does_not_exist_is_not_found) {
    given<decider>({}).when(moderate(moderation_action::hide)).then_rejected(rc::not_found, "");
    given<decider>({})
        .when(moderate(moderation_action::restore, "", bob_actor))
        .then_rejected(rc::not_found, "");
}

TEST(review_moderate, an_unknown_action_is_invalid) {
    given<decider>({submitted})
        .when(moderate(static_cast<moderation_action>(2)))
        .then_rejected(rc::invalid, "/action");
    given<decider>({submitted})
        .when(moderate(static_cast<moderation_action>(255)))
        .then_rejected(rc::invalid, "/action");
}

TEST(review_moderate, the_reason_is_1_to_500_code_points_of_utf8) {
    const std::string r500 = repeat("\xF0\x9F\x98\x80", 500);  // 2 000 bytes
    given<decider>({submitted})
        .when(moderate(moderation_action::hide, ""))
        .then_rejected(rc::invalid, "/reason");
    given<decider>({submitted})
        .when(moderate(moderation_action::hide, r500 + "x"))
        .then_rejected(rc::invalid, "/reason");
    given<decider>({submitted})
        .when(moderate(moderation_action::hide, "bad\xFE"))
        .then_rejected(rc::invalid, "/reason");
    // Validation comes before the idempotency of the state rules.
    given<decider>({submitted, hidden})
        .when(moderate(moderation_action::hide, ""))
        .then_rejected(rc::invalid, "/reason");
    given<decider>({submitted})
        .when(moderate(moderation_action::hide, r500))
        .then({review_hidden{id, r500, admin_actor, 4000}});
    given<decider>({submitted})
        .when(moderate(moderation_action::hide, "x"))
        .then({review_hidden{id, "x", admin_actor, 4000}});
}

TEST(review_moderate, a_retracted_review_cannot_be_moderated) {
    given<decider>({submitted, retracted})
        .when(moderate(moderation_action::hide))
        .then_rejected(rc::conflict, "");
    given<decider>({submitted, hidden, retracted})
        .when(moderate(moderation_action::restore))
        .then_rejected(rc::conflict, "");
}

TEST(review_moderate, existence_then_authorization_then_validation_then_state) {
    given<decider>({submitted, retracted})
        .when(moderate(static_cast<moderation_action>(7), "", bob_actor))
        .then_rejected(rc::forbidden, "");
    given<decider>({submitted, retracted})
        .when(moderate(static_cast<moderation_action>(7), ""))
        .then_rejected(rc::invalid, "/action");
    given<decider>({submitted, retracted})
        .when(moderate(moderation_action::hide, ""))
        .then_rejected(rc::invalid, "/reason");
}

// ---- vote_helpful ------------------------------------------------------------------

TEST(review_vote, a_customer_marks_a_review_helpful) {
    const state s = given<decider>({submitted}).when(vote()).then({bob_voted});
    EXPECT_EQ(s.helpful_count(), 1U);
}

TEST(review_vote, each_voter_counts_once_whatever_the_number_before) {
    const review_marked_helpful carol_voted{id, carol, 5000};
    const review_marked_helpful aaron_voted{id, customer_id{"aaron"}, 5000};
    const state s = given<decider>({submitted, carol_voted, bob_voted})
                        .when(vote(actor{"aaron", role::customer}))
                        .then({aaron_voted});
    EXPECT_EQ(s.helpful_count(), 3U);
    // The state holds a count, not the voters: its size does not grow with the votes.
    state many = s;
    for (int i = 0; i < 1000; ++i) many = evolve(std::move(many), review_marked_helpful{id, customer_id{"v" + std::to_string(i)}, 1});
    EXPECT_EQ(many.helpful_count(), 1003U);
    many.helpful_votes = s.helpful_votes;
    EXPECT_EQ(many, s);
}

TEST(review_vote, a_second_vote_by_the_same_customer_is_an_idempotent_repeat) {
    given<decider>({submitted, bob_voted}).when(repeat_vote()).then_nothing();
    // The fact comes with the command: without it the decider cannot know, and votes.
    given<decider>({submitted, bob_voted}).when(vote(carol_actor)).then({review_marked_helpful{id, carol, 5000}});
}

TEST(review_vote, a_repeat_is_still_refused_when_the_review_no_longer_takes_votes) {
    // The state rules come before the repeat: a repeat on a hidden, retracted or own
    // review is refused as any vote would be, never answered "unchanged".
    given<decider>({submitted, bob_voted, hidden}).when(repeat_vote()).then_rejected(rc::conflict, "");
    given<decider>({submitted, bob_voted, retracted}).when(repeat_vote()).then_rejected(rc::conflict, "");
    given<decider>({submitted}).when(repeat_vote(alice_actor)).then_rejected(rc::forbidden, "");
    given<decider>({}).when(repeat_vote()).then_rejected(rc::not_found, "");
}

TEST(review_vote, a_resubmitted_review_starts_a_generation_with_no_votes) {
    const review_submitted again{id, sku, alice, 1, "Again", "", 9000};
    const state first = given<decider>({submitted}).when(vote()).then({bob_voted});
    EXPECT_EQ(first.generation, 1U);
    const state s = given<decider>({submitted, bob_voted, retracted, again}).when(vote()).then({bob_voted});
    EXPECT_EQ(s.generation, 2U);
    EXPECT_EQ(s.helpful_count(), 1U);
}

TEST(review_vote, the_generation_counts_every_submission_from_the_initial_state) {
    EXPECT_EQ(initial_state().generation, 0U);
    // Histories no decider produces still evolve: a vote before any submission does not
    // count for the review submitted after it.
    const state s = evolve(evolve(initial_state(), bob_voted), submitted);
    EXPECT_EQ(s.generation, 1U);
    EXPECT_EQ(s.helpful_count(), 0U);
}

TEST(review_vote, a_restored_review_can_be_voted_on) {
    given<decider>({submitted, hidden, restored})
        .when(vote(carol_actor))
        .then({review_marked_helpful{id, carol, 5000}});
}

TEST(review_vote, only_customers_vote) {
    for (const actor& by : {admin_actor, system_actor, actor{"bob", role::admin}}) {
        given<decider>({submitted}).when(vote(by)).then_rejected(rc::forbidden, "");
    }
}

TEST(review_vote, a_voter_without_a_valid_customer_id_is_forbidden) {
    given<decider>({submitted})
        .when(vote(actor{"", role::customer}))
        .then_rejected(rc::forbidden, "");
    given<decider>({submitted})
        .when(vote(actor{"b o b", role::customer}))
        .then_rejected(rc::forbidden, "");
}

TEST(review_vote, authors_cannot_vote_on_their_own_review) {
    given<decider>({submitted}).when(vote(alice_actor)).then_rejected(rc::forbidden, "");
    // Authorization comes before the state rules.
    given<decider>({submitted, hidden}).when(vote(alice_actor)).then_rejected(rc::forbidden, "");
}

TEST(review_vote, a_hidden_or_retracted_review_cannot_be_voted_on) {
    given<decider>({submitted, hidden}).when(vote()).then_rejected(rc::conflict, "");
    given<decider>({submitted, retracted}).when(vote()).then_rejected(rc::conflict, "");
    given<decider>({submitted, bob_voted, hidden}).when(vote()).then_rejected(rc::conflict, "");
}

TEST(review_vote, a_review_that_does_not_exist_is_not_found) {
    given<decider>({}).when(vote()).then_rejected(rc::not_found, "");
    given<decider>({}).when(vote(admin_actor)).then_rejected(rc::not_found, "");
}

// ---- evolve ------------------------------------------------------------------------

TEST(review_evolve, folds_a_whole_history) {
    state s = initial_state();
    for (const event& e : std::vector<event>{submitted, bob_voted, edited, hidden, restored,
                                             review_marked_helpful{id, carol, 6000}}) {
        s = evolve(std::move(s), e);
    }
    state expected;
    expected.status = review_status::visible;
    expected.id = id;
    expected.sku = sku;
    expected.author = alice;
    expected.rating = 2;
    expected.title = "Changed my mind";
    expected.body = "";
    expected.submitted_at = 1000;
    expected.edited_at = 2000;
    expected.helpful_votes = 2;
    expected.generation = 1;
    EXPECT_EQ(s, expected);
    EXPECT_EQ(s.helpful_count(), 2U);

    s = evolve(std::move(s), retracted);
    expected.status = review_status::retracted;
    EXPECT_EQ(s, expected);
}

TEST(review_events, carry_their_wire_identity) {
    EXPECT_EQ(review_submitted::type_id, 301);
    EXPECT_EQ(review_edited::type_id, 302);
    EXPECT_EQ(review_retracted::type_id, 303);
    EXPECT_EQ(review_hidden::type_id, 304);
    EXPECT_EQ(review_restored::type_id, 305);
    EXPECT_EQ(review_marked_helpful::type_id, 306);
    EXPECT_EQ(review_submitted::name, "review_submitted");
    EXPECT_EQ(review_edited::name, "review_edited");
    EXPECT_EQ(review_retracted::name, "review_retracted");
    EXPECT_EQ(review_hidden::name, "review_hidden");
    EXPECT_EQ(review_restored::name, "review_restored");
    EXPECT_EQ(review_marked_helpful::name, "review_marked_helpful");
    EXPECT_EQ(review_submitted::schema_version, 1);
    EXPECT_EQ(static_cast<int>(review_status::retracted), 3);
    EXPECT_EQ(static_cast<int>(moderation_action::restore), 1);
}

}  // namespace
}  // namespace shopstream::domain::review
