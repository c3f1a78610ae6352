// The Order decider's business rules, one scenario per rule.
#include "domain/order/order.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/domain/given.hpp"

namespace shopstream::domain::order {
namespace {

using shopstream::testing::given;
using code = rejection_code;

const actor alice{"cust-alice", role::customer};
const actor bob{"cust-bob", role::customer};
const actor admin{"admin-1", role::admin};
const actor saga{"order-saga", role::system};

const order_id ord{"ord-1"};
const payment_id pay{"pay-1"};
const payment_id other_pay{"pay-2"};

currency eur() {
    return *currency::parse("EUR");
}
currency usd() {
    return *currency::parse("USD");
}

std::vector<line_input> two_lines() {
    return {{"book-1", 2, 1500}, {"pen", 1, 250}};
}

std::vector<line_input> lines_of(std::size_t n, std::int64_t quantity = 1,
                                 std::int64_t unit_price = 100) {
    std::vector<line_input> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back({"sku-" + std::to_string(i), quantity, unit_price});
    }
    return out;
}

place_order place(std::vector<line_input> lines = two_lines(), std::string currency = "EUR",
                  actor by = alice) {
    return {ord, customer_id{"cust-alice"}, std::move(lines), std::move(currency), std::move(by),
            1000, "tok_visa"};
}

order_placed placed() {
    return {ord, customer_id{"cust-alice"}, {{"book-1", 2, 1500}, {"pen", 1, 250}}, eur(), 3250,
            1000, "tok_visa"};
}
order_confirmed confirmed(payment_id p = pay) {
    return {ord, std::move(p), 2000};
}
order_payment_captured captured() {
    return {ord, pay, money{3250, eur()}, 3000};
}
order_shipped shipped() {
    return {ord, admin, 4000};
}
order_cancelled cancelled(cancel_reason r = cancel_reason::customer_request, actor by = alice) {
    return {ord, r, std::move(by), 5000};
}

cancel_order cancel(actor by = alice) {
    return {ord, std::move(by), 5000};
}
confirm_order confirm(payment_id p = pay, actor by = saga) {
    return {ord, std::move(p), by, 2000};
}
reject_order reject_it(cancel_reason r = cancel_reason::payment_declined, actor by = saga) {
    return {ord, r, std::move(by), 5000};
}
record_payment_capture record_capture(money amount = money{3250, eur()}, payment_id p = pay,
                                      actor by = saga) {
    return {ord, std::move(p), amount, std::move(by), 3000};
}
ship_order ship(actor by = admin) {
    return {ord, std::move(by), 4000};
}

// ---- place_order -------------------------------------------------------------------

TEST(place_order, places_a_pending_order_with_its_total) {
    const state s = given<decider>({}).when(place()).then({placed()});
    EXPECT_EQ(s.status, order_status::pending);
    EXPECT_TRUE(s.exists());
    EXPECT_EQ(s.id, ord);
    EXPECT_EQ(s.customer, customer_id{"cust-alice"});
    EXPECT_EQ(s.total, 3250);
    EXPECT_EQ(s.currency, eur());
    EXPECT_EQ(s.lines, placed().lines);
    EXPECT_EQ(s.placed_at, 1000);
    EXPECT_FALSE(s.payment.has_value());
    EXPECT_FALSE(s.payment_captured);
    EXPECT_FALSE(s.cancel_reason.has_value());
}

TEST(place_order, an_admin_may_place_for_a_customer) {
    given<decider>({}).when(place(two_lines(), "EUR", admin)).then({placed()});
}

TEST(place_order, another_customer_or_the_system_is_forbidden) {
    given<decider>({}).when(place(two_lines(), "EUR", bob)).then_rejected(code::forbidden, "");
    given<decider>({}).when(place(two_lines(), "EUR", saga)).then_rejected(code::forbidden, "");
    // Same id as the customer but another role is not the customer.
    given<decider>({})
        .when(place(two_lines(), "EUR", actor{"cust-alice", role::system}))
        .then_rejected(code::forbidden, "");
}

TEST(place_order, authorization_comes_before_validation_and_existence) {
    given<decider>({}).when(place({}, "EUR", bob)).then_rejected(code::forbidden, "");
    given<decider>({placed()})
        .when(place(two_lines(), "USD", bob))
        .then_rejected(code::forbidden, "");
}

TEST(place_order, ids_must_be_valid) {
    auto bad_order = place();
    bad_order.id = order_id{"ord/1"};
    given<decider>({}).when(bad_order).then_rejected(code::invalid, "/orderId");
    bad_order.id = order_id{""};
    given<decider>({}).when(bad_order).then_rejected(code::invalid, "/orderId");

    auto bad_customer = place(two_lines(), "EUR", admin);
    bad_customer.customer = customer_id{"cust alice"};
    given<decider>({}).when(bad_customer).then_rejected(code::invalid, "/customerId");
}

TEST(place_order, has_between_1_and_100_lines) {
    given<decider>({}).when(place({})).then_rejected(code::invalid, "/lines");
    EXPECT_TRUE(decide(place(lines_of(1)), initial_state()).has_value());
    const auto hundred = decide(place(lines_of(100)), initial_state());
    ASSERT_TRUE(hundred.has_value());
    EXPECT_EQ(std::get<order_placed>(hundred->at(0)).lines.size(), 100U);
    given<decider>({}).when(place(lines_of(101))).then_rejected(code::invalid, "/lines");
}

TEST(place_order, sku_syntax_is_checked_per_line) {
    auto lines = two_lines();
    lines[1].sku = std::string(64, 's');
    EXPECT_TRUE(decide(place(lines), initial_state()).has_value());
    lines[1].sku = std::string(65, 's');
    given<decider>({}).when(place(lines)).then_rejected(code::invalid, "/lines/1/sku");
    lines[1].sku = "";
    given<decider>({}).when(place(lines)).then_rejected(code::invalid, "/lines/1/sku");
    lines = lines_of(5);
    lines[2].sku = "-dash-first";
    given<decider>({}).when(place(lines)).then_rejected(code::invalid, "/lines/2/sku");
}

TEST(place_order, the_same_sku_twice_names_the_later_line) {
    auto lines = lines_of(4);
    lines[3].sku = lines[1].sku;
    given<decider>({}).when(place(lines)).then_rejected(code::invalid, "/lines/3/sku");
}

TEST(place_order, quantity_is_1_to_10000) {
    for (std::int64_t ok : {1, 10'000}) {
        auto lines = two_lines();
        lines[1].quantity = ok;
        EXPECT_TRUE(decide(place(lines), initial_state()).has_value()) << ok;
    }
    for (std::int64_t bad : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{10'001},
                             std::int64_t{1} << 32, std::numeric_limits<std::int64_t>::min()}) {
        auto lines = two_lines();
        lines[1].quantity = bad;
        given<decider>({}).when(place(lines)).then_rejected(code::invalid, "/lines/1/quantity");
    }
}

TEST(place_order, unit_price_is_0_to_1e9_minor_units) {
    for (std::int64_t ok : {0, 1'000'000'000}) {  // line 1 keeps the total above 0
        auto lines = two_lines();
        lines[0].unit_price = ok;
        EXPECT_TRUE(decide(place(lines), initial_state()).has_value()) << ok;
    }
    for (std::int64_t bad : {std::int64_t{-1}, std::int64_t{1'000'000'001},
                             std::numeric_limits<std::int64_t>::max()}) {
        auto lines = two_lines();
        lines[0].unit_price = bad;
        given<decider>({}).when(place(lines)).then_rejected(code::invalid, "/lines/0/unitPrice");
    }
}

TEST(place_order, the_largest_order_totals_without_overflow) {
    const auto out = decide(place(lines_of(100, 10'000, 1'000'000'000)), initial_state());
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(std::get<order_placed>(out->at(0)).total, 1'000'000'000'000'000);
}

// A free order is refused (order.cpp, decide_place: every later step stands on a captured
// payment); a line at price 0 beside a paid one is fine.
TEST(place_order, a_free_order_is_refused_naming_the_lines) {
    given<decider>({}).when(place(lines_of(3, 5, 0))).then_rejected(code::invalid, "/lines");
    auto one_free_line = two_lines();
    one_free_line[1].unit_price = 0;
    const auto out = decide(place(one_free_line), initial_state());
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(std::get<order_placed>(out->at(0)).total, 3000);
    EXPECT_EQ(decide(place(lines_of(1, 1, 1)), initial_state()).has_value(), true);
}

TEST(place_order, the_payment_method_token_travels_into_the_event_and_the_state) {
    auto flaky = place();
    flaky.payment_method_token = "tok_flaky_3";
    auto expected = placed();
    expected.payment_method_token = "tok_flaky_3";
    const state s = given<decider>({}).when(flaky).then({expected});
    EXPECT_EQ(s.payment_method_token, "tok_flaky_3");
}

TEST(place_order, a_missing_or_malformed_token_names_the_payment_method) {
    for (const std::string& bad : std::vector<std::string>{"", "tok_", "visa", "TOK_visa", "tok_a b", "tok_é", "tok_a/b",
                                  "tok_" + std::string(253, 'a')}) {
        auto c = place();
        c.payment_method_token = bad;
        given<decider>({}).when(c).then_rejected(code::invalid, "/paymentMethod/token");
    }
    auto longest = place();
    longest.payment_method_token = "tok_" + std::string(252, 'a');
    EXPECT_TRUE(decide(longest, initial_state()).has_value());
}

TEST(place_order, a_card_number_is_refused_saying_why_without_repeating_it) {
    // 4111 1111 1111 1111 (Visa test, 16), 378282246310005 (Amex test, 15),
    // 6011000990139424 (Discover test), 4222222222222 (13), 6304000000000000018 (19).
    for (const std::string card :
         {"4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "tok_4111111111111111",
          "tok_4111-1111-1111-1111", "378282246310005", "6011000990139424", "4222222222222",
          "6304000000000000018", "tok_ 4111 1111 1111 1111 _x"}) {
        auto c = place();
        c.payment_method_token = card;
        const auto out = decide(c, initial_state());
        ASSERT_FALSE(out.has_value()) << card;
        EXPECT_EQ(out.error().field, "/paymentMethod/token") << card;
        EXPECT_NE(out.error().reason.find("card number"), std::string::npos) << out.error().reason;
        EXPECT_EQ(out.error().reason.find("4111"), std::string::npos) << out.error().reason;
    }
}

TEST(place_order, digits_that_are_no_card_number_are_judged_as_a_token) {
    // Luhn fails (…1112), too short (12 digits) or too long (20 digits) for a card.
    for (const std::string token : {"tok_4111111111111112", "tok_411111111113", "tok_41111111111111111113",
                                    "tok_2026_12_01"}) {
        auto c = place();
        c.payment_method_token = token;
        EXPECT_TRUE(decide(c, initial_state()).has_value()) << token;
    }
    auto spaced = place();
    spaced.payment_method_token = "4111 1111 1111 1112";  // no card, but no token either
    const auto out = decide(spaced, initial_state());
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().field, "/paymentMethod/token");
    EXPECT_EQ(out.error().reason.find("card number"), std::string::npos) << out.error().reason;
}

TEST(place_order, a_repeat_with_another_token_conflicts) {
    auto other = place();
    other.payment_method_token = "tok_declined";
    given<decider>({placed()}).when(other).then_rejected(code::conflict, "");
}

TEST(place_order, currency_is_an_active_iso_4217_code) {
    for (const char* bad : {"", "eur", "EURO", "XXX", "DEM"}) {
        given<decider>({}).when(place(two_lines(), bad)).then_rejected(code::invalid, "/currency");
    }
    auto jpy = placed();
    jpy.currency = *currency::parse("JPY");
    given<decider>({}).when(place(two_lines(), "JPY")).then({jpy});
}

TEST(place_order, repeating_the_same_order_changes_nothing) {
    given<decider>({placed()}).when(place()).then_nothing();
    given<decider>({placed()}).when(place(two_lines(), "EUR", admin)).then_nothing();
    given<decider>({placed(), cancelled()}).when(place()).then_nothing();
}

TEST(place_order, an_existing_order_with_other_content_conflicts) {
    auto lines = two_lines();
    lines[0].quantity = 3;
    given<decider>({placed()}).when(place(lines)).then_rejected(code::conflict, "");
    given<decider>({placed()}).when(place(two_lines(), "USD")).then_rejected(code::conflict, "");
    auto for_bob = place(two_lines(), "EUR", admin);
    for_bob.customer = customer_id{"cust-bob"};
    given<decider>({placed()}).when(for_bob).then_rejected(code::conflict, "");
}

TEST(place_order, validation_comes_before_the_existence_conflict) {
    given<decider>({placed()})
        .when(place(two_lines(), "eur"))
        .then_rejected(code::invalid, "/currency");
}

// ---- every non-creating command on a missing order -----------------------------------

TEST(order, commands_on_a_missing_order_are_not_found_before_anything_else) {
    given<decider>({}).when(cancel(bob)).then_rejected(code::not_found, "");
    given<decider>({})
        .when(confirm(payment_id{"bad id"}, alice))
        .then_rejected(code::not_found, "");
    given<decider>({})
        .when(reject_it(cancel_reason::customer_request, alice))
        .then_rejected(code::not_found, "");
    given<decider>({})
        .when(record_capture(money{1, usd()}, pay, alice))
        .then_rejected(code::not_found, "");
    given<decider>({}).when(ship(alice)).then_rejected(code::not_found, "");
}

// ---- cancel_order -------------------------------------------------------------------

TEST(cancel_order, the_owner_cancels_a_pending_order) {
    const state s = given<decider>({placed()}).when(cancel()).then({cancelled()});
    EXPECT_EQ(s.status, order_status::cancelled);
    EXPECT_EQ(s.cancel_reason, cancel_reason::customer_request);
}

TEST(cancel_order, an_admin_cancels_a_confirmed_and_captured_order) {
    const state s = given<decider>({placed(), confirmed(), captured()})
                        .when(cancel(admin))
                        .then({cancelled(cancel_reason::customer_request, admin)});
    EXPECT_EQ(s.status, order_status::cancelled);
    EXPECT_EQ(s.payment, pay);  // the saga refunds it from here
    EXPECT_TRUE(s.payment_captured);
}

TEST(cancel_order, anyone_else_is_forbidden) {
    given<decider>({placed()}).when(cancel(bob)).then_rejected(code::forbidden, "");
    given<decider>({placed()}).when(cancel(saga)).then_rejected(code::forbidden, "");
    given<decider>({placed(), shipped()}).when(cancel(bob)).then_rejected(code::forbidden, "");
}

TEST(cancel_order, a_shipped_order_cannot_be_cancelled) {
    given<decider>({placed(), confirmed(), captured(), shipped()})
        .when(cancel())
        .then_rejected(code::conflict, "");
}

TEST(cancel_order, an_already_cancelled_order_changes_nothing_whatever_the_reason) {
    given<decider>({placed(), cancelled()}).when(cancel()).then_nothing();
    given<decider>({placed(), cancelled(cancel_reason::payment_declined, saga)})
        .when(cancel(admin))
        .then_nothing();
}

// ---- confirm_order ------------------------------------------------------------------

TEST(confirm_order, the_saga_confirms_a_pending_order) {
    const state s = given<decider>({placed()}).when(confirm()).then({confirmed()});
    EXPECT_EQ(s.status, order_status::confirmed);
    EXPECT_EQ(s.payment, pay);
    EXPECT_FALSE(s.payment_captured);
}

TEST(confirm_order, only_the_system_confirms) {
    given<decider>({placed()}).when(confirm(pay, admin)).then_rejected(code::forbidden, "");
    given<decider>({placed()}).when(confirm(pay, alice)).then_rejected(code::forbidden, "");
    given<decider>({placed()})
        .when(confirm(payment_id{"bad id"}, alice))
        .then_rejected(code::forbidden, "");
}

TEST(confirm_order, the_payment_id_must_be_valid) {
    given<decider>({placed()})
        .when(confirm(payment_id{"bad id"}))
        .then_rejected(code::invalid, "/paymentId");
    given<decider>({placed()})
        .when(confirm(payment_id{""}))
        .then_rejected(code::invalid, "/paymentId");
}

TEST(confirm_order, a_repeat_with_the_same_payment_changes_nothing) {
    given<decider>({placed(), confirmed()}).when(confirm()).then_nothing();
    given<decider>({placed(), confirmed(), captured(), shipped()}).when(confirm()).then_nothing();
}

TEST(confirm_order, another_payment_conflicts) {
    given<decider>({placed(), confirmed()})
        .when(confirm(other_pay))
        .then_rejected(code::conflict, "");
    given<decider>({placed(), confirmed(), captured(), shipped()})
        .when(confirm(other_pay))
        .then_rejected(code::conflict, "");
}

TEST(confirm_order, a_cancelled_order_cannot_be_confirmed) {
    given<decider>({placed(), cancelled()}).when(confirm()).then_rejected(code::conflict, "");
    given<decider>({placed(), cancelled(cancel_reason::payment_timeout, saga)})
        .when(confirm())
        .then_rejected(code::conflict, "");
}

// ---- reject_order -------------------------------------------------------------------

TEST(reject_order, a_declined_payment_cancels_a_pending_order) {
    const state s = given<decider>({placed()})
                        .when(reject_it(cancel_reason::payment_declined))
                        .then({cancelled(cancel_reason::payment_declined, saga)});
    EXPECT_EQ(s.status, order_status::cancelled);
    EXPECT_EQ(s.cancel_reason, cancel_reason::payment_declined);
}

TEST(reject_order, a_payment_timeout_cancels_a_pending_order) {
    const state s = given<decider>({placed()})
                        .when(reject_it(cancel_reason::payment_timeout))
                        .then({cancelled(cancel_reason::payment_timeout, saga)});
    EXPECT_EQ(s.cancel_reason, cancel_reason::payment_timeout);
}

TEST(reject_order, only_the_system_rejects) {
    given<decider>({placed()})
        .when(reject_it(cancel_reason::payment_declined, admin))
        .then_rejected(code::forbidden, "");
    given<decider>({placed()})
        .when(reject_it(cancel_reason::payment_declined, alice))
        .then_rejected(code::forbidden, "");
    given<decider>({placed()})
        .when(reject_it(cancel_reason::customer_request, admin))
        .then_rejected(code::forbidden, "");
}

TEST(reject_order, the_reason_is_a_payment_failure) {
    given<decider>({placed()})
        .when(reject_it(cancel_reason::customer_request))
        .then_rejected(code::invalid, "/reason");
    given<decider>({placed()})
        .when(reject_it(static_cast<cancel_reason>(7)))
        .then_rejected(code::invalid, "/reason");
}

TEST(reject_order, an_already_cancelled_order_changes_nothing) {
    given<decider>({placed(), cancelled()}).when(reject_it()).then_nothing();
    given<decider>({placed(), cancelled(cancel_reason::payment_timeout, saga)})
        .when(reject_it(cancel_reason::payment_declined))
        .then_nothing();
}

TEST(reject_order, a_confirmed_or_shipped_order_cannot_be_rejected) {
    given<decider>({placed(), confirmed()}).when(reject_it()).then_rejected(code::conflict, "");
    given<decider>({placed(), confirmed(), captured(), shipped()})
        .when(reject_it(cancel_reason::payment_timeout))
        .then_rejected(code::conflict, "");
}

// ---- record_payment_capture ---------------------------------------------------------

TEST(record_payment_capture, records_the_capture_of_the_confirming_payment) {
    const state s =
        given<decider>({placed(), confirmed()}).when(record_capture()).then({captured()});
    EXPECT_TRUE(s.payment_captured);
    EXPECT_EQ(s.status, order_status::confirmed);
}

TEST(record_payment_capture, only_the_system_records) {
    given<decider>({placed(), confirmed()})
        .when(record_capture(money{3250, eur()}, pay, admin))
        .then_rejected(code::forbidden, "");
    given<decider>({placed(), confirmed()})
        .when(record_capture(money{3250, eur()}, pay, alice))
        .then_rejected(code::forbidden, "");
}

TEST(record_payment_capture, the_amount_must_be_the_order_total) {
    given<decider>({placed(), confirmed()})
        .when(record_capture(money{3249, eur()}))
        .then_rejected(code::invalid, "/amount");
    given<decider>({placed(), confirmed()})
        .when(record_capture(money{3251, eur()}))
        .then_rejected(code::invalid, "/amount");
    given<decider>({placed(), confirmed()})
        .when(record_capture(money{3250, usd()}))
        .then_rejected(code::invalid, "/amount");
    given<decider>({placed(), confirmed()})
        .when(record_capture(money{3250, eur()}, payment_id{"x y"}))
        .then_rejected(code::invalid, "/paymentId");
}

TEST(record_payment_capture, needs_the_order_confirmed_with_that_payment) {
    given<decider>({placed()}).when(record_capture()).then_rejected(code::conflict, "");
    given<decider>({placed(), confirmed(other_pay)})
        .when(record_capture())
        .then_rejected(code::conflict, "");
    given<decider>({placed(), confirmed(), cancelled()})
        .when(record_capture())
        .then_rejected(code::conflict, "");
}

TEST(record_payment_capture, a_repeat_changes_nothing) {
    given<decider>({placed(), confirmed(), captured()}).when(record_capture()).then_nothing();
    given<decider>({placed(), confirmed(), captured(), shipped()})
        .when(record_capture())
        .then_nothing();
}

// ---- ship_order ---------------------------------------------------------------------

TEST(ship_order, an_admin_ships_a_confirmed_and_paid_order) {
    const state s =
        given<decider>({placed(), confirmed(), captured()}).when(ship()).then({shipped()});
    EXPECT_EQ(s.status, order_status::shipped);
}

TEST(ship_order, only_an_admin_ships) {
    given<decider>({placed(), confirmed(), captured()})
        .when(ship(alice))
        .then_rejected(code::forbidden, "");
    given<decider>({placed(), confirmed(), captured()})
        .when(ship(saga))
        .then_rejected(code::forbidden, "");
}

TEST(ship_order, says_what_is_missing) {
    given<decider>({placed()}).when(ship()).then_rejected(code::conflict, "");
    given<decider>({placed(), confirmed()}).when(ship()).then_rejected(code::conflict, "");
    given<decider>({placed(), cancelled()}).when(ship()).then_rejected(code::conflict, "");

    auto state_of = [](std::vector<event> history) {
        state s = initial_state();
        for (const auto& e : history) s = evolve(std::move(s), e);
        return s;
    };
    const auto unconfirmed = decide(ship(), state_of({placed()}));
    ASSERT_FALSE(unconfirmed.has_value());
    EXPECT_NE(unconfirmed.error().reason.find("not confirmed"), std::string::npos);
    const auto uncaptured = decide(ship(), state_of({placed(), confirmed()}));
    ASSERT_FALSE(uncaptured.has_value());
    EXPECT_NE(uncaptured.error().reason.find("not been captured"), std::string::npos);
}

TEST(ship_order, shipping_again_changes_nothing) {
    given<decider>({placed(), confirmed(), captured(), shipped()}).when(ship()).then_nothing();
}

// ---- evolve -------------------------------------------------------------------------

TEST(order_evolve, the_happy_path_ends_shipped_with_every_fact_kept) {
    state s = initial_state();
    EXPECT_FALSE(s.exists());
    EXPECT_EQ(s.status, order_status::none);
    for (const event& e : std::vector<event>{placed(), confirmed(), captured(), shipped()}) {
        s = evolve(std::move(s), e);
    }
    EXPECT_EQ(s.status, order_status::shipped);
    EXPECT_EQ(s.id, ord);
    EXPECT_EQ(s.total, 3250);
    EXPECT_EQ(s.payment, pay);
    EXPECT_TRUE(s.payment_captured);
    EXPECT_FALSE(s.cancel_reason.has_value());
    EXPECT_EQ(s.placed_at, 1000);
}

TEST(order_evolve, each_event_moves_the_status) {
    EXPECT_EQ(evolve(initial_state(), placed()).status, order_status::pending);
    EXPECT_EQ(evolve(evolve(initial_state(), placed()), confirmed()).status,
              order_status::confirmed);
    const state c =
        evolve(evolve(initial_state(), placed()), cancelled(cancel_reason::payment_timeout, saga));
    EXPECT_EQ(c.status, order_status::cancelled);
    EXPECT_EQ(c.cancel_reason, cancel_reason::payment_timeout);
}

TEST(order_events, carry_stable_wire_identities) {
    EXPECT_EQ(order_placed::type_id, 101);
    EXPECT_EQ(order_cancelled::type_id, 102);
    EXPECT_EQ(order_confirmed::type_id, 103);
    EXPECT_EQ(order_shipped::type_id, 104);
    EXPECT_EQ(order_payment_captured::type_id, 105);
    EXPECT_EQ(order_placed::name, "order_placed");
    EXPECT_EQ(order_payment_captured::name, "order_payment_captured");
    EXPECT_EQ(static_cast<int>(cancel_reason::payment_timeout), 2);
    EXPECT_EQ(static_cast<int>(order_status::shipped), 4);
}

}  // namespace
}  // namespace shopstream::domain::order
