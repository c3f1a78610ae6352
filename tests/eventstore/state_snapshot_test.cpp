// State snapshots: every state the aggregates reach — folded through evolve from event
// histories that went over the wire first — survives the state store unchanged; the
// initial state is empty bytes; and no truncated, foreign or corrupt snapshot is read.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "domain/review/review.hpp"
#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "eventstore/codec/review_codec.hpp"

namespace shopstream::eventstore {
namespace {

namespace order = domain::order;
namespace payment = domain::payment;
namespace review = domain::review;
using domain::actor;
using domain::money;
using domain::role;
using bytes = std::vector<std::uint8_t>;

constexpr auto max64 = std::numeric_limits<std::int64_t>::max();

domain::currency cur(const char* code) { return *domain::currency::parse(code); }

template <class Event>
using history = std::pair<std::string, std::vector<Event>>;

// Folds a history through evolve; each event first makes the round trip through its
// event codec, so the states are those the tail builds from what it reads.
template <class Traits>
typename Traits::state fold(const std::vector<typename Traits::event>& events) {
    auto s = Traits::decider::initial_state();
    for (const auto& e : events) {
        const auto enc = Traits::encode_event(e);
        const auto back = Traits::decode_event(enc.type, enc.schema_version, enc.payload);
        EXPECT_TRUE(back.has_value()) << back.error().detail;
        if (back) s = Traits::decider::evolve(std::move(s), *back);
    }
    return s;
}

// Every prefix of every history: the intermediate states are stored too.
template <class Traits>
std::vector<std::pair<std::string, typename Traits::state>> corpus() {
    std::vector<std::pair<std::string, typename Traits::state>> out;
    for (const auto& [name, events] : Traits::histories()) {
        for (std::size_t n = 1; n <= events.size(); ++n) {
            out.emplace_back(
                name + " [first " + std::to_string(n) + "]",
                fold<Traits>({events.begin(), events.begin() + static_cast<std::ptrdiff_t>(n)}));
        }
    }
    return out;
}

// ---- the three aggregates ------------------------------------------------------------

struct order_traits {
    using decider = order::decider;
    using state = order::state;
    using event = order::event;
    static constexpr std::string_view identifier = "SSOS";
    static constexpr auto encode_event = order_codec::encode;
    static constexpr auto decode_event = order_codec::decode;
    static bytes encode(const state& s) { return order_codec::encode_state(s); }
    static decoded<state> decode(std::span<const std::uint8_t> b) {
        return order_codec::decode_state(b);
    }

    static std::vector<history<event>> histories() {
        const domain::order_id id{"ord-01HZX:9"};
        const domain::payment_id pay{"pay-1"};
        const order::order_placed placed{id,
                                         domain::customer_id{"cust-1"},
                                         {{"book-978.3_16", 2, 1500},
                                          {"pen", 1, 0},
                                          {std::string(64, 'x'), 10'000, 1'000'000'000}},
                                         cur("EUR"),
                                         10'000'003'000,
                                         1'700'000'000'000,
                                         "tok_flaky_3"};
        const order::order_confirmed confirmed{id, pay, 1'700'000'001'000};
        const order::order_payment_captured captured{id, pay, money{10'000'003'000, cur("EUR")},
                                                     1'700'000'002'000};
        const order::order_shipped shipped{id, actor{"admin-\xc3\xa5", role::admin},
                                           1'700'000'003'000};
        const auto cancelled = [&](order::cancel_reason r, actor by) {
            return order::order_cancelled{id, r, std::move(by), 1'700'000'004'000};
        };
        const actor saga{"order-saga", role::system};
        return {
            {"pending", {placed}},
            {"pending, no lines, placed at 0",
             {order::order_placed{
                 domain::order_id{"o"}, domain::customer_id{"c"}, {}, cur("JPY"), 0, 0, ""}}},
            {"confirmed then captured then shipped", {placed, confirmed, captured, shipped}},
            {"cancelled by the customer",
             {placed,
              cancelled(order::cancel_reason::customer_request, actor{"cust-1", role::customer})}},
            {"rejected: payment declined",
             {placed, cancelled(order::cancel_reason::payment_declined, saga)}},
            {"rejected: payment timeout",
             {placed, cancelled(order::cancel_reason::payment_timeout, saga)}},
            {"confirmed, then cancelled by an admin",
             {placed, confirmed,
              cancelled(order::cancel_reason::customer_request, actor{"admin-1", role::admin})}},
            // Histories no decider produces; evolve is total, so the store must hold them.
            {"captured before it was placed", {captured}},
            {"cancelled before it was placed",
             {cancelled(order::cancel_reason::payment_timeout, saga)}},
        };
    }
};

struct payment_traits {
    using decider = payment::decider;
    using state = payment::state;
    using event = payment::event;
    static constexpr std::string_view identifier = "SSPS";
    static constexpr auto encode_event = payment_codec::encode;
    static constexpr auto decode_event = payment_codec::decode;
    static bytes encode(const state& s) { return payment_codec::encode_state(s); }
    static decoded<state> decode(std::span<const std::uint8_t> b) {
        return payment_codec::decode_state(b);
    }

