// Order events survive the wire unchanged, and no corrupt payload is ever read.
#include "eventstore/codec/order_codec.hpp"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "domain/order/order.hpp"
#include "domain/order/order_events_generated.h"

namespace shopstream::eventstore {
namespace {

namespace order = domain::order;
namespace fb = shopstream::fb::order;
using domain::actor;
using domain::currency;
using domain::money;
using domain::role;

constexpr auto max64 = std::numeric_limits<std::int64_t>::max();
constexpr auto min64 = std::numeric_limits<std::int64_t>::min();

currency cur(const char* code) {
    return *currency::parse(code);
}

// Every event type with values that exercise the encoding: UTF-8 text, extreme
// integers, several lines, every enum value in use.
std::vector<order::event> samples() {
    return {
        order::order_placed{
            domain::order_id{"ord-01HZX:9"},
            domain::customer_id{std::string(128, 'c')},
            {{"book-978.3_16", 10'000, 1'000'000'000},
             {"pen", 1, 0},
             {std::string(64, 'x'), std::numeric_limits<std::int32_t>::max(), max64}},
            cur("JPY"),
            max64,
            max64,
            "tok_" + std::string(252, 'z')},
        order::order_placed{
            domain::order_id{"o"}, domain::customer_id{"c"}, {{"a", 1, 1}}, cur("EUR"), 1, min64, ""},
        order::order_cancelled{domain::order_id{"ord-1"}, order::cancel_reason::customer_request,
                               actor{"cust-\xe2\x82\xac\xf0\x9f\x98\x80", role::customer}, 1},
        order::order_cancelled{domain::order_id{"ord-1"}, order::cancel_reason::payment_declined,
                               actor{"order-saga", role::system}, max64},
        order::order_cancelled{domain::order_id{"ord-1"}, order::cancel_reason::payment_timeout,
                               actor{"admin-1", role::admin}, 0},
        order::order_confirmed{domain::order_id{"ord-1"}, domain::payment_id{"pay-1"}, -1},
        order::order_shipped{domain::order_id{"ord-1"}, actor{"admin-\xc3\xa5", role::admin},
                             1'700'000'000'000},
        order::order_payment_captured{domain::order_id{"ord-1"}, domain::payment_id{"pay-1"},
                                      money{max64, cur("USD")}, 42},
    };
}

std::string name_of(const order::event& e) {
    return std::string(
        std::visit([](const auto& ev) { return std::decay_t<decltype(ev)>::name; }, e));
}

template <class Event>
std::uint16_t type_of() {
    return Event::type_id;
}

decoded<order::event> decode(const encoded_event& enc) {
    return order_codec::decode(enc.type, enc.schema_version, enc.payload);
}

// A hand-built envelope, for payloads the encoder would never produce.
std::vector<std::uint8_t> envelope_with(
    const std::function<flatbuffers::Offset<void>(flatbuffers::FlatBufferBuilder&)>& body,
    fb::event tag, const char* identifier = "SSOR") {
    flatbuffers::FlatBufferBuilder b;
    const auto event = body(b);
    b.FinishSizePrefixed(fb::Createenvelope(b, tag, event), identifier);
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

TEST(order_codec, every_event_round_trips) {
    for (const auto& e : samples()) {
        SCOPED_TRACE(name_of(e));
        const encoded_event enc = order_codec::encode(e);
        EXPECT_EQ(enc.schema_version, 1);
        const auto back = decode(enc);
        ASSERT_TRUE(back.has_value()) << back.error().detail;
        EXPECT_TRUE(*back == e);
    }
}

TEST(order_codec, the_type_id_is_the_events) {
    EXPECT_EQ(order_codec::encode(samples()[0]).type, 101);
    EXPECT_EQ(order_codec::encode(samples()[2]).type, 102);
    EXPECT_EQ(order_codec::encode(samples()[5]).type, 103);
    EXPECT_EQ(order_codec::encode(samples()[6]).type, 104);
    EXPECT_EQ(order_codec::encode(samples()[7]).type, 105);
}

TEST(order_codec, payloads_are_size_prefixed_and_identified) {
    const encoded_event enc = order_codec::encode(samples()[0]);
    ASSERT_GE(enc.payload.size(), 12U);
    const auto prefix = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(enc.payload.data());
    EXPECT_EQ(prefix, enc.payload.size() - sizeof(flatbuffers::uoffset_t));
    EXPECT_TRUE(fb::SizePrefixedenvelopeBufferHasIdentifier(enc.payload.data()));
}

TEST(order_codec, encoding_is_deterministic) {
    for (const auto& e : samples()) {
        EXPECT_EQ(order_codec::encode(e).payload, order_codec::encode(e).payload) << name_of(e);
    }
}

TEST(order_codec, an_unaligned_payload_decodes) {
    const encoded_event enc = order_codec::encode(samples()[0]);
    std::vector<std::uint8_t> shifted(enc.payload.size() + 1);
    std::copy(enc.payload.begin(), enc.payload.end(), shifted.begin() + 1);
    const auto back = order_codec::decode(enc.type, enc.schema_version,
                                          std::span<const std::uint8_t>(shifted).subspan(1));
    ASSERT_TRUE(back.has_value()) << back.error().detail;
    EXPECT_TRUE(*back == samples()[0]);
}

TEST(order_codec, every_truncation_is_refused) {
    for (const auto& e : samples()) {
        SCOPED_TRACE(name_of(e));
        const encoded_event enc = order_codec::encode(e);
        for (std::size_t len = 0; len < enc.payload.size(); ++len) {
            // A fresh, exactly sized copy, so AddressSanitizer sees any read past it.
            const std::vector<std::uint8_t> cut(enc.payload.begin(), enc.payload.begin() + len);
            const auto out = order_codec::decode(enc.type, enc.schema_version, cut);
            ASSERT_FALSE(out.has_value()) << "length " << len;
            EXPECT_EQ(out.error().code, codec_errc::verification_failed) << "length " << len;
        }
    }
}

TEST(order_codec, trailing_bytes_are_refused) {
    encoded_event enc = order_codec::encode(samples()[0]);
    enc.payload.push_back(0);
    const auto out = decode(enc);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::verification_failed);
}

TEST(order_codec, a_wrong_file_identifier_is_refused) {
    encoded_event enc = order_codec::encode(samples()[0]);
    // Size prefix (4 bytes), root offset (4 bytes), then the identifier.
    ASSERT_EQ(std::string(enc.payload.begin() + 8, enc.payload.begin() + 12), "SSOR");
    enc.payload[11] = 'Y';
    auto out = decode(enc);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::verification_failed);

