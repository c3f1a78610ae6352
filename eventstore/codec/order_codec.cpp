#include "eventstore/codec/order_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "domain/order/order_events_generated.h"
#include "eventstore/codec/fb_support.hpp"
#include "eventstore/codec/order_state_generated.h"

namespace shopstream::eventstore::order_codec {
namespace {

namespace fb = shopstream::fb::order;
namespace order = domain::order;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using fb_support::actor_of;
using fb_support::currency_of;
using fb_support::id_of;
using fb_support::invalid;
using fb_support::money_of;
using fb_support::put;

// ---- encode ----------------------------------------------------------------------

Offset<fb::actor> put(FlatBufferBuilder& b, const domain::actor& a) {
    const auto id = put(b, a.id);
    return fb::Createactor(b, id, static_cast<std::uint8_t>(a.role));
}

Offset<fb::money> put(FlatBufferBuilder& b, const domain::money& m) {
    const auto currency = put(b, m.currency);
    return fb::Createmoney(b, m.amount, currency);
}

// The event and the snapshot each have their own `line` table; `create` is its Createline.
template <class Line>
Offset<flatbuffers::Vector<Offset<Line>>> put_lines(FlatBufferBuilder& b, const std::vector<order::order_line>& lines,
                                                    Offset<Line> (*create)(FlatBufferBuilder&,
                                                                           Offset<flatbuffers::String>, std::int32_t,
                                                                           std::int64_t)) {
    std::vector<Offset<Line>> out;
    out.reserve(lines.size());
    for (const auto& l : lines) {
        const auto sku = put(b, l.sku);
        out.push_back(create(b, sku, l.quantity, l.unit_price));
    }
    return b.CreateVector(out);
}

Offset<fb::order_placed> put(FlatBufferBuilder& b, const order::order_placed& e) {
    const auto id = put(b, e.id.value());
    const auto customer = put(b, e.customer.value());
    const auto line_vector = put_lines(b, e.lines, &fb::Createline);
    const auto currency = put(b, e.currency);
    const auto token = put(b, e.payment_method_token);
    return fb::Createorder_placed(b, id, customer, line_vector, currency, e.total, e.at, token);
}

Offset<fb::order_cancelled> put(FlatBufferBuilder& b, const order::order_cancelled& e) {
    const auto id = put(b, e.id.value());
    const auto by = put(b, e.by);
    return fb::Createorder_cancelled(b, id, static_cast<fb::cancel_reason>(e.reason), by, e.at);
}

Offset<fb::order_confirmed> put(FlatBufferBuilder& b, const order::order_confirmed& e) {
    const auto id = put(b, e.id.value());
    const auto payment = put(b, e.payment.value());
    return fb::Createorder_confirmed(b, id, payment, e.at);
}

Offset<fb::order_shipped> put(FlatBufferBuilder& b, const order::order_shipped& e) {
    const auto id = put(b, e.id.value());
    const auto by = put(b, e.by);
    return fb::Createorder_shipped(b, id, by, e.at);
}

Offset<fb::order_payment_captured> put(FlatBufferBuilder& b,
                                       const order::order_payment_captured& e) {
    const auto id = put(b, e.id.value());
    const auto payment = put(b, e.payment.value());
    const auto amount = put(b, e.amount);
    return fb::Createorder_payment_captured(b, id, payment, amount, e.at);
}

// ---- decode ----------------------------------------------------------------------

std::optional<order::cancel_reason> reason_of(fb::cancel_reason r) {
    switch (r) {
        case fb::cancel_reason::customer_request:
            return order::cancel_reason::customer_request;
        case fb::cancel_reason::payment_declined:
            return order::cancel_reason::payment_declined;
        case fb::cancel_reason::payment_timeout:
            return order::cancel_reason::payment_timeout;
    }
    return std::nullopt;
}

// Any generated `table line { sku: string; quantity: int; unit_price: long; }`.
template <class Line>
result<order::order_line, std::string> line_of(const Line* l) {
    if (l == nullptr || l->sku() == nullptr) return fail(std::string("sku is missing"));
    std::string sku = l->sku()->str();
    if (!domain::is_valid_sku(sku)) return fail(std::string("sku is not a valid sku"));
    if (l->quantity() < 1) return fail(std::string("quantity is not positive"));
    if (l->unit_price() < 0) return fail(std::string("unit_price is negative"));
    return order::order_line{std::move(sku), l->quantity(), l->unit_price()};
}

decoded<order::event> read(const fb::order_placed& t) {
    auto id = id_of<domain::order_id>(t.id());
    if (!id) return invalid("order_placed.id " + id.error());
    auto customer = id_of<domain::customer_id>(t.customer());
    if (!customer) return invalid("order_placed.customer " + customer.error());
    if (t.lines() == nullptr) return invalid("order_placed.lines is missing");
    std::vector<order::order_line> lines;
    lines.reserve(t.lines()->size());
    for (const fb::line* l : *t.lines()) {
        auto line = line_of(l);
        if (!line)
            return invalid("order_placed.lines[" + std::to_string(lines.size()) + "]." +
                           line.error());
        lines.push_back(std::move(*line));
    }
    auto currency = currency_of(t.currency());
    if (!currency) return invalid("order_placed.currency " + currency.error());
    if (t.total() < 0) return invalid("order_placed.total is negative");
    // Absent in orders placed before the token was required.
    std::string token = t.payment_method_token() != nullptr ? t.payment_method_token()->str() : "";
    return order::order_placed{std::move(*id), std::move(*customer), std::move(lines), *currency,
                               t.total(),      t.at(),                std::move(token)};
}

decoded<order::event> read(const fb::order_cancelled& t) {
    auto id = id_of<domain::order_id>(t.id());
    if (!id) return invalid("order_cancelled.id " + id.error());
    const auto reason = reason_of(t.reason());
    if (!reason) {
        return invalid("order_cancelled.reason has unknown value " +
                       std::to_string(static_cast<unsigned>(t.reason())));
    }
    auto by = actor_of(t.by());
    if (!by) return invalid("order_cancelled.by " + by.error());
    return order::order_cancelled{std::move(*id), *reason, std::move(*by), t.at()};
}

decoded<order::event> read(const fb::order_confirmed& t) {
    auto id = id_of<domain::order_id>(t.id());
    if (!id) return invalid("order_confirmed.id " + id.error());
    auto payment = id_of<domain::payment_id>(t.payment());
    if (!payment) return invalid("order_confirmed.payment " + payment.error());
    return order::order_confirmed{std::move(*id), std::move(*payment), t.at()};
}

decoded<order::event> read(const fb::order_shipped& t) {
    auto id = id_of<domain::order_id>(t.id());
    if (!id) return invalid("order_shipped.id " + id.error());
    auto by = actor_of(t.by());
    if (!by) return invalid("order_shipped.by " + by.error());
    return order::order_shipped{std::move(*id), std::move(*by), t.at()};
}

decoded<order::event> read(const fb::order_payment_captured& t) {
    auto id = id_of<domain::order_id>(t.id());
    if (!id) return invalid("order_payment_captured.id " + id.error());
    auto payment = id_of<domain::payment_id>(t.payment());
    if (!payment) return invalid("order_payment_captured.payment " + payment.error());
    auto amount = money_of(t.amount());
    if (!amount) return invalid("order_payment_captured.amount " + amount.error());
    return order::order_payment_captured{std::move(*id), std::move(*payment), *amount, t.at()};
}

// ---- state snapshots -------------------------------------------------------------

namespace fbs = shopstream::fb::order_state;
using fb_support::currency_or_empty;
using fb_support::id_or_empty;
using fb_support::same_value;

// The storage enums mirror the domain's value for value, so they convert by cast.
static_assert(same_value(fbs::order_status::none, order::order_status::none) &&
              same_value(fbs::order_status::pending, order::order_status::pending) &&
              same_value(fbs::order_status::confirmed, order::order_status::confirmed) &&
              same_value(fbs::order_status::cancelled, order::order_status::cancelled) &&
              same_value(fbs::order_status::shipped, order::order_status::shipped) &&
              same_value(fbs::order_status::MAX, order::order_status::shipped));
static_assert(same_value(fbs::cancel_reason::customer_request,
                         order::cancel_reason::customer_request) &&
              same_value(fbs::cancel_reason::payment_declined,
                         order::cancel_reason::payment_declined) &&
              same_value(fbs::cancel_reason::payment_timeout,
                         order::cancel_reason::payment_timeout) &&
              same_value(fbs::cancel_reason::MAX, order::cancel_reason::payment_timeout));

// Enough for the whole buffer, so the builder allocates once.
std::size_t snapshot_size_hint(const order::state& s) {
    std::size_t size = 200 + s.id.value().size() + s.customer.value().size() + s.payment_method_token.size() +
                       (s.payment ? s.payment->value().size() : 0);
    for (const auto& l : s.lines) size += 48 + l.sku.size();
    return size;
}

decoded<order::state> read_state(const fbs::snapshot& t) {
    order::state s;
    const auto status = t.status();
    if (!status) return invalid("order snapshot.status is missing");
    if (*status > fbs::order_status::MAX) {
        return invalid("order snapshot.status has unknown value " +
                       std::to_string(static_cast<unsigned>(*status)));
    }
    s.status = static_cast<order::order_status>(*status);
    auto id = id_or_empty<domain::order_id>(t.id());
    if (!id) return invalid("order snapshot.id " + id.error());
    s.id = std::move(*id);
    auto customer = id_or_empty<domain::customer_id>(t.customer());
    if (!customer) return invalid("order snapshot.customer " + customer.error());
    s.customer = std::move(*customer);
    if (t.lines() == nullptr) return invalid("order snapshot.lines is missing");
    s.lines.reserve(t.lines()->size());
    for (const fbs::line* l : *t.lines()) {
        auto line = line_of(l);
        if (!line) {
            return invalid("order snapshot.lines[" + std::to_string(s.lines.size()) + "]." +
                           line.error());
        }
        s.lines.push_back(std::move(*line));
    }
    auto currency = currency_or_empty(t.currency());
    if (!currency) return invalid("order snapshot.currency " + currency.error());
    s.currency = *currency;
    if (t.total() < 0) return invalid("order snapshot.total is negative");
    s.total = t.total();
    s.placed_at = t.placed_at();
    if (t.payment() != nullptr) {  // absent: not confirmed
        auto payment = id_of<domain::payment_id>(t.payment());
        if (!payment) return invalid("order snapshot.payment " + payment.error());
        s.payment = std::move(*payment);
    }
    s.payment_captured = t.payment_captured();
    if (const auto reason = t.cancel_reason()) {  // null: never cancelled
        if (*reason > fbs::cancel_reason::MAX) {
            return invalid("order snapshot.cancel_reason has unknown value " +
                           std::to_string(static_cast<unsigned>(*reason)));
        }
        s.cancel_reason = static_cast<order::cancel_reason>(*reason);
    }
    if (t.payment_method_token() != nullptr) s.payment_method_token = t.payment_method_token()->str();
    if (s == order::initial_state()) {
        return invalid("order snapshot holds the initial state, which is stored as empty bytes");
    }
    return s;
}

struct schema {
    using event = order::event;
    using envelope = fb::envelope;
    using tables = std::tuple<fb::order_placed, fb::order_cancelled, fb::order_confirmed, fb::order_shipped,
                              fb::order_payment_captured>;
    template <class Table>
    static constexpr fb::event tag = fb::eventTraits<Table>::enum_value;
    static constexpr std::string_view context = "order";
    static constexpr std::string_view envelope_name = "order envelope (\"SSOR\")";
    static constexpr auto create_envelope = &fb::Createenvelope;
    static constexpr auto finish_envelope = &fb::FinishSizePrefixedenvelopeBuffer;
    static constexpr auto verify_envelope = &fb::VerifySizePrefixedenvelopeBuffer;

