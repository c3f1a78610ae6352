#pragma once
// Internal to eventstore/codec: the pieces the FlatBuffers codecs of this folder share —
// error values, the aligned copy, verification of a size-prefixed buffer, readers for
// the fields every context has (ids, currencies, money, actors), and the skeleton of a
// codec (encode_event / decode_event, encode_snapshot / decode_snapshot at the end), so
// that each context's codec holds only its per-event and per-state mapping. Everything is
// a template over the generated types, so this header includes no generated header and
// each schema keeps its own `money` and `actor` tables (wire and storage formats evolve
// apart) while the checks stay in one place. Not included by any public header. Pure
// functions, safe from any thread.

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "domain/common.hpp"
#include "eventstore/codec/event_codec.hpp"

namespace shopstream::eventstore::fb_support {

inline std::unexpected<codec_error> failure(codec_errc code, std::string detail) {
    return std::unexpected(codec_error{code, std::move(detail)});
}

inline std::unexpected<codec_error> invalid(std::string detail) {
    return failure(codec_errc::invalid_value, std::move(detail));
}

// FlatBuffers reads scalars in place, so the bytes must sit at the alignment the
// builder gave them; a payload sliced out of a Kafka message or an LMDB value need not.
class aligned_bytes {
public:
    explicit aligned_bytes(std::span<const std::uint8_t> payload) : bytes_(payload) {
        if (reinterpret_cast<std::uintptr_t>(payload.data()) % alignof(std::uint64_t) == 0) return;
        copy_.resize(payload.size() / sizeof(std::uint64_t) + 1);
        std::copy(payload.begin(), payload.end(), reinterpret_cast<std::uint8_t*>(copy_.data()));
        bytes_ = {reinterpret_cast<const std::uint8_t*>(copy_.data()), payload.size()};
    }
    [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }

private:
    std::vector<std::uint64_t> copy_;
    std::span<const std::uint8_t> bytes_;
};

// The root table of `bytes` (aligned) once `verify` — a generated
// VerifySizePrefixed<root>Buffer, which checks the size prefix against the length, the
// file identifier and every offset — accepted it; verification_failed naming `what`
// otherwise. The size prefix is compared first on its own, so that a truncated or
// extended buffer (the common corruption) is reported as such rather than as the
// verifier's bare refusal.
template <class Root>
result<const Root*, codec_error> verified_root(std::span<const std::uint8_t> bytes,
                                               bool (*verify)(flatbuffers::Verifier&),
                                               std::string_view what) {
    constexpr std::size_t prefix_size = sizeof(flatbuffers::uoffset_t);
    if (bytes.size() < prefix_size) {
        return failure(codec_errc::verification_failed,
                       std::to_string(bytes.size()) + " bytes cannot hold a size-prefixed " +
                           std::string(what));
    }
    if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
        return failure(codec_errc::verification_failed, "larger than a FlatBuffer can be");
    }
    flatbuffers::uoffset_t prefix = 0;
    std::memcpy(&prefix, bytes.data(), prefix_size);
    prefix = flatbuffers::EndianScalar(prefix);
    if (prefix != bytes.size() - prefix_size) {
        return failure(codec_errc::verification_failed,
                       "size prefix " + std::to_string(prefix) + " does not match the " +
                           std::to_string(bytes.size() - prefix_size) + " bytes that follow it");
    }
    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
    if (!verify(verifier)) {
        return failure(codec_errc::verification_failed,
                       "not a complete, well-formed size-prefixed " + std::string(what));
    }
    return flatbuffers::GetSizePrefixedRoot<Root>(bytes.data());
}

// The envelope of an event payload (aligned), once the verifier accepted it as `what`
// and its union holds `expected` - the member the event's type id names; otherwise
// verification_failed or type_mismatch. `aligned` must outlive the returned pointer.
template <class Envelope, class Tag>
result<const Envelope*, codec_error> verified_envelope(const aligned_bytes& aligned,
                                                       bool (*verify)(flatbuffers::Verifier&),
                                                       std::string_view what, std::uint16_t type,
                                                       Tag expected) {
    auto root = verified_root<Envelope>(aligned.bytes(), verify, what);
    if (!root) return root;
    if ((*root)->event_type() != expected) {
        return failure(codec_errc::type_mismatch,
                       "type id " + std::to_string(type) + " but the payload holds union member " +
                           std::to_string(static_cast<unsigned>((*root)->event_type())));
    }
    return root;
}

// ---- encode ----------------------------------------------------------------------

inline flatbuffers::Offset<flatbuffers::String> put(flatbuffers::FlatBufferBuilder& b,
                                                    std::string_view text) {
    return b.CreateString(text.data(), text.size());
}

// The empty currency (a default-constructed one) is the empty string.
inline flatbuffers::Offset<flatbuffers::String> put(flatbuffers::FlatBufferBuilder& b,
                                                    const domain::currency& c) {
    return put(b, c.empty() ? std::string_view{} : c.code());
}

