// The Payment decider's business rules, one scenario per rule.
#include "domain/payment/payment.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/domain/given.hpp"

namespace shopstream::domain::payment {
namespace {

using shopstream::testing::given;
using code = rejection_code;

const actor alice{"cust-alice", role::customer};
const actor admin{"admin-1", role::admin};
const actor saga{"payment-saga", role::system};
const actor gateway{"gateway-worker", role::system};

const payment_id pay{"pay-1"};
const order_id ord{"ord-1"};

currency eur() {
    return *currency::parse("EUR");
}

const std::string euro_reason = "Karte abgelehnt \xe2\x82\xac \xf0\x9f\x98\x80";  // € 😀

request_payment request(std::int64_t amount = 3250, std::string currency = "EUR",
                        std::string token = "tok_visa_4242", actor by = saga) {
    return {pay, ord, amount, std::move(currency), std::move(token), std::move(by), 1000};
}
record_authorization approve(std::string auth_code = "AUTH-77", actor by = gateway) {
    return {pay, true, std::move(auth_code), "", std::move(by), 2000};
}
record_authorization decline(std::string reason = euro_reason, actor by = gateway) {
    return {pay, false, "", std::move(reason), std::move(by), 2000};
}
capture_payment capture(actor by = saga) {
    return {pay, std::move(by), 3000};
}
void_payment void_it(std::string reason = "order cancelled", actor by = saga) {
    return {pay, std::move(reason), std::move(by), 3000};
}
refund_payment refund_it(std::string id = "ref-1", std::int64_t amount = 1000,
                         std::string currency = "EUR", actor by = admin) {
    return {.id = pay,
            .refund_id = std::move(id),
            .amount = amount,
            .currency = std::move(currency),
            .reason = "damaged in transit",
            .by = std::move(by),
            .at = 4000};
}

payment_requested requested() {
    return {pay, ord, money{3250, eur()}, "tok_visa_4242", 1000};
}
payment_authorized authorized(std::string auth_code = "AUTH-77") {
    return {pay, std::move(auth_code), 2000};
}
payment_declined declined(std::string reason = euro_reason) {
    return {pay, std::move(reason), 2000};
}
payment_captured captured() {
    return {pay, money{3250, eur()}, 3000};
}
payment_voided voided() {
    return {pay, "order cancelled", 3000};
}
payment_refunded refunded(std::string id = "ref-1", std::int64_t amount = 1000) {
    return {pay, std::move(id), money{amount, eur()}, "damaged in transit", 4000};
}

state state_of(const std::vector<event>& history) {
    state s = initial_state();
    for (const auto& e : history) s = evolve(std::move(s), e);
    return s;
}

// ---- request_payment ----------------------------------------------------------------

TEST(request_payment, the_saga_requests_a_payment) {
    const state s = given<decider>({}).when(request()).then({requested()});
    EXPECT_EQ(s.status, payment_status::requested);
    EXPECT_TRUE(s.exists());
    EXPECT_EQ(s.id, pay);
    EXPECT_EQ(s.order, ord);
    EXPECT_EQ(s.amount, (money{3250, eur()}));
    EXPECT_EQ(s.method_token, "tok_visa_4242");
}

TEST(request_payment, an_admin_may_request_and_a_customer_may_not) {
    given<decider>({}).when(request(3250, "EUR", "tok_visa_4242", admin)).then({requested()});
    given<decider>({})
        .when(request(3250, "EUR", "tok_visa_4242", alice))
        .then_rejected(code::forbidden, "");
    given<decider>({})
        .when(request(0, "EUR", "tok_visa_4242", alice))
        .then_rejected(code::forbidden, "");
}

TEST(request_payment, ids_must_be_valid) {
    auto bad = request();
    bad.id = payment_id{"pay 1"};
    given<decider>({}).when(bad).then_rejected(code::invalid, "/paymentId");
    bad = request();
    bad.order = order_id{""};
    given<decider>({}).when(bad).then_rejected(code::invalid, "/orderId");
}

TEST(request_payment, amount_is_1_to_1e18_minor_units) {
    for (std::int64_t ok : {std::int64_t{1}, std::int64_t{1'000'000'000'000'000'000}}) {
        EXPECT_TRUE(decide(request(ok), initial_state()).has_value()) << ok;
    }
    for (std::int64_t bad :
         {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1'000'000'000'000'000'001},
          std::numeric_limits<std::int64_t>::max()}) {
        given<decider>({}).when(request(bad)).then_rejected(code::invalid, "/amount/amount");
    }
}

TEST(request_payment, currency_is_an_active_iso_4217_code) {
    for (const char* bad : {"", "eur", "XXX", "EURO"}) {
        given<decider>({})
            .when(request(3250, bad))
            .then_rejected(code::invalid, "/amount/currency");
    }
}

TEST(request_payment, method_token_is_1_to_256_printable_ascii) {
    EXPECT_TRUE(decide(request(1, "EUR", std::string(256, 't')), initial_state()).has_value());
    EXPECT_TRUE(decide(request(1, "EUR", "a"), initial_state()).has_value());
    EXPECT_TRUE(decide(request(1, "EUR", " !~"), initial_state()).has_value());
    for (const std::string& bad :
         {std::string(), std::string(257, 't'), std::string("tok\n"), std::string("tok\x7f"),
          std::string("t\xc3\xa9"), std::string("a\0b", 3)}) {
        given<decider>({})
            .when(request(1, "EUR", bad))
            .then_rejected(code::invalid, "/methodToken");
    }
}

TEST(request_payment, an_identical_repeat_changes_nothing) {
    given<decider>({requested()}).when(request()).then_nothing();
    given<decider>({requested(), authorized(), captured()}).when(request()).then_nothing();
}

TEST(request_payment, a_different_request_for_the_same_payment_conflicts) {
    given<decider>({requested()}).when(request(3251)).then_rejected(code::conflict, "");
    given<decider>({requested()}).when(request(3250, "USD")).then_rejected(code::conflict, "");
    given<decider>({requested()})
        .when(request(3250, "EUR", "tok_other"))
        .then_rejected(code::conflict, "");
    auto other_order = request();
    other_order.order = order_id{"ord-2"};
    given<decider>({requested()}).when(other_order).then_rejected(code::conflict, "");
}

// ---- every non-creating command on a missing payment -----------------------------------

TEST(payment, commands_on_a_missing_payment_are_not_found_before_anything_else) {
    given<decider>({}).when(approve("", alice)).then_rejected(code::not_found, "");
    given<decider>({}).when(decline("", alice)).then_rejected(code::not_found, "");
    given<decider>({}).when(capture(alice)).then_rejected(code::not_found, "");
    given<decider>({}).when(void_it("", alice)).then_rejected(code::not_found, "");
    given<decider>({}).when(refund_it("", 0, "", alice)).then_rejected(code::not_found, "");
}

// ---- record_authorization -----------------------------------------------------------

TEST(record_authorization, an_approval_authorizes) {
    const state s = given<decider>({requested()}).when(approve()).then({authorized()});
    EXPECT_EQ(s.status, payment_status::authorized);
    EXPECT_EQ(s.authorization_code, "AUTH-77");
}

TEST(record_authorization, a_decline_declines) {
    const state s = given<decider>({requested()}).when(decline()).then({declined()});
    EXPECT_EQ(s.status, payment_status::declined);
    EXPECT_EQ(s.decline_reason, euro_reason);
}

TEST(record_authorization, only_the_system_records_the_gateways_answer) {
    given<decider>({requested()})
        .when(approve("AUTH-77", admin))
        .then_rejected(code::forbidden, "");
    given<decider>({requested()})
        .when(approve("AUTH-77", alice))
        .then_rejected(code::forbidden, "");
    given<decider>({requested()}).when(decline("", admin)).then_rejected(code::forbidden, "");
}

TEST(record_authorization, an_authorization_code_is_1_to_64_printable_ascii) {
    given<decider>({requested()})
        .when(approve(std::string(64, 'A')))
        .then({authorized(std::string(64, 'A'))});
    for (const std::string& bad : {std::string(), std::string(65, 'A'), std::string("A\tB")}) {
        given<decider>({requested()})
            .when(approve(bad))
            .then_rejected(code::invalid, "/authorizationCode");
    }
}

TEST(record_authorization, a_decline_reason_is_1_to_500_characters_of_utf8) {
    const std::string five_hundred_euros = [] {
        std::string s;
        for (int i = 0; i < 500; ++i) s += "\xe2\x82\xac";
        return s;
    }();
    given<decider>({requested()})
        .when(decline(five_hundred_euros))
        .then({declined(five_hundred_euros)});
    for (const std::string& bad : {std::string(), std::string(501, 'r'), five_hundred_euros + "x",
                                   std::string("bad \xc3"), std::string("\xed\xa0\x80")}) {
        given<decider>({requested()})
            .when(decline(bad))
            .then_rejected(code::invalid, "/declineReason");
    }
}

TEST(record_authorization, the_same_outcome_again_changes_nothing) {
    given<decider>({requested(), authorized()}).when(approve()).then_nothing();
    given<decider>({requested(), authorized(), captured()}).when(approve()).then_nothing();
    given<decider>({requested(), authorized(), voided()}).when(approve()).then_nothing();
    given<decider>({requested(), declined()}).when(decline()).then_nothing();
    given<decider>({requested(), declined()}).when(decline("another wording")).then_nothing();
}

TEST(record_authorization, the_opposite_outcome_or_another_code_conflicts) {
    given<decider>({requested(), authorized()}).when(decline()).then_rejected(code::conflict, "");
    given<decider>({requested(), authorized()})
        .when(approve("AUTH-78"))
        .then_rejected(code::conflict, "");
    given<decider>({requested(), authorized(), captured()})
        .when(decline())
        .then_rejected(code::conflict, "");
    given<decider>({requested(), declined()}).when(approve()).then_rejected(code::conflict, "");
}

// ---- capture_payment ----------------------------------------------------------------

TEST(capture_payment, captures_the_full_authorized_amount) {
    const state s = given<decider>({requested(), authorized()}).when(capture()).then({captured()});
    EXPECT_EQ(s.status, payment_status::captured);
    EXPECT_EQ(s.captured, 3250);
    EXPECT_EQ(s.refundable(), 3250);
    given<decider>({requested(), authorized()}).when(capture(admin)).then({captured()});
}

TEST(capture_payment, a_customer_is_forbidden) {
    given<decider>({requested(), authorized()})
        .when(capture(alice))
        .then_rejected(code::forbidden, "");
}

TEST(capture_payment, only_an_authorized_payment_is_captured) {
    given<decider>({requested()}).when(capture()).then_rejected(code::conflict, "");
    given<decider>({requested(), declined()}).when(capture()).then_rejected(code::conflict, "");
    given<decider>({requested(), authorized(), voided()})
        .when(capture())
        .then_rejected(code::conflict, "");
}

TEST(capture_payment, capturing_again_changes_nothing) {
    given<decider>({requested(), authorized(), captured()}).when(capture()).then_nothing();
    given<decider>({requested(), authorized(), captured(), refunded()})
        .when(capture())
        .then_nothing();
}

// ---- void_payment -------------------------------------------------------------------

TEST(void_payment, voids_an_authorized_payment) {
    const state s = given<decider>({requested(), authorized()}).when(void_it()).then({voided()});
    EXPECT_EQ(s.status, payment_status::voided);
    EXPECT_EQ(s.void_reason, "order cancelled");
    given<decider>({requested(), authorized()})
        .when(void_it("order cancelled", admin))
        .then({voided()});
}

TEST(void_payment, a_customer_is_forbidden) {
    given<decider>({requested(), authorized()})
        .when(void_it("x", alice))
        .then_rejected(code::forbidden, "");
}

TEST(void_payment, the_reason_is_1_to_500_characters_of_utf8) {
    given<decider>({requested(), authorized()})
        .when(void_it(""))
        .then_rejected(code::invalid, "/reason");
    given<decider>({requested(), authorized()})
        .when(void_it(std::string(501, 'r')))
        .then_rejected(code::invalid, "/reason");
    given<decider>({requested(), authorized()})
        .when(void_it("\xff"))
        .then_rejected(code::invalid, "/reason");
    const auto out = decide(void_it(std::string(500, 'r')), state_of({requested(), authorized()}));
    EXPECT_TRUE(out.has_value());
}

TEST(void_payment, a_captured_payment_is_refunded_instead) {
    given<decider>({requested(), authorized(), captured()})
        .when(void_it())
        .then_rejected(code::conflict, "");
    const auto out = decide(void_it(), state_of({requested(), authorized(), captured()}));
    ASSERT_FALSE(out.has_value());
    EXPECT_NE(out.error().reason.find("refund"), std::string::npos);
}

TEST(void_payment, needs_an_authorization) {
    given<decider>({requested()}).when(void_it()).then_rejected(code::conflict, "");
    given<decider>({requested(), declined()}).when(void_it()).then_rejected(code::conflict, "");
}

TEST(void_payment, voiding_again_changes_nothing) {
    given<decider>({requested(), authorized(), voided()}).when(void_it()).then_nothing();
}

// ---- refund_payment -----------------------------------------------------------------

TEST(refund_payment, refunds_part_of_a_captured_payment) {
    const state s = given<decider>({requested(), authorized(), captured()})
                        .when(refund_it())
                        .then({refunded()});
    EXPECT_EQ(s.status, payment_status::captured);
    EXPECT_EQ(s.refunded, 1000);
    EXPECT_EQ(s.refundable(), 2250);
    ASSERT_EQ(s.refunds.size(), 1U);
    EXPECT_EQ(s.refunds[0], (refund{"ref-1", 1000}));
}

TEST(refund_payment, refunds_may_add_up_to_exactly_the_captured_amount) {
    const state s = given<decider>({requested(), authorized(), captured(), refunded()})
                        .when(refund_it("ref-2", 2250, "EUR", saga))
                        .then({refunded("ref-2", 2250)});
    EXPECT_EQ(s.refundable(), 0);
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it("ref-all", 3250))
        .then({refunded("ref-all", 3250)});
}

