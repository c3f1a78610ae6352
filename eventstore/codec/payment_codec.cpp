#include "eventstore/codec/payment_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "base/utf8.hpp"
#include "domain/payment/payment_events_generated.h"
#include "eventstore/codec/fb_support.hpp"
#include "eventstore/codec/payment_state_generated.h"

namespace shopstream::eventstore::payment_codec {
namespace {

namespace fb = shopstream::fb::payment;
namespace payment = domain::payment;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using fb_support::id_of;
using fb_support::invalid;
using fb_support::money_of;
using fb_support::put;
using fb_support::text;

// ---- encode ----------------------------------------------------------------------

Offset<fb::money> put(FlatBufferBuilder& b, const domain::money& m) {
    const auto currency = put(b, m.currency);
    return fb::Createmoney(b, m.amount, currency);
}

Offset<fb::payment_requested> put(FlatBufferBuilder& b, const payment::payment_requested& e) {
    const auto id = put(b, e.id.value());
    const auto order = put(b, e.order.value());
    const auto amount = put(b, e.amount);
    const auto token = put(b, e.method_token);
    return fb::Createpayment_requested(b, id, order, amount, token, e.at);
}

Offset<fb::payment_authorized> put(FlatBufferBuilder& b, const payment::payment_authorized& e) {
    const auto id = put(b, e.id.value());
    const auto code = put(b, e.authorization_code);
    return fb::Createpayment_authorized(b, id, code, e.at);
}

Offset<fb::payment_declined> put(FlatBufferBuilder& b, const payment::payment_declined& e) {
    const auto id = put(b, e.id.value());
    const auto reason = put(b, e.reason);
    return fb::Createpayment_declined(b, id, reason, e.at);
}

Offset<fb::payment_captured> put(FlatBufferBuilder& b, const payment::payment_captured& e) {
    const auto id = put(b, e.id.value());
    const auto amount = put(b, e.amount);
    return fb::Createpayment_captured(b, id, amount, e.at);
}

Offset<fb::payment_voided> put(FlatBufferBuilder& b, const payment::payment_voided& e) {
    const auto id = put(b, e.id.value());
    const auto reason = put(b, e.reason);
    return fb::Createpayment_voided(b, id, reason, e.at);
}

Offset<fb::payment_refunded> put(FlatBufferBuilder& b, const payment::payment_refunded& e) {
    const auto id = put(b, e.id.value());
    const auto refund_id = put(b, e.refund_id);
    const auto amount = put(b, e.amount);
    const auto reason = put(b, e.reason);
    return fb::Createpayment_refunded(b, id, refund_id, amount, reason, e.at);
}

// ---- decode ----------------------------------------------------------------------

// Gateway tokens and codes: non-empty printable ASCII.
result<std::string, std::string> token_of(const flatbuffers::String* s) {
    auto value = text(s);
    if (!value) return fail(std::string("is missing"));
    const bool printable =
        std::all_of(value->begin(), value->end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
    if (value->empty() || !printable) return fail(std::string("is not printable ASCII"));
    return std::move(*value);
}

// Reasons for people: non-empty UTF-8.
result<std::string, std::string> reason_of(const flatbuffers::String* s) {
    auto value = text(s);
    if (!value) return fail(std::string("is missing"));
    if (value->empty() || !utf8::is_valid(*value)) {
        return fail(std::string("is empty or not valid UTF-8"));
    }
    return std::move(*value);
}

decoded<payment::event> read(const fb::payment_requested& t) {
    auto id = id_of<domain::payment_id>(t.id());
    if (!id) return invalid("payment_requested.id " + id.error());
    auto order = id_of<domain::order_id>(t.order());
    if (!order) return invalid("payment_requested.order " + order.error());
    auto amount = money_of(t.amount());
    if (!amount) return invalid("payment_requested.amount " + amount.error());
    auto token = token_of(t.method_token());
    if (!token) return invalid("payment_requested.method_token " + token.error());
    return payment::payment_requested{std::move(*id), std::move(*order), *amount, std::move(*token),
                                      t.at()};
}

decoded<payment::event> read(const fb::payment_authorized& t) {
    auto id = id_of<domain::payment_id>(t.id());
    if (!id) return invalid("payment_authorized.id " + id.error());
    auto code = token_of(t.authorization_code());
    if (!code) return invalid("payment_authorized.authorization_code " + code.error());
    return payment::payment_authorized{std::move(*id), std::move(*code), t.at()};
}

decoded<payment::event> read(const fb::payment_declined& t) {
    auto id = id_of<domain::payment_id>(t.id());
    if (!id) return invalid("payment_declined.id " + id.error());
    auto reason = reason_of(t.reason());
    if (!reason) return invalid("payment_declined.reason " + reason.error());
    return payment::payment_declined{std::move(*id), std::move(*reason), t.at()};
}

decoded<payment::event> read(const fb::payment_captured& t) {
    auto id = id_of<domain::payment_id>(t.id());
    if (!id) return invalid("payment_captured.id " + id.error());
    auto amount = money_of(t.amount());
    if (!amount) return invalid("payment_captured.amount " + amount.error());
    return payment::payment_captured{std::move(*id), *amount, t.at()};
}

decoded<payment::event> read(const fb::payment_voided& t) {
    auto id = id_of<domain::payment_id>(t.id());
    if (!id) return invalid("payment_voided.id " + id.error());
    auto reason = reason_of(t.reason());
    if (!reason) return invalid("payment_voided.reason " + reason.error());
    return payment::payment_voided{std::move(*id), std::move(*reason), t.at()};
}

decoded<payment::event> read(const fb::payment_refunded& t) {
    auto id = id_of<domain::payment_id>(t.id());
    if (!id) return invalid("payment_refunded.id " + id.error());
    auto refund_id = text(t.refund_id());
    if (!refund_id) return invalid("payment_refunded.refund_id is missing");
    if (!domain::is_valid_id(*refund_id))
        return invalid("payment_refunded.refund_id is not a valid id");
    auto amount = money_of(t.amount());
    if (!amount) return invalid("payment_refunded.amount " + amount.error());
    auto reason = reason_of(t.reason());
    if (!reason) return invalid("payment_refunded.reason " + reason.error());
    return payment::payment_refunded{std::move(*id), std::move(*refund_id), *amount,
                                     std::move(*reason), t.at()};
}

// ---- state snapshots -------------------------------------------------------------

namespace fbs = shopstream::fb::payment_state;
using fb_support::id_or_empty;
using fb_support::money_or_initial;
using fb_support::same_value;

// The storage enum mirrors the domain's value for value, so it converts by cast.
static_assert(same_value(fbs::payment_status::none, payment::payment_status::none) &&
              same_value(fbs::payment_status::requested, payment::payment_status::requested) &&
              same_value(fbs::payment_status::authorized, payment::payment_status::authorized) &&
              same_value(fbs::payment_status::declined, payment::payment_status::declined) &&
              same_value(fbs::payment_status::captured, payment::payment_status::captured) &&
              same_value(fbs::payment_status::voided, payment::payment_status::voided) &&
              same_value(fbs::payment_status::MAX, payment::payment_status::voided));

// Enough for the whole buffer, so the builder allocates once.
std::size_t snapshot_size_hint(const payment::state& s) {
    std::size_t size = 256 + s.id.value().size() + s.order.value().size() +
                       s.method_token.size() + s.authorization_code.size() +
                       s.decline_reason.size() + s.void_reason.size();
    for (const auto& r : s.refunds) size += 40 + r.refund_id.size();
    return size;
}

Offset<fbs::money> put_state_money(FlatBufferBuilder& b, const domain::money& m) {
    const auto currency = put(b, m.currency);
    return fbs::Createmoney(b, m.amount, currency);
}

// A text of the state that an event sets: "" until then, else what `check` accepts.
template <class Check>
result<std::string, std::string> empty_or(const flatbuffers::String* s, Check check) {
    if (s != nullptr && s->size() == 0) return std::string();
    return check(s);
}

decoded<payment::state> read_state(const fbs::snapshot& t) {
    payment::state s;
    const auto status = t.status();
    if (!status) return invalid("payment snapshot.status is missing");
    if (*status > fbs::payment_status::MAX) {
        return invalid("payment snapshot.status has unknown value " +
                       std::to_string(static_cast<unsigned>(*status)));
    }
    s.status = static_cast<payment::payment_status>(*status);
    auto id = id_or_empty<domain::payment_id>(t.id());
    if (!id) return invalid("payment snapshot.id " + id.error());
    s.id = std::move(*id);
    auto order = id_or_empty<domain::order_id>(t.order());
    if (!order) return invalid("payment snapshot.order " + order.error());
    s.order = std::move(*order);
    auto amount = money_or_initial(t.amount());
    if (!amount) return invalid("payment snapshot.amount " + amount.error());
    s.amount = *amount;
    auto token = empty_or(t.method_token(), token_of);
    if (!token) return invalid("payment snapshot.method_token " + token.error());
    s.method_token = std::move(*token);
    auto code = empty_or(t.authorization_code(), token_of);
    if (!code) return invalid("payment snapshot.authorization_code " + code.error());
    s.authorization_code = std::move(*code);
    auto declined = empty_or(t.decline_reason(), reason_of);
    if (!declined) return invalid("payment snapshot.decline_reason " + declined.error());
    s.decline_reason = std::move(*declined);
    auto voided = empty_or(t.void_reason(), reason_of);
    if (!voided) return invalid("payment snapshot.void_reason " + voided.error());
    s.void_reason = std::move(*voided);
    if (t.captured() < 0) return invalid("payment snapshot.captured is negative");
    s.captured = t.captured();
    if (t.refunds() == nullptr) return invalid("payment snapshot.refunds is missing");
    s.refunds.reserve(t.refunds()->size());
    std::int64_t refunded = 0;  // as evolve sums it, saturating
    for (const fbs::refund* r : *t.refunds()) {
        const std::string at = "payment snapshot.refunds[" + std::to_string(s.refunds.size()) + "]";
        if (r == nullptr) return invalid(at + " is missing");
        auto refund_id = id_of<std::string>(r->refund_id());
        if (!refund_id) return invalid(at + ".refund_id " + refund_id.error());
        if (r->amount() < 0) return invalid(at + ".amount is negative");
        s.refunds.push_back(payment::refund{std::move(*refund_id), r->amount()});
        refunded = domain::checked_add(refunded, r->amount())
                       .value_or(std::numeric_limits<std::int64_t>::max());
    }
    if (t.refunded() != refunded) {
        return invalid("payment snapshot.refunded " + std::to_string(t.refunded()) +
                       " is not the sum of its refunds, " + std::to_string(refunded));
    }
    s.refunded = refunded;
    s.authorized_at = t.authorized_at();
    if (s == payment::initial_state()) {
        return invalid("payment snapshot holds the initial state, which is stored as empty bytes");
    }
    return s;
}

struct schema {
    using event = payment::event;
    using envelope = fb::envelope;
    using tables = std::tuple<fb::payment_requested, fb::payment_authorized, fb::payment_declined,
                              fb::payment_captured, fb::payment_voided, fb::payment_refunded>;
    template <class Table>
    static constexpr fb::event tag = fb::eventTraits<Table>::enum_value;
    static constexpr std::string_view context = "payment";
    static constexpr std::string_view envelope_name = "payment envelope (\"SSPY\")";
    static constexpr auto create_envelope = &fb::Createenvelope;
    static constexpr auto finish_envelope = &fb::FinishSizePrefixedenvelopeBuffer;
    static constexpr auto verify_envelope = &fb::VerifySizePrefixedenvelopeBuffer;

    using state = payment::state;
    using snapshot = fbs::snapshot;
    static constexpr std::string_view snapshot_name = "payment snapshot (\"SSPS\")";
    static constexpr auto initial_state = &payment::initial_state;
    static constexpr auto finish_snapshot = &fbs::FinishSizePrefixedsnapshotBuffer;
    static constexpr auto verify_snapshot = &fbs::VerifySizePrefixedsnapshotBuffer;
};

}  // namespace

encoded_event encode(const payment::event& e) {
    return fb_support::encode_event<schema>(e, [](FlatBufferBuilder& b, const auto& ev) { return put(b, ev); });
}

decoded<payment::event> decode(std::uint16_t type, std::uint16_t schema_version,
                               std::span<const std::uint8_t> payload) {
    return fb_support::decode_event<schema>(type, schema_version, payload, [](const auto& t) { return read(t); });
}

std::vector<std::uint8_t> encode_state(const payment::state& s) {
    return fb_support::encode_snapshot<schema>(s, snapshot_size_hint(s), [&s](FlatBufferBuilder& b) {
        const auto id = put(b, s.id.value());
        const auto order = put(b, s.order.value());
        const auto amount = put_state_money(b, s.amount);
        const auto token = put(b, s.method_token);
        const auto code = put(b, s.authorization_code);
        const auto declined = put(b, s.decline_reason);
        const auto voided = put(b, s.void_reason);
        std::vector<Offset<fbs::refund>> refunds;
        refunds.reserve(s.refunds.size());
        for (const auto& r : s.refunds) {
            const auto refund_id = put(b, r.refund_id);
            refunds.push_back(fbs::Createrefund(b, refund_id, r.amount));
        }
        const auto refund_vector = b.CreateVector(refunds);
        return fbs::Createsnapshot(b, static_cast<fbs::payment_status>(s.status), id, order, amount, token, code,
                                   declined, voided, s.captured, s.refunded, refund_vector, s.authorized_at);
    });
}

decoded<payment::state> decode_state(std::span<const std::uint8_t> bytes) {
    return fb_support::decode_snapshot<schema>(bytes, read_state);
}

}  // namespace shopstream::eventstore::payment_codec