    // The same bytes under another context's identifier.
    const auto foreign = envelope_with(
        [](flatbuffers::FlatBufferBuilder& b) {
            return fb::Createorder_confirmed(b, b.CreateString("ord-1"), b.CreateString("pay-1"), 1)
                .Union();
        },
        fb::event::order_confirmed, "SSPY");
    out = order_codec::decode(103, 1, foreign);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::verification_failed);
}

TEST(order_codec, a_buffer_that_is_not_size_prefixed_is_refused) {
    flatbuffers::FlatBufferBuilder b;
    const auto body =
        fb::Createorder_confirmed(b, b.CreateString("ord-1"), b.CreateString("pay-1"), 1);
    fb::FinishenvelopeBuffer(b, fb::Createenvelope(b, fb::event::order_confirmed, body.Union()));
    const std::vector<std::uint8_t> plain(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
    const auto out = order_codec::decode(103, 1, plain);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::verification_failed);
}

TEST(order_codec, flipping_any_bit_never_reads_out_of_bounds) {
    std::size_t rejected = 0;
    std::size_t decoded_values = 0;
    for (const auto& e : samples()) {
        SCOPED_TRACE(name_of(e));
        const encoded_event enc = order_codec::encode(e);
        for (std::size_t i = 0; i < enc.payload.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                std::vector<std::uint8_t> flipped = enc.payload;
                flipped[i] = static_cast<std::uint8_t>(flipped[i] ^ (1U << bit));
                const auto out = order_codec::decode(enc.type, enc.schema_version, flipped);
                if (!out) {
                    ++rejected;
                    continue;
                }
                ++decoded_values;
                // Whatever was decoded is a proper value: it encodes and decodes to itself.
                const auto again = decode(order_codec::encode(*out));
                ASSERT_TRUE(again.has_value()) << "byte " << i << " bit " << bit;
                EXPECT_TRUE(*again == *out) << "byte " << i << " bit " << bit;
            }
        }
    }
    // Both outcomes occur: the loop exercises the verifier and the readers.
    EXPECT_GT(rejected, 0U);
    EXPECT_GT(decoded_values, 0U);
}