TEST(refund_payment, more_than_what_is_left_is_invalid) {
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it("ref-1", 3251))
        .then_rejected(code::invalid, "/amount/amount");
    given<decider>({requested(), authorized(), captured(), refunded()})
        .when(refund_it("ref-2", 2251))
        .then_rejected(code::invalid, "/amount/amount");
    given<decider>({requested(), authorized(), captured(), refunded("ref-1", 3250)})
        .when(refund_it("ref-2", 1))
        .then_rejected(code::invalid, "/amount/amount");
}

TEST(refund_payment, amount_is_at_least_one) {
    for (std::int64_t bad :
         {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min()}) {
        given<decider>({requested(), authorized(), captured()})
            .when(refund_it("ref-1", bad))
            .then_rejected(code::invalid, "/amount/amount");
    }
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it("ref-1", 1))
        .then({refunded("ref-1", 1)});
}

TEST(refund_payment, the_currency_is_the_payments) {
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it("ref-1", 10, "USD"))
        .then_rejected(code::invalid, "/amount/currency");
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it("ref-1", 10, "eur"))
        .then_rejected(code::invalid, "/amount/currency");
}

TEST(refund_payment, the_refund_id_must_be_valid) {
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it(""))
        .then_rejected(code::invalid, "/refundId");
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it("ref 1"))
        .then_rejected(code::invalid, "/refundId");
}