    static std::vector<history<event>> histories() {
        const domain::payment_id id{"pay-01HZX:9"};
        const money amount{12'345, cur("EUR")};
        const payment::payment_requested requested{id, domain::order_id{"ord-1"}, amount,
                                                   "tok_visa 4242~!", 1'700'000'000'000};
        const payment::payment_authorized authorized{id, "AUTH-77", 1'700'000'001'000};
        const payment::payment_declined declined{id, "insufficient funds \xe2\x82\xac",
                                                 1'700'000'001'000};
        const payment::payment_captured captured{id, amount, 1'700'000'002'000};
        const payment::payment_voided voided{id, "order cancelled", 1'700'000'003'000};
        const auto refunded = [&](std::string refund_id, std::int64_t minor) {
            return payment::payment_refunded{id, std::move(refund_id), money{minor, cur("EUR")},
                                             "returned \xf0\x9f\x93\xa6", 1'700'000'004'000};
        };
        return {
            {"requested", {requested}},
            {"authorized", {requested, authorized}},
            {"declined", {requested, declined}},
            {"captured", {requested, authorized, captured}},
            {"captured and refunded in parts",
             {requested, authorized, captured, refunded("r-1", 345), refunded("r-2", 10'000),
              refunded("r-3", 2'000)}},
            {"refunded to nothing", {requested, authorized, captured, refunded("r-0", 0)}},
            {"voided", {requested, authorized, voided}},
            // Histories no decider produces; evolve is total, so the store must hold them.
            {"refunds that overflow saturate",
             {requested, authorized, captured, refunded("r-1", max64), refunded("r-2", max64)}},
            {"refunded before it was requested", {refunded("r-1", 5)}},
        };
    }
};

struct review_traits {
    using decider = review::decider;
    using state = review::state;
    using event = review::event;
    static constexpr std::string_view identifier = "SSRS";
    static constexpr auto encode_event = review_codec::encode;
    static constexpr auto decode_event = review_codec::decode;
    static bytes encode(const state& s) { return review_codec::encode_state(s); }
    static decoded<state> decode(std::span<const std::uint8_t> b) {
        return review_codec::decode_state(b);
    }

    static std::vector<history<event>> histories() {
        const std::string sku = "book-978.3_16";
        const domain::customer_id author{"cust-7"};
        const auto id = review::review_id_for(sku, author);
        const review::review_submitted submitted{id,
                                                 sku,
                                                 author,
                                                 4,
                                                 "Gr\xc3\xbc\xc3\x9f"
                                                 "e \xf0\x9f\x98\x80",
                                                 "",
                                                 1'700'000'000'000};
        const review::review_edited edited{id, 5, "Better", std::string(4000, 'b'),
                                           1'700'000'001'000};
        const review::review_edited edited_at_zero{id, 1, "Epoch", "body", 0};
        const actor admin{"admin-1", role::admin};
        const review::review_hidden hidden{id, "spam", admin, 1'700'000'002'000};
        const review::review_restored restored{id, "not spam", admin, 1'700'000'003'000};
        const review::review_retracted retracted{id, actor{"cust-7", role::customer},
                                                 1'700'000'004'000};
        // Many votes, some voters twice: no decider does that (vote_helpful::already_voted),
        // but evolve is total and counts every review_marked_helpful it is given.
        std::vector<event> voted{submitted};
        for (int i = 0; i < 60; ++i) {
            const int n = (i * 37) % 50;  // 0..49, repeats after 50
            voted.push_back(review::review_marked_helpful{
                id, domain::customer_id{"cust-" + std::to_string(n)}, 1'700'000'005'000 + i});
        }
        std::vector<event> resubmitted = voted;
        resubmitted.push_back(retracted);
        resubmitted.push_back(review::review_submitted{id, sku, author, 1, "Again", "b", 9});
        return {
            {"visible", {submitted}},
            {"edited", {submitted, edited}},
            {"edited at time 0", {submitted, edited_at_zero}},
            {"hidden", {submitted, hidden}},
            {"hidden, edited, restored", {submitted, hidden, edited, restored}},
            {"retracted", {submitted, edited, retracted}},
            {"many helpful voters", voted},
            {"retracted and submitted again", resubmitted},
            // Histories no decider produces; evolve is total, so the store must hold them.
            {"edited before it was submitted", {edited}},
            {"voted before it was submitted",
             {review::review_marked_helpful{id, domain::customer_id{"cust-1"}, 1}}},
        };
    }
};

template <class Traits>
class state_snapshot : public ::testing::Test {};

struct traits_names {
    template <class T>
    static std::string GetName(int) {
        if constexpr (std::is_same_v<T, order_traits>) return "order";
        if constexpr (std::is_same_v<T, payment_traits>) return "payment";
        return "review";
    }
};
using aggregates = ::testing::Types<order_traits, payment_traits, review_traits>;
TYPED_TEST_SUITE(state_snapshot, aggregates, traits_names);

// ---- round trips ----------------------------------------------------------------------

TYPED_TEST(state_snapshot, every_state_of_every_history_round_trips) {
    for (const auto& [name, s] : corpus<TypeParam>()) {
        const bytes b = TypeParam::encode(s);
        ASSERT_FALSE(b.empty()) << name;
        const auto back = TypeParam::decode(b);
        ASSERT_TRUE(back.has_value()) << name << ": " << back.error().detail;
        EXPECT_TRUE(*back == s) << name;
        EXPECT_EQ(TypeParam::encode(*back), b) << name << ": encoding is deterministic";
    }
}

TYPED_TEST(state_snapshot, the_initial_state_is_empty_bytes_and_back) {
    const auto initial = TypeParam::decider::initial_state();
    EXPECT_TRUE(TypeParam::encode(initial).empty());
    const auto back = TypeParam::decode({});
    ASSERT_TRUE(back.has_value()) << back.error().detail;
    EXPECT_TRUE(*back == initial);
    EXPECT_FALSE(back->exists());
}

TYPED_TEST(state_snapshot, is_size_prefixed_and_carries_its_identifier) {
    for (const auto& [name, s] : corpus<TypeParam>()) {
        const bytes b = TypeParam::encode(s);
        ASSERT_GE(b.size(), 8U);
        std::uint32_t prefix = 0;
        std::memcpy(&prefix, b.data(), sizeof prefix);
        EXPECT_EQ(prefix, b.size() - 4) << name;
        EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(b.data()) + 8, 4),
                  TypeParam::identifier)
            << name;
    }
}

TYPED_TEST(state_snapshot, decodes_from_a_misaligned_address) {
    for (const auto& [name, s] : corpus<TypeParam>()) {
        const bytes b = TypeParam::encode(s);
        for (std::size_t shift = 1; shift < 8; ++shift) {
            bytes shifted(b.size() + shift);
            std::memcpy(shifted.data() + shift, b.data(), b.size());
            const auto back =
                TypeParam::decode(std::span<const std::uint8_t>(shifted).subspan(shift));
            ASSERT_TRUE(back.has_value()) << name << " shifted by " << shift;
            EXPECT_TRUE(*back == s) << name;
        }
    }
}

// ---- refusals ---------------------------------------------------------------------------

TYPED_TEST(state_snapshot, every_truncation_is_refused) {
    for (const auto& [name, s] : corpus<TypeParam>()) {
        const bytes b = TypeParam::encode(s);
        // Length 0 is the initial state by contract; every other cut is refused.
        for (std::size_t len = 1; len < b.size(); ++len) {
            const auto d = TypeParam::decode(std::span<const std::uint8_t>(b).first(len));
            ASSERT_FALSE(d.has_value()) << name << " cut to " << len;
            EXPECT_EQ(d.error().code, codec_errc::verification_failed) << name << " cut to " << len;
        }
    }
}

TYPED_TEST(state_snapshot, trailing_bytes_are_refused) {
    bytes b = TypeParam::encode(corpus<TypeParam>().back().second);
    b.push_back(0);
    const auto d = TypeParam::decode(b);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().code, codec_errc::verification_failed);
}

TYPED_TEST(state_snapshot, a_wrong_file_identifier_is_refused) {
    const bytes good = TypeParam::encode(corpus<TypeParam>().front().second);
    for (const char* ident : {"XXXX", "SSOR", "SSPY", "SSRV", "SSAG"}) {
        bytes b = good;
        std::memcpy(b.data() + 8, ident, 4);
        const auto d = TypeParam::decode(b);
        ASSERT_FALSE(d.has_value()) << ident;
        EXPECT_EQ(d.error().code, codec_errc::verification_failed) << ident;
    }
}

TYPED_TEST(state_snapshot, a_buffer_without_size_prefix_is_refused) {
    const bytes b = TypeParam::encode(corpus<TypeParam>().front().second);
    const auto d = TypeParam::decode(std::span<const std::uint8_t>(b).subspan(4));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().code, codec_errc::verification_failed);
}

TYPED_TEST(state_snapshot, an_event_payload_is_not_a_snapshot) {
    for (const auto& [name, events] : TypeParam::histories()) {
        const auto enc = TypeParam::encode_event(events.front());
        const auto d = TypeParam::decode(enc.payload);
        ASSERT_FALSE(d.has_value()) << name;
        EXPECT_EQ(d.error().code, codec_errc::verification_failed) << name;
    }
}

// ASan/UBSan make any out-of-bounds or misaligned read fail this test. A flip the
// verifier cannot see (inside a scalar or a string) may decode, but only to a state
// that is itself storable: it re-encodes and decodes to the same state.
TYPED_TEST(state_snapshot, bit_flips_are_refused_or_decode_to_a_storable_state) {
    const auto states = corpus<TypeParam>();
    std::size_t refused = 0;
    std::size_t decoded_ok = 0;
    for (const std::size_t pick : {std::size_t{0}, states.size() / 2, states.size() - 1}) {
        const bytes good = TypeParam::encode(states[pick].second);
        for (std::size_t i = 0; i < good.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                bytes b = good;
                b[i] = static_cast<std::uint8_t>(b[i] ^ (1U << bit));
                const auto d = TypeParam::decode(b);
                if (!d) {
                    ++refused;
                    EXPECT_TRUE(d.error().code == codec_errc::verification_failed ||
                                d.error().code == codec_errc::invalid_value);
                    EXPECT_FALSE(d.error().detail.empty());
                    continue;
                }
                ++decoded_ok;
                const auto again = TypeParam::decode(TypeParam::encode(*d));
                ASSERT_TRUE(again.has_value())
                    << "byte " << i << " bit " << bit << ": " << again.error().detail;
                EXPECT_TRUE(*again == *d) << "byte " << i << " bit " << bit;
            }
        }
    }
    EXPECT_GT(refused, 0U);
    EXPECT_GT(decoded_ok, 0U);
}

// ---- one aggregate's snapshot is no other's ----------------------------------------------

TEST(state_snapshot_cross, a_snapshot_of_one_aggregate_is_refused_by_the_others) {
    const bytes o = order_codec::encode_state(corpus<order_traits>().back().second);
    const bytes p = payment_codec::encode_state(corpus<payment_traits>().back().second);
    const bytes r = review_codec::encode_state(corpus<review_traits>().back().second);
    const auto refused = [](const auto& d) {
        return !d.has_value() && d.error().code == codec_errc::verification_failed;
    };
    EXPECT_TRUE(refused(payment_codec::decode_state(o)));
    EXPECT_TRUE(refused(review_codec::decode_state(o)));
    EXPECT_TRUE(refused(order_codec::decode_state(p)));
    EXPECT_TRUE(refused(review_codec::decode_state(p)));
    EXPECT_TRUE(refused(order_codec::decode_state(r)));
    EXPECT_TRUE(refused(payment_codec::decode_state(r)));
}

// ---- the corpus covers every status and every optional, set and unset --------------------

TEST(state_snapshot_order, histories_cover_every_status_reason_and_optional) {
    const auto states = corpus<order_traits>();
    const auto any = [&](auto pred) {
        return std::any_of(states.begin(), states.end(),
                           [&](const auto& n) { return pred(n.second); });
    };
    for (auto st :
         {order::order_status::none, order::order_status::pending, order::order_status::confirmed,
          order::order_status::cancelled, order::order_status::shipped}) {
        EXPECT_TRUE(any([&](const order::state& s) { return s.status == st; }))
            << static_cast<int>(st);
    }
    for (auto r : {order::cancel_reason::customer_request, order::cancel_reason::payment_declined,
                   order::cancel_reason::payment_timeout}) {
        EXPECT_TRUE(any([&](const order::state& s) { return s.cancel_reason == r; }));
    }
    EXPECT_TRUE(any([](const order::state& s) { return !s.cancel_reason.has_value(); }));
    EXPECT_TRUE(any([](const order::state& s) { return s.payment.has_value(); }));
    EXPECT_TRUE(any([](const order::state& s) { return !s.payment.has_value(); }));
    EXPECT_TRUE(any([](const order::state& s) { return s.payment_captured; }));
    EXPECT_TRUE(any([](const order::state& s) {
        return s.payment.has_value() && s.cancel_reason.has_value();
    }));
}

TEST(state_snapshot_payment, histories_cover_every_status_and_several_refunds) {
    const auto states = corpus<payment_traits>();
    const auto any = [&](auto pred) {
        return std::any_of(states.begin(), states.end(),
                           [&](const auto& n) { return pred(n.second); });
    };
    for (auto st : {payment::payment_status::none, payment::payment_status::requested,
                    payment::payment_status::authorized, payment::payment_status::declined,
                    payment::payment_status::captured, payment::payment_status::voided}) {
        EXPECT_TRUE(any([&](const payment::state& s) { return s.status == st; }))
            << static_cast<int>(st);
    }
    EXPECT_TRUE(any([](const payment::state& s) { return s.refunds.size() >= 3; }));
    EXPECT_TRUE(any([](const payment::state& s) { return s.refunded == max64; }));
}

TEST(state_snapshot_review, histories_cover_every_status_edits_and_many_voters) {
    const auto states = corpus<review_traits>();
    const auto any = [&](auto pred) {
        return std::any_of(states.begin(), states.end(),
                           [&](const auto& n) { return pred(n.second); });
    };
    for (auto st : {review::review_status::none, review::review_status::visible,
                    review::review_status::hidden, review::review_status::retracted}) {
        EXPECT_TRUE(any([&](const review::state& s) { return s.status == st; }))
            << static_cast<int>(st);
    }
    EXPECT_TRUE(any([](const review::state& s) { return !s.edited_at.has_value(); }));
    EXPECT_TRUE(any([](const review::state& s) { return s.edited_at == 0; }));
    EXPECT_TRUE(any([](const review::state& s) { return s.helpful_count() == 60; }));
}

// ---- values no event could have put there ------------------------------------------------
// encode_state writes any value; these are states no history reaches.

template <class Traits>
void expect_invalid(const typename Traits::state& s, const char* why) {
    const auto d = Traits::decode(Traits::encode(s));
    ASSERT_FALSE(d.has_value()) << why;
    EXPECT_EQ(d.error().code, codec_errc::invalid_value) << why << ": " << d.error().detail;
    EXPECT_FALSE(d.error().detail.empty()) << why;
}

// Replaces the only occurrence of `from` in the bytes by `to` (same length).
bytes patched(bytes b, std::string_view from, std::string_view to) {
    const auto at = std::search(b.begin(), b.end(), from.begin(), from.end());
    EXPECT_NE(at, b.end()) << from;
    if (at != b.end()) std::memcpy(&*at, to.data(), to.size());
    return b;
}

TEST(state_snapshot_order, values_no_event_produces_are_invalid) {
    const order::state good = corpus<order_traits>().front().second;
    const auto with = [&](auto change) {
        order::state s = good;
        change(s);
        return s;
    };
    expect_invalid<order_traits>(with([](auto& s) { s.status = order::order_status{9}; }),
                                 "status");
    expect_invalid<order_traits>(with([](auto& s) { s.cancel_reason = order::cancel_reason{3}; }),
                                 "cancel reason");
    expect_invalid<order_traits>(with([](auto& s) { s.id = domain::order_id{"a b"}; }), "id");
    expect_invalid<order_traits>(with([](auto& s) { s.customer = domain::customer_id{"c/1"}; }),
                                 "customer");
    expect_invalid<order_traits>(with([](auto& s) { s.payment = domain::payment_id{""}; }),
                                 "an empty payment is not an absent one");
    expect_invalid<order_traits>(with([](auto& s) { s.total = -1; }), "total");
    expect_invalid<order_traits>(with([](auto& s) { s.lines[1].quantity = 0; }), "quantity");
    expect_invalid<order_traits>(with([](auto& s) { s.lines[0].unit_price = -1; }), "price");
    expect_invalid<order_traits>(with([](auto& s) { s.lines[0].sku = "-x"; }), "sku");
    const auto d =
        order_codec::decode_state(patched(order_codec::encode_state(good), "EUR", "XEU"));
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().code, codec_errc::invalid_value) << d.error().detail;
}

TEST(state_snapshot_payment, values_no_event_produces_are_invalid) {
    payment::state good;
    for (const auto& [name, s] : corpus<payment_traits>()) {
        if (s.refunds.size() == 3 && s.refunded < max64) good = s;  // refunded in parts
    }
    ASSERT_EQ(good.refunded, 12'345);
    const auto with = [&](auto change) {
        payment::state s = good;
        change(s);
        return s;
    };
    expect_invalid<payment_traits>(with([](auto& s) { s.status = payment::payment_status{6}; }),
                                   "status");
    expect_invalid<payment_traits>(with([](auto& s) { s.order = domain::order_id{"o o"}; }),
                                   "order");
    expect_invalid<payment_traits>(with([](auto& s) { s.amount.amount = -5; }), "amount");
    expect_invalid<payment_traits>(with([](auto& s) {
                                       s.amount = money{5, {}};
                                   }),
                                   "an amount without currency");
    expect_invalid<payment_traits>(with([](auto& s) { s.method_token = "tab\there"; }), "token");
    expect_invalid<payment_traits>(with([](auto& s) { s.decline_reason = "\xff"; }), "reason");
    expect_invalid<payment_traits>(with([](auto& s) { s.captured = -1; }), "captured");
    expect_invalid<payment_traits>(with([](auto& s) { s.refunded += 1; }),
                                   "refunded is not the sum of the refunds");
    expect_invalid<payment_traits>(with([](auto& s) { s.refunds[0].refund_id = ""; }), "refund id");
    expect_invalid<payment_traits>(with([](auto& s) {
                                       s.refunds[0].amount = -1;
                                       s.refunded -= 346;
                                   }),
                                   "refund amount");
}

TEST(state_snapshot_review, values_no_event_produces_are_invalid) {
    const auto states = corpus<review_traits>();
    const review::state good = states.front().second;
    const auto with = [&](auto change) {
        review::state s = good;
        change(s);
        return s;
    };
    expect_invalid<review_traits>(with([](auto& s) { s.status = review::review_status{4}; }),
                                  "status");
    expect_invalid<review_traits>(with([](auto& s) { s.rating = 6; }), "rating");
    expect_invalid<review_traits>(with([](auto& s) { s.title = "\xc0\xaf"; }), "title UTF-8");
    expect_invalid<review_traits>(with([](auto& s) { s.body = "\xed\xa0\x80"; }), "body UTF-8");
    expect_invalid<review_traits>(with([](auto& s) { s.id = domain::review_id{"other~cust-7"}; }),
                                  "id not derived from sku and author");
    expect_invalid<review_traits>(with([](auto& s) { s.sku = ""; }), "sku");
}

// evolve is total: a log may hold events in an order no decider of ours emits (a foreign
// writer), and the state store must still keep the state they fold to. Found by
// fuzz_review_events (tests/fuzz/review_events/regression-retracted-before-submitted):
// a retraction and a vote before any submission left status retracted in generation 0,
// which the decoder refused.
TEST(state_snapshot_review, a_state_folded_from_events_in_any_order_round_trips) {
    namespace codec = eventstore::review_codec;
    const domain::review_id id{"book-978.3_16~cust-7"};
    for (const review::event& first : {review::event{review::review_retracted{id, {}, 1}},
                                       review::event{review::review_hidden{id, "spam", {}, 1}},
                                       review::event{review::review_marked_helpful{id, domain::customer_id{"cust-2"}, 1}}}) {
        const review::state s = review::decider::evolve(review::decider::initial_state(), first);
        const auto back = codec::decode_state(codec::encode_state(s));
        ASSERT_TRUE(back.has_value()) << back.error().detail;
        EXPECT_TRUE(*back == s);
    }
}

TEST(state_snapshot_review, the_record_size_does_not_grow_with_the_votes) {
    const auto states = corpus<review_traits>();
    review::state s = states.front().second;
    s.helpful_votes = 10;  // 0 is the field's default, which FlatBuffers leaves out
    const std::size_t few = review_codec::encode_state(s).size();
    s.helpful_votes = 100'000;
    EXPECT_EQ(review_codec::encode_state(s).size(), few);
    s.helpful_votes = std::numeric_limits<std::uint64_t>::max();
    EXPECT_EQ(review_codec::encode_state(s).size(), few);
    const auto back = review_codec::decode_state(review_codec::encode_state(s));
    ASSERT_TRUE(back.has_value()) << back.error().detail;
    EXPECT_EQ(*back, s);
}

// Hand-built snapshots, for bytes encode_state never writes. Field n of a table sits at
// vtable offset 4 + 2n (the schemas' field order).
constexpr flatbuffers::voffset_t field(int n) {
    return static_cast<flatbuffers::voffset_t>(4 + 2 * n);
}

template <class Fill>
bytes hand_built(const char* identifier, Fill fill) {
    flatbuffers::FlatBufferBuilder b;
    const auto root = fill(b);
    b.FinishSizePrefixed(root, identifier);
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

template <class Decoded>
std::optional<codec_errc> error_of(const Decoded& d) {
    if (d) return std::nullopt;
    return d.error().code;
}

// Every field at its initial value, with the given status.
bytes order_snapshot_with_status(std::uint8_t status) {
    using flatbuffers::Offset;
    return hand_built("SSOS", [&](flatbuffers::FlatBufferBuilder& b) {
        const auto empty = b.CreateString("");
        const auto no_lines = b.CreateVector(std::vector<Offset<void>>{});
        const auto start = b.StartTable();
        b.AddElement<std::uint8_t>(field(0), status);  // `= null`: written even when 0
        b.AddOffset(field(1), empty);                  // id
        b.AddOffset(field(2), empty);                  // customer
        b.AddOffset(field(3), no_lines);               // lines
        b.AddOffset(field(4), empty);                  // currency
        return Offset<void>(b.EndTable(start));
    });
}

bytes payment_snapshot_with_status(std::uint8_t status) {
    using flatbuffers::Offset;
    return hand_built("SSPS", [&](flatbuffers::FlatBufferBuilder& b) {
        const auto empty = b.CreateString("");
        const auto money_start = b.StartTable();
        b.AddOffset(field(1), empty);  // currency ""; amount 0 by default
        const auto money = Offset<void>(b.EndTable(money_start));
        const auto no_refunds = b.CreateVector(std::vector<Offset<void>>{});
        const auto start = b.StartTable();
        b.AddElement<std::uint8_t>(field(0), status);
        b.AddOffset(field(1), empty);                               // id
        b.AddOffset(field(2), empty);                               // order
        b.AddOffset(field(3), money);                               // amount
        for (int n = 4; n <= 7; ++n) b.AddOffset(field(n), empty);  // token, code, reasons
        b.AddOffset(field(10), no_refunds);
        return Offset<void>(b.EndTable(start));
    });
}

bytes review_snapshot_with_status(std::uint8_t status) {
    using flatbuffers::Offset;
    return hand_built("SSRS", [&](flatbuffers::FlatBufferBuilder& b) {
        const auto empty = b.CreateString("");
        const auto start = b.StartTable();
        b.AddElement<std::uint8_t>(field(0), status);
        for (int n : {1, 2, 3, 5, 6}) b.AddOffset(field(n), empty);  // id sku author title body
        // generation: 0 exactly when never submitted (status none)
        b.AddElement<std::uint64_t>(field(11), status == 0 ? 0 : 1, 0);
        return Offset<void>(b.EndTable(start));
    });
}

// The initial state written as a buffer is not its canonical form (empty bytes): it is
// refused, so every state has exactly one encoding. With any other status the same
// fields are a state (one evolve reaches, e.g. cancelled before placed), which shows
// the hand-built layout is right.
TEST(state_snapshot_cross, the_initial_state_written_as_a_buffer_is_invalid) {
    EXPECT_EQ(error_of(order_codec::decode_state(order_snapshot_with_status(0))),
              codec_errc::invalid_value);
    EXPECT_EQ(error_of(payment_codec::decode_state(payment_snapshot_with_status(0))),
              codec_errc::invalid_value);
    EXPECT_EQ(error_of(review_codec::decode_state(review_snapshot_with_status(0))),
              codec_errc::invalid_value);

    const auto o = order_codec::decode_state(order_snapshot_with_status(3));
    ASSERT_TRUE(o.has_value()) << o.error().detail;
    EXPECT_EQ(o->status, order::order_status::cancelled);
    const auto p = payment_codec::decode_state(payment_snapshot_with_status(5));
    ASSERT_TRUE(p.has_value()) << p.error().detail;
    EXPECT_EQ(p->status, payment::payment_status::voided);
    const auto r = review_codec::decode_state(review_snapshot_with_status(3));
    ASSERT_TRUE(r.has_value()) << r.error().detail;
    EXPECT_EQ(r->status, review::review_status::retracted);
}

// Fields are always written; a snapshot missing one is refused, not read as a default.
TEST(state_snapshot_cross, missing_fields_are_invalid) {
    for (const bool with_status : {false, true}) {
        for (const char* ident : {"SSOS", "SSPS", "SSRS"}) {
            const bytes b = hand_built(ident, [&](flatbuffers::FlatBufferBuilder& fbb) {
                const auto start = fbb.StartTable();
                if (with_status) fbb.AddElement<std::uint8_t>(field(0), 1);
                return flatbuffers::Offset<void>(fbb.EndTable(start));
            });
            const std::string_view which(ident);
            const auto code = which == "SSOS"   ? error_of(order_codec::decode_state(b))
                              : which == "SSPS" ? error_of(payment_codec::decode_state(b))
                                                : error_of(review_codec::decode_state(b));
            EXPECT_EQ(code, codec_errc::invalid_value) << ident << " status " << with_status;
        }
    }
}

}  // namespace
}  // namespace shopstream::eventstore