TEST(order_codec, a_payload_holding_another_event_is_a_type_mismatch) {
    const encoded_event placed = order_codec::encode(samples()[0]);
    for (std::uint16_t other :
         {type_of<order::order_cancelled>(), type_of<order::order_confirmed>(),
          type_of<order::order_shipped>(), type_of<order::order_payment_captured>()}) {
        const auto out = order_codec::decode(other, 1, placed.payload);
        ASSERT_FALSE(out.has_value()) << other;
        EXPECT_EQ(out.error().code, codec_errc::type_mismatch) << other;
    }
    const auto empty =
        envelope_with([](flatbuffers::FlatBufferBuilder&) { return 0; }, fb::event::NONE);
    const auto out = order_codec::decode(101, 1, empty);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::type_mismatch);
}

TEST(order_codec, an_unknown_type_id_is_refused_before_the_bytes_are_looked_at) {
    const encoded_event placed = order_codec::encode(samples()[0]);
    for (std::uint16_t unknown : {0, 100, 106, 201, 301, 65535}) {
        const auto out = order_codec::decode(unknown, 1, placed.payload);
        ASSERT_FALSE(out.has_value()) << unknown;
        EXPECT_EQ(out.error().code, codec_errc::unknown_type) << unknown;
    }
    const auto out = order_codec::decode(999, 1, {});
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::unknown_type);
}

TEST(order_codec, another_schema_version_is_unsupported) {
    const encoded_event placed = order_codec::encode(samples()[0]);
    for (std::uint16_t version : {0, 2, 65535}) {
        const auto out = order_codec::decode(placed.type, version, placed.payload);
        ASSERT_FALSE(out.has_value()) << version;
        EXPECT_EQ(out.error().code, codec_errc::unsupported_version) << version;
    }
}

void expect_invalid(std::uint16_t type, const std::vector<std::uint8_t>& payload,
                    const std::string& why) {
    const auto out = order_codec::decode(type, 1, payload);
    ASSERT_FALSE(out.has_value()) << why;
    EXPECT_EQ(out.error().code, codec_errc::invalid_value) << why << ": " << out.error().detail;
    EXPECT_FALSE(out.error().detail.empty());
}