TEST(refund_payment, the_reason_is_1_to_500_characters_of_utf8) {
    auto no_reason = refund_it();
    no_reason.reason = "";
    given<decider>({requested(), authorized(), captured()})
        .when(no_reason)
        .then_rejected(code::invalid, "/reason");
}

TEST(refund_payment, a_customer_is_forbidden) {
    given<decider>({requested(), authorized(), captured()})
        .when(refund_it("ref-1", 1000, "EUR", alice))
        .then_rejected(code::forbidden, "");
}

TEST(refund_payment, only_a_captured_payment_is_refunded) {
    given<decider>({requested()}).when(refund_it()).then_rejected(code::conflict, "");
    given<decider>({requested(), authorized()}).when(refund_it()).then_rejected(code::conflict, "");
    given<decider>({requested(), declined()}).when(refund_it()).then_rejected(code::conflict, "");
    given<decider>({requested(), authorized(), voided()})
        .when(refund_it())
        .then_rejected(code::conflict, "");
}

TEST(refund_payment, a_retried_refund_changes_nothing_even_when_nothing_is_left) {
    given<decider>({requested(), authorized(), captured(), refunded()})
        .when(refund_it())
        .then_nothing();
    given<decider>({requested(), authorized(), captured(), refunded("ref-1", 3250)})
        .when(refund_it("ref-1", 3250))
        .then_nothing();
}

