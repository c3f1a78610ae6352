#include "eventstore/codec/order_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "domain/order/order_events_generated.h"

namespace shopstream::eventstore::order_codec {
namespace {

namespace fb = shopstream::fb::order;
namespace order = domain::order;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// The wire identity of each event. Type ids and schema versions come from the domain
// structs; the union tag is the event's position in the schema's union.
struct kind {
    std::uint16_t type_id;
    std::uint16_t schema_version;
    fb::event tag;
};

template <class Event, class Table>
constexpr kind kind_of() {
    return {Event::type_id, Event::schema_version, fb::eventTraits<Table>::enum_value};
}

constexpr std::array kinds{
    kind_of<order::order_placed, fb::order_placed>(),
    kind_of<order::order_cancelled, fb::order_cancelled>(),
    kind_of<order::order_confirmed, fb::order_confirmed>(),
    kind_of<order::order_shipped, fb::order_shipped>(),
    kind_of<order::order_payment_captured, fb::order_payment_captured>(),
};
static_assert(kinds.size() == std::variant_size_v<order::event>,
              "every order event needs a wire identity");

const kind* find_kind(std::uint16_t type_id) {
    for (const kind& k : kinds) {
        if (k.type_id == type_id) return &k;
    }
    return nullptr;
}

// ---- encode ----------------------------------------------------------------------

template <class Table>
fb::event tag_of(Offset<Table>) {
    return fb::eventTraits<Table>::enum_value;
}

Offset<flatbuffers::String> put(FlatBufferBuilder& b, std::string_view text) {
    return b.CreateString(text.data(), text.size());
}

Offset<flatbuffers::String> put(FlatBufferBuilder& b, const domain::currency& c) {
    return put(b, c.empty() ? std::string_view{} : c.code());
}

Offset<fb::actor> put(FlatBufferBuilder& b, const domain::actor& a) {
    const auto id = put(b, a.id);
    return fb::Createactor(b, id, static_cast<std::uint8_t>(a.role));
}

Offset<fb::money> put(FlatBufferBuilder& b, const domain::money& m) {
    const auto currency = put(b, m.currency);
    return fb::Createmoney(b, m.amount, currency);
}

Offset<fb::order_placed> put(FlatBufferBuilder& b, const order::order_placed& e) {
    const auto id = put(b, e.id.value());
    const auto customer = put(b, e.customer.value());
    std::vector<Offset<fb::line>> lines;
    lines.reserve(e.lines.size());
    for (const auto& l : e.lines) {
        const auto sku = put(b, l.sku);
        lines.push_back(fb::Createline(b, sku, l.quantity, l.unit_price));
    }
    const auto line_vector = b.CreateVector(lines);
    const auto currency = put(b, e.currency);
    return fb::Createorder_placed(b, id, customer, line_vector, currency, e.total, e.at);
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

std::unexpected<codec_error> failure(codec_errc code, std::string detail) {
    return std::unexpected(codec_error{code, std::move(detail)});
}

std::unexpected<codec_error> invalid(std::string detail) {
    return failure(codec_errc::invalid_value, std::move(detail));
}

// FlatBuffers reads scalars in place, so the bytes must sit at the alignment the
// builder gave them; a payload sliced out of a Kafka message need not.
class aligned_bytes {
   public:
    explicit aligned_bytes(std::span<const std::uint8_t> payload) : bytes_(payload) {
        if (reinterpret_cast<std::uintptr_t>(payload.data()) % alignof(std::uint64_t) == 0) return;
        copy_.resize((payload.size() + sizeof(std::uint64_t) - 1) / sizeof(std::uint64_t));
        std::memcpy(copy_.data(), payload.data(), payload.size());
        bytes_ = {reinterpret_cast<const std::uint8_t*>(copy_.data()), payload.size()};
    }
    [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }

   private:
    std::vector<std::uint64_t> copy_;
    std::span<const std::uint8_t> bytes_;
};

std::optional<std::string> text(const flatbuffers::String* s) {
    if (s == nullptr) return std::nullopt;
    return std::string(s->c_str(), s->size());
}

// An id field: present and of the syntax every id has (domain::is_valid_id).
template <class Id>
result<Id, std::string> id_of(const flatbuffers::String* s) {
    auto value = text(s);
    if (!value) return fail(std::string("is missing"));
    if (!domain::is_valid_id(*value)) return fail(std::string("is not a valid id"));
    return Id{std::move(*value)};
}

result<domain::currency, std::string> currency_of(const flatbuffers::String* s) {
    if (s == nullptr) return fail(std::string("is missing"));
    auto currency = domain::currency::parse(std::string_view(s->c_str(), s->size()));
    if (!currency) return fail("is " + currency.error());
    return *currency;
}

result<domain::actor, std::string> actor_of(const fb::actor* a) {
    if (a == nullptr || a->id() == nullptr) return fail(std::string("is missing"));
    if (a->role() > static_cast<std::uint8_t>(domain::role::system)) {
        return fail("has unknown role " + std::to_string(a->role()));
    }
    return domain::actor{a->id()->str(), static_cast<domain::role>(a->role())};
}

result<domain::money, std::string> money_of(const fb::money* m) {
    if (m == nullptr) return fail(std::string("is missing"));
    if (m->amount() < 0) return fail(std::string("is negative"));
    auto currency = currency_of(m->currency());
    if (!currency) return fail("currency " + currency.error());
    return domain::money{m->amount(), *currency};
}

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

result<order::order_line, std::string> line_of(const fb::line* l) {
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
    return order::order_placed{
        std::move(*id), std::move(*customer), std::move(lines), *currency, t.total(), t.at()};
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

// The union says which table it holds; the body may still be absent (the verifier
// accepts a missing union value).
template <class Table>
decoded<order::event> read_body(const fb::envelope& env) {
    const Table* body = env.event_as<Table>();
    if (body == nullptr) return invalid("the envelope holds no event body");
    return read(*body);
}

}  // namespace

encoded_event encode(const order::event& e) {
    FlatBufferBuilder b(256);
    return std::visit(
        [&](const auto& ev) {
            using event_type = std::decay_t<decltype(ev)>;
            const auto body = put(b, ev);
            const auto envelope = fb::Createenvelope(b, tag_of(body), body.Union());
            fb::FinishSizePrefixedenvelopeBuffer(b, envelope);
            const std::uint8_t* data = b.GetBufferPointer();
            return encoded_event{event_type::type_id, event_type::schema_version,
                                 std::vector<std::uint8_t>(data, data + b.GetSize())};
        },
        e);
}

decoded<order::event> decode(std::uint16_t type, std::uint16_t schema_version,
                             std::span<const std::uint8_t> payload) {
    const kind* k = find_kind(type);
    if (k == nullptr) {
        return failure(codec_errc::unknown_type,
                       "no order event has type id " + std::to_string(type));
    }
    if (schema_version != k->schema_version) {
        return failure(codec_errc::unsupported_version,
                       "order event type " + std::to_string(type) + " schema version " +
                           std::to_string(schema_version) + " is not readable by this build");
    }
    const aligned_bytes aligned(payload);
    const auto bytes = aligned.bytes();
    if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
        return failure(codec_errc::verification_failed, "payload larger than a FlatBuffer can be");
    }
    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
    if (!fb::VerifySizePrefixedenvelopeBuffer(verifier)) {
        return failure(codec_errc::verification_failed,
                       "not a complete, well-formed size-prefixed order envelope (\"SSOR\")");
    }
    const fb::envelope& env = *fb::GetSizePrefixedenvelope(bytes.data());
    if (env.event_type() != k->tag) {
        return failure(codec_errc::type_mismatch,
                       "type id " + std::to_string(type) + " but the payload holds union member " +
                           std::to_string(static_cast<unsigned>(env.event_type())));
    }
    switch (k->tag) {
        case fb::event::order_placed:
            return read_body<fb::order_placed>(env);
        case fb::event::order_cancelled:
            return read_body<fb::order_cancelled>(env);
        case fb::event::order_confirmed:
            return read_body<fb::order_confirmed>(env);
        case fb::event::order_shipped:
            return read_body<fb::order_shipped>(env);
        case fb::event::order_payment_captured:
            return read_body<fb::order_payment_captured>(env);
        case fb::event::NONE:
            break;
    }
    return failure(codec_errc::unknown_type, "no order event has type id " + std::to_string(type));
}

}  // namespace shopstream::eventstore::order_codec
