// Payment events survive the wire unchanged, and no corrupt payload is ever read.
#include "eventstore/codec/payment_codec.hpp"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "domain/payment/payment.hpp"
#include "domain/payment/payment_events_generated.h"

namespace shopstream::eventstore {
namespace {

namespace payment = domain::payment;
namespace fb = shopstream::fb::payment;
using domain::currency;
using domain::money;
using domain::payment_id;

constexpr auto max64 = std::numeric_limits<std::int64_t>::max();
constexpr auto min64 = std::numeric_limits<std::int64_t>::min();

currency cur(const char* code) {
    return *currency::parse(code);
}

const std::string utf8_text = "Karte abgelehnt: \xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9";  // € 😀 é

// Every event type with values that exercise the encoding: UTF-8 text, extreme
// integers, long strings.
std::vector<payment::event> samples() {
    return {
        payment::payment_requested{payment_id{"pay-01HZX:9"}, domain::order_id{"ord-1"},
                                   money{1'000'000'000'000'000'000, cur("EUR")},
                                   std::string(256, 't'), max64},
        payment::payment_requested{payment_id{"p"}, domain::order_id{"o"}, money{max64, cur("CHF")},
                                   "tok", min64},
        payment::payment_authorized{payment_id{"pay-1"}, std::string(64, 'A'), 1'700'000'000'000},
        payment::payment_declined{payment_id{"pay-1"}, utf8_text, 0},
        payment::payment_captured{payment_id{"pay-1"}, money{3250, cur("JPY")}, -1},
        payment::payment_voided{payment_id{"pay-1"}, utf8_text + utf8_text, 7},
        payment::payment_refunded{payment_id{"pay-1"}, "ref-2024:01", money{max64, cur("USD")},
                                  utf8_text, max64},
    };
}

std::string name_of(const payment::event& e) {
    return std::string(
        std::visit([](const auto& ev) { return std::decay_t<decltype(ev)>::name; }, e));
}

decoded<payment::event> decode(const encoded_event& enc) {
    return payment_codec::decode(enc.type, enc.schema_version, enc.payload);
}

// A hand-built envelope, for payloads the encoder would never produce.
std::vector<std::uint8_t> envelope_with(
    const std::function<flatbuffers::Offset<void>(flatbuffers::FlatBufferBuilder&)>& body,
    fb::event tag, const char* identifier = "SSPY") {
    flatbuffers::FlatBufferBuilder b;
    const auto event = body(b);
    b.FinishSizePrefixed(fb::Createenvelope(b, tag, event), identifier);
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

TEST(payment_codec, every_event_round_trips) {
    for (const auto& e : samples()) {
        SCOPED_TRACE(name_of(e));
        const encoded_event enc = payment_codec::encode(e);
        EXPECT_EQ(enc.schema_version, 1);
        const auto back = decode(enc);
        ASSERT_TRUE(back.has_value()) << back.error().detail;
        EXPECT_TRUE(*back == e);
    }
}

TEST(payment_codec, the_type_id_is_the_events) {
    const auto s = samples();
    EXPECT_EQ(payment_codec::encode(s[0]).type, 201);
    EXPECT_EQ(payment_codec::encode(s[2]).type, 202);
    EXPECT_EQ(payment_codec::encode(s[3]).type, 203);
    EXPECT_EQ(payment_codec::encode(s[4]).type, 204);
    EXPECT_EQ(payment_codec::encode(s[5]).type, 205);
    EXPECT_EQ(payment_codec::encode(s[6]).type, 206);
}

TEST(payment_codec, payloads_are_size_prefixed_and_identified) {
    const encoded_event enc = payment_codec::encode(samples()[0]);
    ASSERT_GE(enc.payload.size(), 12U);
    const auto prefix = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(enc.payload.data());
    EXPECT_EQ(prefix, enc.payload.size() - sizeof(flatbuffers::uoffset_t));
    EXPECT_TRUE(fb::SizePrefixedenvelopeBufferHasIdentifier(enc.payload.data()));
}

TEST(payment_codec, an_unaligned_payload_decodes) {
    const encoded_event enc = payment_codec::encode(samples()[6]);
    for (std::size_t shift = 1; shift < 8; ++shift) {
        std::vector<std::uint8_t> shifted(enc.payload.size() + shift);
        std::copy(enc.payload.begin(), enc.payload.end(),
                  shifted.begin() + static_cast<long>(shift));
        const auto back = payment_codec::decode(
            enc.type, enc.schema_version, std::span<const std::uint8_t>(shifted).subspan(shift));
        ASSERT_TRUE(back.has_value()) << back.error().detail;
        EXPECT_TRUE(*back == samples()[6]);
    }
}

TEST(payment_codec, every_truncation_is_refused) {
    for (const auto& e : samples()) {
        SCOPED_TRACE(name_of(e));
        const encoded_event enc = payment_codec::encode(e);
        for (std::size_t len = 0; len < enc.payload.size(); ++len) {
            // A fresh, exactly sized copy, so AddressSanitizer sees any read past it.
            const std::vector<std::uint8_t> cut(enc.payload.begin(),
                                                enc.payload.begin() + static_cast<long>(len));
            const auto out = payment_codec::decode(enc.type, enc.schema_version, cut);
            ASSERT_FALSE(out.has_value()) << "length " << len;
            EXPECT_EQ(out.error().code, codec_errc::verification_failed) << "length " << len;
        }
    }
}

TEST(payment_codec, trailing_bytes_are_refused) {
    encoded_event enc = payment_codec::encode(samples()[3]);
    enc.payload.insert(enc.payload.end(), {0, 0, 0, 0, 0, 0, 0, 0});
    const auto out = decode(enc);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::verification_failed);
}

TEST(payment_codec, a_wrong_file_identifier_is_refused) {
    encoded_event enc = payment_codec::encode(samples()[0]);
    ASSERT_EQ(std::string(enc.payload.begin() + 8, enc.payload.begin() + 12), "SSPY");
    enc.payload[8] = 'X';
    auto out = decode(enc);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::verification_failed);