TEST(refund_payment, a_refund_id_reused_for_another_amount_conflicts) {
    given<decider>({requested(), authorized(), captured(), refunded()})
        .when(refund_it("ref-1", 999))
        .then_rejected(code::conflict, "");
}

// ---- evolve -------------------------------------------------------------------------

TEST(payment_evolve, folds_a_whole_history) {
    const state s = state_of(
        {requested(), authorized(), captured(), refunded("ref-1", 1000), refunded("ref-2", 250)});
    EXPECT_EQ(s.status, payment_status::captured);
    EXPECT_EQ(s.id, pay);
    EXPECT_EQ(s.order, ord);
    EXPECT_EQ(s.authorization_code, "AUTH-77");
    EXPECT_EQ(s.captured, 3250);
    EXPECT_EQ(s.refunded, 1250);
    EXPECT_EQ(s.refundable(), 2000);
    EXPECT_EQ(s.refunds, (std::vector<refund>{{"ref-1", 1000}, {"ref-2", 250}}));
}

TEST(payment_evolve, stays_total_on_a_corrupt_history) {
    const state s = state_of({requested(), authorized(), captured(),
                              refunded("a", std::numeric_limits<std::int64_t>::max()),
                              refunded("b", std::numeric_limits<std::int64_t>::max())});
    EXPECT_EQ(s.refunded, std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(s.refundable(), 0);
    state negative = initial_state();
    negative.captured = std::numeric_limits<std::int64_t>::max();
    negative.refunded = -1;
    EXPECT_EQ(negative.refundable(), 0);
}

TEST(payment_events, carry_stable_wire_identities) {
    EXPECT_EQ(payment_requested::type_id, 201);
    EXPECT_EQ(payment_authorized::type_id, 202);
    EXPECT_EQ(payment_declined::type_id, 203);
    EXPECT_EQ(payment_captured::type_id, 204);
    EXPECT_EQ(payment_voided::type_id, 205);
    EXPECT_EQ(payment_refunded::type_id, 206);
    EXPECT_EQ(payment_refunded::name, "payment_refunded");
    EXPECT_EQ(static_cast<int>(payment_status::voided), 5);
}

}  // namespace
}  // namespace shopstream::domain::payment