// ---- decode: each reader returns the value or why it cannot, for the caller to
// prefix with the field's name ----------------------------------------------------

inline std::optional<std::string> text(const flatbuffers::String* s) {
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

inline result<domain::currency, std::string> currency_of(const flatbuffers::String* s) {
    if (s == nullptr) return fail(std::string("is missing"));
    auto currency = domain::currency::parse(std::string_view(s->c_str(), s->size()));
    if (!currency) return fail("is " + currency.error());
    return *currency;
}

// Any generated `table money { amount: long; currency: string; }`.
template <class Money>
result<domain::money, std::string> money_of(const Money* m) {
    if (m == nullptr) return fail(std::string("is missing"));
    if (m->amount() < 0) return fail(std::string("is negative"));
    auto currency = currency_of(m->currency());
    if (!currency) return fail("currency " + currency.error());
    return domain::money{m->amount(), *currency};
}

// Any generated `table actor { id: string; role: ubyte; }`.
template <class Actor>
result<domain::actor, std::string> actor_of(const Actor* a) {
    if (a == nullptr || a->id() == nullptr) return fail(std::string("is missing"));
    if (a->role() > static_cast<std::uint8_t>(domain::role::system)) {
        return fail("has unknown role " + std::to_string(a->role()));
    }
    return domain::actor{a->id()->str(), static_cast<domain::role>(a->role())};
}

// ---- decode for state snapshots, where a field may still hold its initial value -------

// An id field of a state: present, and either empty (not set yet) or a valid id.
template <class Id>
result<Id, std::string> id_or_empty(const flatbuffers::String* s) {
    if (s != nullptr && s->size() == 0) return Id{};
    return id_of<Id>(s);
}

// A currency of a state: present, and either "" (not set yet) or an active code.
inline result<domain::currency, std::string> currency_or_empty(const flatbuffers::String* s) {
    if (s != nullptr && s->size() == 0) return domain::currency{};
    return currency_of(s);
}

// Money of a state: present, and either {0, ""} (not set yet) or valid money.
template <class Money>
result<domain::money, std::string> money_or_initial(const Money* m) {
    if (m != nullptr && m->amount() == 0 && m->currency() != nullptr && m->currency()->size() == 0)
        return domain::money{};
    return money_of(m);
}

// For static_asserts that a storage enum mirrors the domain's value for value.
template <class A, class B>
constexpr bool same_value(A a, B b) {
    return static_cast<unsigned>(a) == static_cast<unsigned>(b);
}

// ---- the codec skeleton ------------------------------------------------------------
//
// A context's codec describes its schemas in one struct and keeps only its mapping:
//
//   struct schema {
//       using event = domain::<ctx>::event;           // the std::variant of its events
//       using envelope = fb::envelope;
//       using tables = std::tuple<fb::<event>...>;    // each event's table, in variant order
//       template <class Table> static constexpr auto tag = fb::eventTraits<Table>::enum_value;
//       static constexpr std::string_view context = "<ctx>";
//       static constexpr std::string_view envelope_name = "<ctx> envelope (\"SS..\")";
//       static constexpr auto create_envelope = &fb::Createenvelope;
//       static constexpr auto finish_envelope = &fb::FinishSizePrefixedenvelopeBuffer;
//       static constexpr auto verify_envelope = &fb::VerifySizePrefixedenvelopeBuffer;
//
//       using state = domain::<ctx>::state;
//       using snapshot = fbs::snapshot;
//       static constexpr std::string_view snapshot_name = "<ctx> snapshot (\"SS..\")";
//       static constexpr auto initial_state = &domain::<ctx>::initial_state;
//       static constexpr auto finish_snapshot = &fbs::FinishSizePrefixedsnapshotBuffer;
//       static constexpr auto verify_snapshot = &fbs::VerifySizePrefixedsnapshotBuffer;
//   };
//
// The mapping comes in as callables: put(builder, event) → Offset<its table> and
// read(table) → decoded<event> (generic lambdas over the codec's overloads), build(builder)
// → Offset<snapshot> and read_state(snapshot) → decoded<state>.

namespace detail {

template <class T, class Variant>
struct alternative_index;

template <class T, class... Ts>
struct alternative_index<T, std::variant<Ts...>> {
    static constexpr std::size_t value = [] {
        constexpr bool same[] = {std::is_same_v<T, Ts>...};
        for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
            if (same[i]) return i;
        }
        return sizeof...(Ts);
    }();
};

template <class... Events>
constexpr bool distinct_type_ids(std::type_identity<std::variant<Events...>>) {
    constexpr std::uint16_t ids[] = {Events::type_id...};
    for (std::size_t i = 0; i < sizeof...(Events); ++i) {
        for (std::size_t j = i + 1; j < sizeof...(Events); ++j) {
            if (ids[i] == ids[j]) return false;
        }
    }
    return true;
}

template <class Schema>
constexpr void check_schema() {
    using event = typename Schema::event;
    static_assert(std::tuple_size_v<typename Schema::tables> == std::variant_size_v<event>,
                  "every event needs its table, in the order of the event variant");
    static_assert(distinct_type_ids(std::type_identity<event>{}), "two events share a type id");
}

inline std::vector<std::uint8_t> finished_bytes(const flatbuffers::FlatBufferBuilder& b) {
    const std::uint8_t* data = b.GetBufferPointer();
    return std::vector<std::uint8_t>(data, data + b.GetSize());
}

// The event of variant alternative I, from a payload whose type id is I's.
template <class Schema, std::size_t I, class Read>
decoded<typename Schema::event> decode_as(std::uint16_t type, std::uint16_t schema_version,
                                          std::span<const std::uint8_t> payload, Read& read) {
    using event_type = std::variant_alternative_t<I, typename Schema::event>;
    using table = std::tuple_element_t<I, typename Schema::tables>;
    if (schema_version != event_type::schema_version) {
        return failure(codec_errc::unsupported_version,
                       std::string(Schema::context) + " event type " + std::to_string(type) +
                           " schema version " + std::to_string(schema_version) +
                           " is not readable by this build");
    }
    const aligned_bytes aligned(payload);
    const auto opened = verified_envelope<typename Schema::envelope>(
        aligned, Schema::verify_envelope, Schema::envelope_name, type, Schema::template tag<table>);
    if (!opened) return std::unexpected(opened.error());
    // The union says which table it holds; the body may still be absent (the verifier
    // accepts a missing union value).
    const table* body = (*opened)->template event_as<table>();
    if (body == nullptr) return invalid("the envelope holds no event body");
    return read(*body);
}

}  // namespace detail