TEST(order_codec, values_the_domain_cannot_hold_are_invalid) {
    using builder = flatbuffers::FlatBufferBuilder;
    auto placed = [](const char* currency, bool with_id, bool with_lines, bool with_sku) {
        return envelope_with(
            [=](builder& b) {
                const auto sku = with_sku ? b.CreateString("pen") : 0;
                std::vector<flatbuffers::Offset<fb::line>> lines{fb::Createline(b, sku, 1, 5)};
                const auto line_vector = with_lines ? b.CreateVector(lines) : 0;
                const auto id = with_id ? b.CreateString("ord-1") : 0;
                const auto cur_text = currency ? b.CreateString(currency) : 0;
                return fb::Createorder_placed(b, id, b.CreateString("c-1"), line_vector, cur_text,
                                              5, 1)
                    .Union();
            },
            fb::event::order_placed);
    };
    // The hand-built envelope itself is fine...
    EXPECT_TRUE(order_codec::decode(101, 1, placed("EUR", true, true, true)).has_value());
    // ...and each of these breaks one thing.
    expect_invalid(101, placed("XXX", true, true, true), "withdrawn currency");
    expect_invalid(101, placed("eur", true, true, true), "lowercase currency");
    expect_invalid(101, placed(nullptr, true, true, true), "missing currency");
    expect_invalid(101, placed("EUR", false, true, true), "missing id");
    expect_invalid(101, placed("EUR", true, false, true), "missing lines");
    expect_invalid(101, placed("EUR", true, true, false), "missing sku");

    auto cancelled = [](std::uint8_t reason, std::uint8_t actor_role, bool with_actor) {
        return envelope_with(
            [=](builder& b) {
                const auto by =
                    with_actor ? fb::Createactor(b, b.CreateString("a"), actor_role) : 0;
                return fb::Createorder_cancelled(b, b.CreateString("ord-1"),
                                                 static_cast<fb::cancel_reason>(reason), by, 1)
                    .Union();
            },
            fb::event::order_cancelled);
    };
    EXPECT_TRUE(order_codec::decode(102, 1, cancelled(2, 2, true)).has_value());
    expect_invalid(102, cancelled(3, 0, true), "unknown cancel reason");
    expect_invalid(102, cancelled(255, 0, true), "unknown cancel reason");
    expect_invalid(102, cancelled(0, 3, true), "unknown role");
    expect_invalid(102, cancelled(0, 0, false), "missing actor");

    auto captured = [](bool with_money, bool with_payment) {
        return envelope_with(
            [=](builder& b) {
                const auto amount = with_money ? fb::Createmoney(b, 5, b.CreateString("GBP")) : 0;
                const auto payment = with_payment ? b.CreateString("pay-1") : 0;
                return fb::Createorder_payment_captured(b, b.CreateString("ord-1"), payment, amount,
                                                        1)
                    .Union();
            },
            fb::event::order_payment_captured);
    };
    EXPECT_TRUE(order_codec::decode(105, 1, captured(true, true)).has_value());
    expect_invalid(105, captured(false, true), "missing amount");
    expect_invalid(105, captured(true, false), "missing payment");

    const auto shipped_without_actor = envelope_with(
        [](builder& b) {
            return fb::Createorder_shipped(b, b.CreateString("ord-1"), 0, 1).Union();
        },
        fb::event::order_shipped);
    expect_invalid(104, shipped_without_actor, "missing actor");

    const auto confirmed_without_payment = envelope_with(
        [](builder& b) {
            return fb::Createorder_confirmed(b, b.CreateString("ord-1"), 0, 1).Union();
        },
        fb::event::order_confirmed);
    expect_invalid(103, confirmed_without_payment, "missing payment");

    auto line_with = [](const char* sku, std::int32_t quantity, std::int64_t price,
                        std::int64_t total, const char* id) {
        return envelope_with(
            [=](builder& b) {
                std::vector<flatbuffers::Offset<fb::line>> lines{
                    fb::Createline(b, b.CreateString(sku), quantity, price)};
                const auto line_vector = b.CreateVector(lines);
                return fb::Createorder_placed(b, b.CreateString(id), b.CreateString("c-1"),
                                              line_vector, b.CreateString("EUR"), total, 1)
                    .Union();
            },
            fb::event::order_placed);
    };
    EXPECT_TRUE(order_codec::decode(101, 1, line_with("pen", 1, 0, 0, "o-1")).has_value());
    expect_invalid(101, line_with("-pen", 1, 0, 0, "o-1"), "malformed sku");
    expect_invalid(101, line_with("pen", 0, 0, 0, "o-1"), "quantity 0");
    expect_invalid(101, line_with("pen", -5, 0, 0, "o-1"), "negative quantity");
    expect_invalid(101, line_with("pen", 1, -1, 0, "o-1"), "negative price");
    expect_invalid(101, line_with("pen", 1, 0, -1, "o-1"), "negative total");
    expect_invalid(101, line_with("pen", 1, 0, 0, "o/1"), "malformed order id");
    expect_invalid(101, line_with("pen", 1, 0, 0, ""), "empty order id");

    const auto negative_capture = envelope_with(
        [](builder& b) {
            const auto amount = fb::Createmoney(b, -1, b.CreateString("EUR"));
            return fb::Createorder_payment_captured(b, b.CreateString("ord-1"),
                                                    b.CreateString("pay-1"), amount, 1)
                .Union();
        },
        fb::event::order_payment_captured);
    expect_invalid(105, negative_capture, "negative amount");

    const auto malformed_payment = envelope_with(
        [](builder& b) {
            return fb::Createorder_confirmed(b, b.CreateString("ord-1"), b.CreateString("pay 1"), 1)
                .Union();
        },
        fb::event::order_confirmed);
    expect_invalid(103, malformed_payment, "malformed payment id");

    // The union names a member but carries no table.
    const auto no_body = envelope_with([](builder&) { return 0; }, fb::event::order_confirmed);
    expect_invalid(103, no_body, "missing event body");
}

}  // namespace
}  // namespace shopstream::eventstore