    using state = order::state;
    using snapshot = fbs::snapshot;
    static constexpr std::string_view snapshot_name = "order snapshot (\"SSOS\")";
    static constexpr auto initial_state = &order::initial_state;
    static constexpr auto finish_snapshot = &fbs::FinishSizePrefixedsnapshotBuffer;
    static constexpr auto verify_snapshot = &fbs::VerifySizePrefixedsnapshotBuffer;
};

}  // namespace

encoded_event encode(const order::event& e) {
    return fb_support::encode_event<schema>(e, [](FlatBufferBuilder& b, const auto& ev) { return put(b, ev); });
}

decoded<order::event> decode(std::uint16_t type, std::uint16_t schema_version,
                             std::span<const std::uint8_t> payload) {
    return fb_support::decode_event<schema>(type, schema_version, payload, [](const auto& t) { return read(t); });
}

std::vector<std::uint8_t> encode_state(const order::state& s) {
    return fb_support::encode_snapshot<schema>(s, snapshot_size_hint(s), [&s](FlatBufferBuilder& b) {
        const auto id = put(b, s.id.value());
        const auto customer = put(b, s.customer.value());
        const auto line_vector = put_lines(b, s.lines, &fbs::Createline);
        const auto currency = put(b, s.currency);
        const auto payment = s.payment ? put(b, s.payment->value()) : Offset<flatbuffers::String>{};
        const auto token = put(b, s.payment_method_token);
        flatbuffers::Optional<fbs::cancel_reason> reason = flatbuffers::nullopt;
        if (s.cancel_reason) reason = static_cast<fbs::cancel_reason>(*s.cancel_reason);
        return fbs::Createsnapshot(b, static_cast<fbs::order_status>(s.status), id, customer, line_vector, currency,
                                   s.total, s.placed_at, payment, s.payment_captured, reason, token);
    });
}

decoded<order::state> decode_state(std::span<const std::uint8_t> bytes) {
    return fb_support::decode_snapshot<schema>(bytes, read_state);
}

}  // namespace shopstream::eventstore::order_codec
