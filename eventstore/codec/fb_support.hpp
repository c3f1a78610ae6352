#pragma once
// Internal to eventstore/codec: the pieces the FlatBuffers codecs of this folder share —
// error values, the aligned copy, verification of a size-prefixed buffer, and readers
// for the fields every context has (ids, currencies, money, actors). Readers are
// templates over the generated table type, so each schema keeps its own `money` and
// `actor` tables (wire and storage formats evolve apart) while the checks stay in one
// place. Not included by any public header. Pure functions, safe from any thread.

#include <flatbuffers/flatbuffers.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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

}  // namespace shopstream::eventstore::fb_support
