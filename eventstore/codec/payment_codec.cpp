#include "eventstore/codec/payment_codec.hpp"

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
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

#include "base/utf8.hpp"
#include "domain/payment/payment_events_generated.h"

namespace shopstream::eventstore::payment_codec {
namespace {

namespace fb = shopstream::fb::payment;
namespace payment = domain::payment;
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
    kind_of<payment::payment_requested, fb::payment_requested>(),
    kind_of<payment::payment_authorized, fb::payment_authorized>(),
    kind_of<payment::payment_declined, fb::payment_declined>(),
    kind_of<payment::payment_captured, fb::payment_captured>(),
    kind_of<payment::payment_voided, fb::payment_voided>(),
    kind_of<payment::payment_refunded, fb::payment_refunded>(),
};
static_assert(kinds.size() == std::variant_size_v<payment::event>,
              "every payment event needs a wire identity");

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

Offset<fb::money> put(FlatBufferBuilder& b, const domain::money& m) {
    const auto currency = put(b, m.currency.empty() ? std::string_view{} : m.currency.code());
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

result<domain::money, std::string> money_of(const fb::money* m) {
    if (m == nullptr) return fail(std::string("is missing"));
    if (m->amount() < 0) return fail(std::string("is negative"));
    if (m->currency() == nullptr) return fail(std::string("currency is missing"));
    auto currency =
        domain::currency::parse(std::string_view(m->currency()->c_str(), m->currency()->size()));
    if (!currency) return fail("currency is " + currency.error());
    return domain::money{m->amount(), *currency};
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

// The union says which table it holds; the body may still be absent (the verifier
// accepts a missing union value).
template <class Table>
decoded<payment::event> read_body(const fb::envelope& env) {
    const Table* body = env.event_as<Table>();
    if (body == nullptr) return invalid("the envelope holds no event body");
    return read(*body);
}

}  // namespace

encoded_event encode(const payment::event& e) {
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

decoded<payment::event> decode(std::uint16_t type, std::uint16_t schema_version,
                               std::span<const std::uint8_t> payload) {
    const kind* k = find_kind(type);
    if (k == nullptr) {
        return failure(codec_errc::unknown_type,
                       "no payment event has type id " + std::to_string(type));
    }
    if (schema_version != k->schema_version) {
        return failure(codec_errc::unsupported_version,
                       "payment event type " + std::to_string(type) + " schema version " +
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
                       "not a complete, well-formed size-prefixed payment envelope (\"SSPY\")");
    }
    const fb::envelope& env = *fb::GetSizePrefixedenvelope(bytes.data());
    if (env.event_type() != k->tag) {
        return failure(codec_errc::type_mismatch,
                       "type id " + std::to_string(type) + " but the payload holds union member " +
                           std::to_string(static_cast<unsigned>(env.event_type())));
    }
    switch (k->tag) {
        case fb::event::payment_requested:
            return read_body<fb::payment_requested>(env);
        case fb::event::payment_authorized:
            return read_body<fb::payment_authorized>(env);
        case fb::event::payment_declined:
            return read_body<fb::payment_declined>(env);
        case fb::event::payment_captured:
            return read_body<fb::payment_captured>(env);
        case fb::event::payment_voided:
            return read_body<fb::payment_voided>(env);
        case fb::event::payment_refunded:
            return read_body<fb::payment_refunded>(env);
        case fb::event::NONE:
            break;
    }
    return failure(codec_errc::unknown_type,
                   "no payment event has type id " + std::to_string(type));
}

}  // namespace shopstream::eventstore::payment_codec