// (type id, schema version, a size-prefixed envelope with the schema's identifier).
template <class Schema, class Put>
encoded_event encode_event(const typename Schema::event& e, Put put) {
    detail::check_schema<Schema>();
    flatbuffers::FlatBufferBuilder b(256);
    return std::visit(
        [&](const auto& ev) {
            using event_type = std::decay_t<decltype(ev)>;
            using table = std::tuple_element_t<detail::alternative_index<event_type, typename Schema::event>::value,
                                               typename Schema::tables>;
            static_assert(std::is_same_v<decltype(put(b, ev)), flatbuffers::Offset<table>>,
                          "put() must write the table the schema pairs with this event");
            const auto body = put(b, ev);
            Schema::finish_envelope(b, Schema::create_envelope(b, Schema::template tag<table>, body.Union()));
            return encoded_event{event_type::type_id, event_type::schema_version, detail::finished_bytes(b)};
        },
        e);
}

// Errors in this order: unknown_type, unsupported_version, verification_failed,
// type_mismatch, then invalid_value (no body, or what `read` refuses).
template <class Schema, class Read>
decoded<typename Schema::event> decode_event(std::uint16_t type, std::uint16_t schema_version,
                                             std::span<const std::uint8_t> payload, Read read) {
    detail::check_schema<Schema>();
    using event = typename Schema::event;
    std::optional<decoded<event>> out;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (void)((std::variant_alternative_t<I, event>::type_id == type &&
                (out.emplace(detail::decode_as<Schema, I>(type, schema_version, payload, read)), true)) ||
               ...);
    }(std::make_index_sequence<std::variant_size_v<event>>{});
    if (out) return std::move(*out);
    return failure(codec_errc::unknown_type,
                   "no " + std::string(Schema::context) + " event has type id " + std::to_string(type));
}

// Empty bytes for the initial state, else a size-prefixed snapshot with the schema's
// identifier; `size_hint` is enough for the whole buffer, so the builder allocates once.
template <class Schema, class Build>
std::vector<std::uint8_t> encode_snapshot(const typename Schema::state& s, std::size_t size_hint, Build build) {
    if (s == Schema::initial_state()) return {};
    flatbuffers::FlatBufferBuilder b(size_hint);
    Schema::finish_snapshot(b, build(b));
    return detail::finished_bytes(b);
}

// Empty bytes are the initial state; other bytes are verified, then read.
template <class Schema, class Read>
decoded<typename Schema::state> decode_snapshot(std::span<const std::uint8_t> bytes, Read read_state) {
    if (bytes.empty()) return Schema::initial_state();
    const aligned_bytes aligned(bytes);
    const auto root =
        verified_root<typename Schema::snapshot>(aligned.bytes(), Schema::verify_snapshot, Schema::snapshot_name);
    if (!root) return std::unexpected(root.error());
    return read_state(**root);
}

}  // namespace shopstream::eventstore::fb_support