    // Well-formed bytes from another context (the order codec's identifier).
    const auto foreign = envelope_with(
        [](flatbuffers::FlatBufferBuilder& b) {
            return fb::Createpayment_voided(b, b.CreateString("pay-1"), b.CreateString("r"), 1)
                .Union();
        },
        fb::event::payment_voided, "SSOR");
    out = payment_codec::decode(205, 1, foreign);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::verification_failed);
}

TEST(payment_codec, flipping_any_bit_never_reads_out_of_bounds) {
    std::size_t rejected = 0;
    std::size_t decoded_values = 0;
    for (const auto& e : samples()) {
        SCOPED_TRACE(name_of(e));
        const encoded_event enc = payment_codec::encode(e);
        for (std::size_t i = 0; i < enc.payload.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                std::vector<std::uint8_t> flipped = enc.payload;
                flipped[i] = static_cast<std::uint8_t>(flipped[i] ^ (1U << bit));
                const auto out = payment_codec::decode(enc.type, enc.schema_version, flipped);
                if (!out) {
                    ++rejected;
                    continue;
                }
                ++decoded_values;
                // Whatever was decoded is a proper value: it encodes and decodes to itself.
                const auto again = decode(payment_codec::encode(*out));
                ASSERT_TRUE(again.has_value()) << "byte " << i << " bit " << bit;
                EXPECT_TRUE(*again == *out) << "byte " << i << " bit " << bit;
            }
        }
    }
    EXPECT_GT(rejected, 0U);
    EXPECT_GT(decoded_values, 0U);
}

TEST(payment_codec, a_payload_holding_another_event_is_a_type_mismatch) {
    const encoded_event requested = payment_codec::encode(samples()[0]);
    for (std::uint16_t other : {202, 203, 204, 205, 206}) {
        const auto out = payment_codec::decode(other, 1, requested.payload);
        ASSERT_FALSE(out.has_value()) << other;
        EXPECT_EQ(out.error().code, codec_errc::type_mismatch) << other;
    }
    const encoded_event voided = payment_codec::encode(samples()[5]);
    const auto out = payment_codec::decode(203, 1, voided.payload);  // same shape, other event
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code, codec_errc::type_mismatch);
}

TEST(payment_codec, an_unknown_type_id_is_refused) {
    const encoded_event requested = payment_codec::encode(samples()[0]);
    for (std::uint16_t unknown : {0, 101, 200, 207, 301, 65535}) {
        const auto out = payment_codec::decode(unknown, 1, requested.payload);
        ASSERT_FALSE(out.has_value()) << unknown;
        EXPECT_EQ(out.error().code, codec_errc::unknown_type) << unknown;
    }
}

TEST(payment_codec, another_schema_version_is_unsupported) {
    const encoded_event requested = payment_codec::encode(samples()[0]);
    for (std::uint16_t version : {0, 2, 65535}) {
        const auto out = payment_codec::decode(requested.type, version, requested.payload);
        ASSERT_FALSE(out.has_value()) << version;
        EXPECT_EQ(out.error().code, codec_errc::unsupported_version) << version;
    }
}

void expect_invalid(std::uint16_t type, const std::vector<std::uint8_t>& payload,
                    const std::string& why) {
    const auto out = payment_codec::decode(type, 1, payload);
    ASSERT_FALSE(out.has_value()) << why;
    EXPECT_EQ(out.error().code, codec_errc::invalid_value) << why << ": " << out.error().detail;
    EXPECT_FALSE(out.error().detail.empty());
}

