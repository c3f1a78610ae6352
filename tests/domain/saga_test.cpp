// The order/payment saga's decisions (domain/saga/order_payment.hpp): every pair of order
// and payment states, on both sides of the payment deadline, gives the expected step;
// deciding twice gives the same command ids; and every path, driven through the real
// order and payment deciders, ends where the issue says, with each command accepted.
#include "domain/saga/order_payment.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace shopstream::domain::saga {
namespace {

using order::order_status;
using payment::payment_status;

const actor alice{"cust-alice", role::customer};
const actor admin{"admin-1", role::admin};
const actor worker{"payment-gateway", role::system};
const order_id ord{"ord-1"};
const payment_id pay = payment_id_for(ord);
constexpr timestamp_ms placed_at = 1'000;
constexpr timestamp_ms timeout = 30'000;
constexpr timestamp_ms deadline = placed_at + timeout;
constexpr timestamp_ms before = deadline - 1;

currency eur() { return *currency::parse("EUR"); }

// ---- states, built by the aggregates' own evolve ---------------------------------

order::state order_after(const std::vector<order::event>& events) {
    order::state s = order::initial_state();
    for (const auto& e : events) s = order::evolve(std::move(s), e);
    return s;
}

payment::state payment_after(const std::vector<payment::event>& events) {
    payment::state s = payment::initial_state();
    for (const auto& e : events) s = payment::evolve(std::move(s), e);
    return s;
}

order::order_placed placed(std::string token = "tok_visa") {
    return {ord, customer_id{"cust-alice"}, {{"book-1", 2, 1500}}, eur(), 3000, placed_at, std::move(token)};
}
order::order_cancelled cancelled(order::cancel_reason r) { return {ord, r, alice, 5'000}; }
order::order_confirmed confirmed() { return {ord, pay, 3'000}; }
order::order_payment_captured order_captured() { return {ord, pay, money{3000, eur()}, 4'000}; }

payment::payment_requested requested() { return {pay, ord, money{3000, eur()}, "tok_visa", 2'000}; }
payment::payment_authorized authorized(timestamp_ms at = 2'500) { return {pay, "auth-1", at}; }
payment::payment_captured captured() { return {pay, money{3000, eur()}, 3'500}; }

using order_fixture = std::pair<std::string, std::vector<order::event>>;
using payment_fixture = std::pair<std::string, std::vector<payment::event>>;

std::vector<order_fixture> order_states() {
    using r = order::cancel_reason;
    return {
        {"none", {}},
        {"pending", {placed()}},
        {"pending_without_token", {placed("")}},
        {"confirmed", {placed(), confirmed()}},
        {"confirmed_recorded", {placed(), confirmed(), order_captured()}},
        {"shipped", {placed(), confirmed(), order_captured(), order::order_shipped{ord, admin, 6'000}}},
        {"cancelled_by_customer", {placed(), cancelled(r::customer_request)}},
        {"cancelled_declined", {placed(), cancelled(r::payment_declined)}},
        {"cancelled_timeout", {placed(), cancelled(r::payment_timeout)}},
        {"cancelled_after_capture", {placed(), confirmed(), order_captured(), cancelled(r::customer_request)}},
    };
}

std::vector<payment_fixture> payment_states() {
    return {
        {"none", {}},
        {"requested", {requested()}},
        {"authorized", {requested(), authorized()}},
        {"authorized_late", {requested(), authorized(deadline)}},
        {"declined", {requested(), payment::payment_declined{pay, "card declined", 2'500}}},
        {"captured", {requested(), authorized(), captured()}},
        {"voided", {requested(), authorized(), payment::payment_voided{pay, "released", 4'000}}},
        {"refunded_by_saga",
         {requested(), authorized(), captured(),
          payment::payment_refunded{pay, std::string(cancellation_refund_id), money{3000, eur()}, "x", 7'000}}},
        {"partly_refunded_by_admin",
         {requested(), authorized(), captured(), payment::payment_refunded{pay, "goodwill", money{500, eur()}, "x", 7'000}}},
    };
}

// ---- the whole table ------------------------------------------------------------

struct expected {
    stage at;
    std::optional<step> next;  // nullopt: no command
};

constexpr std::optional<step> none = std::nullopt;

// What decide() gives for (order, payment), before the deadline and at/after it where
// that differs. Every pair of the fixtures above is here (checked below).
struct row {
    std::string order;
    std::string payment;
    expected in_time;
    std::optional<expected> overdue;  // nullopt: the same as in_time
};

std::vector<row> table() {
    using s = stage;
    using st = step;
    std::vector<row> rows;
    auto add = [&](std::string o, std::string p, expected e, std::optional<expected> late = std::nullopt) {
        rows.push_back({std::move(o), std::move(p), e, late});
    };
    for (const auto& [p, events] : payment_states()) add("none", p, {s::not_started, none});

    add("pending", "none", {s::requesting, st::request_payment}, expected{s::compensating, st::reject_timeout});
    add("pending", "requested", {s::authorizing, none}, expected{s::compensating, st::reject_timeout});
    add("pending", "authorized", {s::confirming, st::confirm_order});  // authorized in time: confirm, even late
    add("pending", "authorized_late", {s::compensating, st::reject_timeout});
    add("pending", "declined", {s::compensating, st::reject_declined});
    add("pending", "captured", {s::confirming, st::confirm_order});
    add("pending", "voided", {s::compensating, st::reject_declined});
    add("pending", "refunded_by_saga", {s::confirming, st::confirm_order});
    add("pending", "partly_refunded_by_admin", {s::confirming, st::confirm_order});

    // No token (placed before it was required): nothing to charge, whatever the clock.
    add("pending_without_token", "none", {s::compensating, st::reject_declined});

    for (const std::string o : {"confirmed", "confirmed_recorded", "shipped"}) {
        const bool recorded = o != "confirmed";
        add(o, "none", {s::needs_attention, none});
        add(o, "requested", {s::needs_attention, none});
        add(o, "authorized", {s::capturing, st::capture_payment});
        add(o, "authorized_late", {s::capturing, st::capture_payment});
        add(o, "declined", {s::needs_attention, none});
        add(o, "voided", {s::needs_attention, none});
        for (const std::string p : {"captured", "refunded_by_saga", "partly_refunded_by_admin"}) {
            add(o, p, recorded ? expected{s::completed, none} : expected{s::recording, st::record_capture});
        }
    }

    for (const std::string o :
         {"cancelled_by_customer", "cancelled_declined", "cancelled_timeout", "cancelled_after_capture"}) {
        add(o, "none", {s::compensated, none});
        add(o, "requested", {s::compensating, none});
        add(o, "authorized", {s::compensating, st::void_payment});
        add(o, "authorized_late", {s::compensating, st::void_payment});
        add(o, "declined", {s::compensated, none});
        add(o, "voided", {s::compensated, none});
        add(o, "captured", {s::compensating, st::refund_payment});
        add(o, "refunded_by_saga", {s::compensated, none});
        add(o, "partly_refunded_by_admin", {s::compensating, st::refund_payment});
    }
    return rows;
}

std::string describe(const decision& d) {
    std::string out(stage_name(d.stage));
    for (const auto& c : d.commands) out += " " + std::string(step_name(c.step));
    return out;
}

TEST(saga_decide, every_state_pair_on_both_sides_of_the_deadline_gives_its_step) {
    std::map<std::string, order::state> orders;
    std::map<std::string, payment::state> payments;
    for (const auto& [name, events] : order_states()) orders[name] = order_after(events);
    for (const auto& [name, events] : payment_states()) payments[name] = payment_after(events);

    std::set<std::pair<std::string, std::string>> covered;
    const settings config{timeout, actor{"order-saga", role::system}};
    for (const row& r : table()) {
        ASSERT_TRUE(orders.count(r.order) && payments.count(r.payment)) << r.order << "/" << r.payment;
        EXPECT_TRUE(covered.emplace(r.order, r.payment).second) << "twice: " << r.order << "/" << r.payment;
        for (const bool late : {false, true}) {
            SCOPED_TRACE(r.order + " × " + r.payment + (late ? ", overdue" : ", in time"));
            const expected want = late && r.overdue ? *r.overdue : r.in_time;
            const decision d = decide(orders[r.order], payments[r.payment], late ? deadline : before, config);
            EXPECT_EQ(d.stage, want.at) << describe(d);
            ASSERT_EQ(d.commands.size(), want.next ? 1U : 0U) << describe(d);
            if (want.next) {
                EXPECT_EQ(d.commands[0].step, *want.next) << describe(d);
                EXPECT_EQ(d.commands[0].id, command_id_for(ord, *want.next));
            }
        }
    }
    // Exhaustive over the fixtures, except pairs of a token-less order with an existing
    // payment, which the saga never requests.
    for (const auto& [o, oe] : order_states()) {
        for (const auto& [p, pe] : payment_states()) {
            if (o == "pending_without_token" && p != "none") continue;
            EXPECT_TRUE(covered.count({o, p})) << "no expectation for " << o << "/" << p;
        }
    }
}

TEST(saga_decide, deciding_twice_gives_the_same_command_ids_whatever_the_clock) {
    for (const auto& [o, oe] : order_states()) {
        for (const auto& [p, pe] : payment_states()) {
            const auto os = order_after(oe);
            const auto ps = payment_after(pe);
            for (const auto& [t1, t2] : {std::pair{placed_at, before}, std::pair{deadline, deadline + 86'400'000}}) {
                const decision a = decide(os, ps, t1);
                const decision b = decide(os, ps, t2);
                ASSERT_EQ(a.commands.size(), b.commands.size()) << o << "/" << p;
                for (std::size_t i = 0; i < a.commands.size(); ++i) {
                    EXPECT_EQ(a.commands[i].id, b.commands[i].id) << o << "/" << p;
                    EXPECT_EQ(a.commands[i].step, b.commands[i].step) << o << "/" << p;
                }
                const decision again = decide(os, ps, t1);
                EXPECT_EQ(again.stage, a.stage) << "the same inputs, the same decision";
                EXPECT_EQ(again.wake_at, a.wake_at);
            }
        }
    }
}

TEST(saga_decide, command_ids_are_the_order_id_and_the_step) {
    EXPECT_EQ(command_id_for(ord, step::request_payment).value(), "saga:ord-1:request_payment");
    EXPECT_EQ(command_id_for(order_id{"o:2"}, step::reject_timeout).value(), "saga:o:2:reject_timeout");
    std::set<std::string> ids;
    for (int s = 0; s <= static_cast<int>(step::refund_payment); ++s) {
        ids.insert(command_id_for(ord, static_cast<step>(s)).value());
        EXPECT_NE(step_name(static_cast<step>(s)), "unknown");
    }
    EXPECT_EQ(ids.size(), 8U) << "every step has its own command id";
    // The longest order id still makes a command id the command handler accepts (≤ 255).
    const order_id longest{std::string(128, 'o')};
    for (int s = 0; s <= static_cast<int>(step::refund_payment); ++s) {
        EXPECT_LE(command_id_for(longest, static_cast<step>(s)).value().size(), 255U);
    }
}

TEST(saga_decide, the_payment_deadline_is_placed_at_plus_the_timeout_and_wakes_the_saga) {
    const auto pending = order_after({placed()});
    const settings config{500, actor{"order-saga", role::system}};
    const decision first = decide(pending, payment::initial_state(), placed_at, config);
    EXPECT_EQ(first.wake_at, placed_at + 500);
    const auto waiting = payment_after({requested()});
    EXPECT_EQ(decide(pending, waiting, placed_at + 499, config).wake_at, placed_at + 500);
    EXPECT_TRUE(decide(pending, waiting, placed_at + 499, config).commands.empty());
    const decision due = decide(pending, waiting, placed_at + 500, config);
    ASSERT_EQ(due.commands.size(), 1U);
    EXPECT_EQ(due.commands[0].step, step::reject_timeout);
    EXPECT_FALSE(due.wake_at.has_value());
    // A timeout beyond the clock's range saturates instead of overflowing.
    const settings forever{std::numeric_limits<timestamp_ms>::max(), actor{"order-saga", role::system}};
    EXPECT_EQ(decide(pending, waiting, placed_at + 1, forever).stage, stage::authorizing);
}

TEST(saga_decide, the_payment_lands_on_the_orders_partition_because_it_is_keyed_by_the_order_id) {
    // The partitioner (eventstore::murmur2_partition) is a function of the key bytes only,
    // so equal keys share a partition for every partition count; eventstore's tests check
    // the partitioner, here only that the key is equal.
    for (const std::string& id : std::vector<std::string>{"ord-1", "o", std::string(128, 'x'), "ord:2026-12-01.0001"}) {
        EXPECT_EQ(payment_id_for(order_id{id}).value(), id);
    }
}

TEST(saga_decide, the_request_carries_the_order_total_currency_and_token) {
    const auto d = decide(order_after({placed("tok_flaky_2")}), payment::initial_state(), 1'234);
    ASSERT_EQ(d.commands.size(), 1U);
    const auto* r = std::get_if<payment::request_payment>(&d.commands[0].command);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->id, pay);
    EXPECT_EQ(r->order, ord);
    EXPECT_EQ(r->amount, 3000);
    EXPECT_EQ(r->currency, "EUR");
    EXPECT_EQ(r->method_token, "tok_flaky_2");
    EXPECT_TRUE(r->by.is_system());
    EXPECT_EQ(r->at, 1'234);
}

TEST(saga_decide, a_refund_after_cancellation_returns_what_is_left_of_the_capture) {
    auto o = order_after({placed(), confirmed(), order_captured(), cancelled(order::cancel_reason::customer_request)});
    const auto full = decide(o, payment_after({requested(), authorized(), captured()}), before);
    ASSERT_EQ(full.commands.size(), 1U);
    const auto& refund = std::get<payment::refund_payment>(full.commands[0].command);
    EXPECT_EQ(refund.amount, 3000);
    EXPECT_EQ(refund.currency, "EUR");
    EXPECT_EQ(refund.refund_id, cancellation_refund_id);
    const auto partly = decide(
        o,
        payment_after({requested(), authorized(), captured(),
                       payment::payment_refunded{pay, "goodwill", money{500, eur()}, "x", 7'000}}),
        before);
    ASSERT_EQ(partly.commands.size(), 1U);
    EXPECT_EQ(std::get<payment::refund_payment>(partly.commands[0].command).amount, 2500);
}

// ---- every path through the real deciders ----------------------------------------

// The saga and the gateway worker acting on one order: applies each saga command with
// the aggregates' own decide/evolve (so a command the aggregate would refuse fails the
// test) until the saga has nothing more to do; the gateway's answer comes from `gateway`
// when the payment is requested.
struct world {
    order::state order = order::initial_state();
    payment::state payment = payment::initial_state();
    std::vector<std::string> steps;
    std::vector<std::string> order_events;
    std::vector<std::string> payment_events;

    template <class Decider>
    static void apply(typename Decider::state& s, const typename Decider::command& c,
                      std::vector<std::string>& names) {
        const auto out = Decider::decide(c, s);
        ASSERT_TRUE(out.has_value()) << out.error().reason;
        for (const auto& e : *out) {
            names.emplace_back(std::visit([](const auto& ev) { return ev.name; }, e));
            s = Decider::evolve(std::move(s), e);
        }
    }
    void order_cmd(const order::command& c) { apply<order::decider>(order, c, order_events); }
    // Alice places the saga's order (two books, 3 000 cents) paying with `token`.
    void place(std::string token) {
        order_cmd(order::place_order{ord, customer_id{"cust-alice"}, {{"book-1", 2, 1500}}, "EUR", alice, placed_at,
                                     std::move(token)});
    }
    void payment_cmd(const payment::command& c) { apply<payment::decider>(payment, c, payment_events); }

    // Runs the saga to quiescence at `now`; every step is also re-applied once to show
    // that a repeated step (a crash before the checkpoint) changes nothing.
    void run(timestamp_ms now) {
        for (int guard = 0; guard < 20; ++guard) {
            const decision d = decide(order, payment, now);
            if (d.commands.empty()) return;
            for (const auto& c : d.commands) {
                steps.emplace_back(step_name(c.step));
                for (int twice = 0; twice < 2; ++twice) {
                    std::visit(
                        [&](const auto& cmd) {
                            using T = std::decay_t<decltype(cmd)>;
                            if constexpr (std::is_constructible_v<order::command, T>) {
                                order_cmd(cmd);
                            } else {
                                payment_cmd(cmd);
                            }
                        },
                        c.command);
                }
            }
        }
        FAIL() << "the saga did not come to rest";
    }
    void gateway(bool approved, timestamp_ms at) {
        payment_cmd(payment::record_authorization{payment.id, approved, approved ? "auth-7" : "",
                                                  approved ? "" : "card declined", worker, at});
    }
};

using names = std::vector<std::string>;

TEST(saga_paths, happy_path_ends_confirmed_captured_and_recorded) {
    world w;
    w.place("tok_visa");
    w.run(placed_at + 10);
    w.gateway(true, placed_at + 20);
    w.run(placed_at + 30);
    EXPECT_EQ(w.steps, (names{"request_payment", "confirm_order", "capture_payment", "record_capture"}));
    EXPECT_EQ(w.order_events, (names{"order_placed", "order_confirmed", "order_payment_captured"}));
    EXPECT_EQ(w.payment_events, (names{"payment_requested", "payment_authorized", "payment_captured"}));
    EXPECT_EQ(decide(w.order, w.payment, placed_at + 40).stage, stage::completed);
    // Shipping keeps it complete.
    w.order_cmd(order::ship_order{ord, admin, placed_at + 50});
    EXPECT_EQ(decide(w.order, w.payment, placed_at + 60).stage, stage::completed);
}

TEST(saga_paths, a_decline_cancels_the_order_with_payment_declined) {
    world w;
    w.place("tok_declined");
    w.run(placed_at + 10);
    w.gateway(false, placed_at + 20);
    w.run(placed_at + 30);
    EXPECT_EQ(w.steps, (names{"request_payment", "reject_declined"}));
    EXPECT_EQ(w.order_events, (names{"order_placed", "order_cancelled"}));
    EXPECT_EQ(w.order.cancel_reason, order::cancel_reason::payment_declined);
    EXPECT_EQ(w.payment_events, (names{"payment_requested", "payment_declined"}));
    EXPECT_EQ(decide(w.order, w.payment, placed_at + 40).stage, stage::compensated);
}

TEST(saga_paths, a_timeout_cancels_and_a_late_authorization_is_voided) {
    world w;
    w.place("tok_timeout");
    w.run(placed_at + 10);
    w.run(before);  // nothing yet
    w.run(deadline);
    EXPECT_EQ(w.order.cancel_reason, order::cancel_reason::payment_timeout);
    EXPECT_EQ(decide(w.order, w.payment, deadline).stage, stage::compensating);
    w.gateway(true, deadline + 5'000);
    w.run(deadline + 5'001);
    EXPECT_EQ(w.steps, (names{"request_payment", "reject_timeout", "void_payment"}));
    EXPECT_EQ(w.order_events, (names{"order_placed", "order_cancelled"}));
    EXPECT_EQ(w.payment_events, (names{"payment_requested", "payment_authorized", "payment_voided"}));
    EXPECT_EQ(decide(w.order, w.payment, deadline + 6'000).stage, stage::compensated);
}

TEST(saga_paths, an_authorization_recorded_after_the_deadline_but_seen_first_is_rejected_then_voided) {
    world w;
    w.place("tok_visa");
    w.run(placed_at + 10);
    w.gateway(true, deadline + 1);  // the saga was down over the deadline
    w.run(deadline + 100);
    EXPECT_EQ(w.steps, (names{"request_payment", "reject_timeout", "void_payment"}));
    EXPECT_EQ(w.payment.status, payment_status::voided);
}

TEST(saga_paths, a_customer_cancel_before_confirmation_voids_the_authorization) {
    world w;
    w.place("tok_visa");
    w.run(placed_at + 10);
    w.order_cmd(order::cancel_order{ord, alice, placed_at + 15});
    w.gateway(true, placed_at + 20);
    w.run(placed_at + 30);
    EXPECT_EQ(w.steps, (names{"request_payment", "void_payment"}));
    EXPECT_EQ(w.payment_events, (names{"payment_requested", "payment_authorized", "payment_voided"}));
    // Had the saga confirmed on a stale view, the order would refuse: cancelled stays cancelled.
    EXPECT_FALSE(order::decide(order::confirm_order{ord, pay, actor{"order-saga", role::system}, placed_at + 31},
                               w.order)
                     .has_value());
}

TEST(saga_paths, a_cancel_after_capture_refunds_the_captured_amount) {
    world w;
    w.place("tok_visa");
    w.run(placed_at + 10);
    w.gateway(true, placed_at + 20);
    w.run(placed_at + 30);
    w.order_cmd(order::cancel_order{ord, alice, placed_at + 40});
    w.run(placed_at + 50);
    EXPECT_EQ(w.steps.back(), "refund_payment");
    EXPECT_EQ(w.payment_events.back(), "payment_refunded");
    EXPECT_EQ(w.payment.refunded, 3000);
    EXPECT_EQ(w.payment.refundable(), 0);
    EXPECT_EQ(decide(w.order, w.payment, placed_at + 60).stage, stage::compensated);
}

}  // namespace
}  // namespace shopstream::domain::saga