TEST(payment_codec, values_the_domain_cannot_hold_are_invalid) {
    using builder = flatbuffers::FlatBufferBuilder;
    auto requested = [](bool with_id, bool with_order, const char* currency, bool with_money,
                        bool with_token) {
        return envelope_with(
            [=](builder& b) {
                const auto cur_text = currency ? b.CreateString(currency) : 0;
                const auto amount = with_money ? fb::Createmoney(b, 10, cur_text) : 0;
                const auto id = with_id ? b.CreateString("pay-1") : 0;
                const auto order = with_order ? b.CreateString("ord-1") : 0;
                const auto token = with_token ? b.CreateString("tok") : 0;
                return fb::Createpayment_requested(b, id, order, amount, token, 1).Union();
            },
            fb::event::payment_requested);
    };
    EXPECT_TRUE(
        payment_codec::decode(201, 1, requested(true, true, "EUR", true, true)).has_value());
    expect_invalid(201, requested(false, true, "EUR", true, true), "missing id");
    expect_invalid(201, requested(true, false, "EUR", true, true), "missing order");
    expect_invalid(201, requested(true, true, "XDR", true, true), "not a currency a shop takes");
    expect_invalid(201, requested(true, true, "", true, true), "empty currency");
    expect_invalid(201, requested(true, true, nullptr, true, true), "missing currency");
    expect_invalid(201, requested(true, true, "EUR", false, true), "missing amount");
    expect_invalid(201, requested(true, true, "EUR", true, false), "missing method token");

    auto text_event = [](fb::event tag) {
        return envelope_with(
            [=](builder& b) -> flatbuffers::Offset<void> {
                const auto id = b.CreateString("pay-1");
                switch (tag) {
                    case fb::event::payment_authorized:
                        return fb::Createpayment_authorized(b, id, 0, 1).Union();
                    case fb::event::payment_declined:
                        return fb::Createpayment_declined(b, id, 0, 1).Union();
                    case fb::event::payment_voided:
                        return fb::Createpayment_voided(b, id, 0, 1).Union();
                    case fb::event::payment_captured:
                        return fb::Createpayment_captured(b, id, 0, 1).Union();
                    case fb::event::payment_refunded:
                        return fb::Createpayment_refunded(b, id, b.CreateString("r-1"), 0,
                                                          b.CreateString("why"), 1)
                            .Union();
                    default:
                        return 0;
                }
            },
            tag);
    };
    expect_invalid(202, text_event(fb::event::payment_authorized), "missing authorization code");
    expect_invalid(203, text_event(fb::event::payment_declined), "missing decline reason");
    expect_invalid(205, text_event(fb::event::payment_voided), "missing void reason");
    expect_invalid(204, text_event(fb::event::payment_captured), "missing captured amount");
    expect_invalid(206, text_event(fb::event::payment_refunded), "missing refunded amount");

    const auto refund_without_id = envelope_with(
        [](builder& b) {
            const auto amount = fb::Createmoney(b, 1, b.CreateString("EUR"));
            return fb::Createpayment_refunded(b, b.CreateString("pay-1"), 0, amount,
                                              b.CreateString("why"), 1)
                .Union();
        },
        fb::event::payment_refunded);
    expect_invalid(206, refund_without_id, "missing refund id");

    auto texts = [](const char* id, const char* code, const char* reason) {
        return std::pair{envelope_with(
                             [=](builder& b) {
                                 return fb::Createpayment_authorized(b, b.CreateString(id),
                                                                     b.CreateString(code), 1)
                                     .Union();
                             },
                             fb::event::payment_authorized),
                         envelope_with(
                             [=](builder& b) {
                                 return fb::Createpayment_declined(b, b.CreateString(id),
                                                                   b.CreateString(reason), 1)
                                     .Union();
                             },
                             fb::event::payment_declined)};
    };
    const auto fine = texts("pay-1", "A1", "no \xe2\x82\xac");
    EXPECT_TRUE(payment_codec::decode(202, 1, fine.first).has_value());
    EXPECT_TRUE(payment_codec::decode(203, 1, fine.second).has_value());
    const auto bad_id = texts("pay 1", "A1", "no");
    expect_invalid(202, bad_id.first, "malformed payment id");
    expect_invalid(203, bad_id.second, "malformed payment id");
    expect_invalid(202, texts("pay-1", "", "no").first, "empty authorization code");
    expect_invalid(202, texts("pay-1", "A\n1", "no").first, "non-printable authorization code");
    expect_invalid(203, texts("pay-1", "A1", "").second, "empty decline reason");
    expect_invalid(203, texts("pay-1", "A1", "bad \xc3").second, "invalid UTF-8 reason");

    const auto negative_refund = envelope_with(
        [](builder& b) {
            const auto amount = fb::Createmoney(b, -1, b.CreateString("EUR"));
            return fb::Createpayment_refunded(b, b.CreateString("pay-1"), b.CreateString("r-1"),
                                              amount, b.CreateString("why"), 1)
                .Union();
        },
        fb::event::payment_refunded);
    expect_invalid(206, negative_refund, "negative amount");
    const auto malformed_refund_id = envelope_with(
        [](builder& b) {
            const auto amount = fb::Createmoney(b, 1, b.CreateString("EUR"));
            return fb::Createpayment_refunded(b, b.CreateString("pay-1"), b.CreateString("r 1"),
                                              amount, b.CreateString("why"), 1)
                .Union();
        },
        fb::event::payment_refunded);
    expect_invalid(206, malformed_refund_id, "malformed refund id");

    const auto no_body = envelope_with([](builder&) { return 0; }, fb::event::payment_captured);
    expect_invalid(204, no_body, "missing event body");
}

}  // namespace
}  // namespace shopstream::eventstore
