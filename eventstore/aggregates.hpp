#pragma once
// Binds each context's pure decider (domain/) to what the store needs to run it: the
// aggregate id a command addresses, names for record headers, and the event and state
// snapshot codecs. Generic code (the tail, command handling, replay) is written once
// against these traits:
//
//   struct X_aggregate {
//       using decider, state, command, event;
//       static constexpr context ctx;
//       static std::string aggregate_id(const command&);
//       static std::string_view command_name(const command&);
//       static std::string_view event_name(const event&);
//       static encoded_event encode_event(const event&);
//       static decoded<event> decode_event(type, schema_version, payload);
//       static std::vector<std::uint8_t> encode_state(const state&);
//       static decoded<state> decode_state(std::span<const std::uint8_t>);
//   };
//
// Pure functions; safe from any thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "domain/review/review.hpp"
#include "eventstore/codec/event_codec.hpp"
#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "eventstore/context.hpp"

namespace shopstream::eventstore {

namespace detail {
// Every command and event struct names itself (`static constexpr name`).
template <class Variant>
std::string_view name_of(const Variant& v) {
    return std::visit([](const auto& alternative) -> std::string_view { return alternative.name; }, v);
}
}  // namespace detail

struct order_aggregate {
    using decider = domain::order::decider;
    using state = domain::order::state;
    using command = domain::order::command;
    using event = domain::order::event;
    static constexpr context ctx = context::orders;

    static std::string aggregate_id(const command& c) {
        return std::visit([](const auto& cmd) { return cmd.id.value(); }, c);
    }
    static std::string_view command_name(const command& c) { return detail::name_of(c); }
    static std::string_view event_name(const event& e) { return detail::name_of(e); }
    static encoded_event encode_event(const event& e) { return order_codec::encode(e); }
    static decoded<event> decode_event(std::uint16_t type, std::uint16_t version,
                                       std::span<const std::uint8_t> payload) {
        return order_codec::decode(type, version, payload);
    }
    static std::vector<std::uint8_t> encode_state(const state& s) { return order_codec::encode_state(s); }
    static decoded<state> decode_state(std::span<const std::uint8_t> bytes) {
        return order_codec::decode_state(bytes);
    }
};

struct payment_aggregate {
    using decider = domain::payment::decider;
    using state = domain::payment::state;
    using command = domain::payment::command;
    using event = domain::payment::event;
    static constexpr context ctx = context::payments;

    static std::string aggregate_id(const command& c) {
        return std::visit([](const auto& cmd) { return cmd.id.value(); }, c);
    }
    static std::string_view command_name(const command& c) { return detail::name_of(c); }
    static std::string_view event_name(const event& e) { return detail::name_of(e); }
    static encoded_event encode_event(const event& e) { return payment_codec::encode(e); }
    static decoded<event> decode_event(std::uint16_t type, std::uint16_t version,
                                       std::span<const std::uint8_t> payload) {
        return payment_codec::decode(type, version, payload);
    }
    static std::vector<std::uint8_t> encode_state(const state& s) { return payment_codec::encode_state(s); }
    static decoded<state> decode_state(std::span<const std::uint8_t> bytes) {
        return payment_codec::decode_state(bytes);
    }
};

struct review_aggregate {
    using decider = domain::review::decider;
    using state = domain::review::state;
    using command = domain::review::command;
    using event = domain::review::event;
    static constexpr context ctx = context::reviews;

    static std::string aggregate_id(const command& c);
    static std::string_view command_name(const command& c) { return detail::name_of(c); }
    static std::string_view event_name(const event& e) { return detail::name_of(e); }
    static encoded_event encode_event(const event& e) { return review_codec::encode(e); }
    static decoded<event> decode_event(std::uint16_t type, std::uint16_t version,
                                       std::span<const std::uint8_t> payload) {
        return review_codec::decode(type, version, payload);
    }
    static std::vector<std::uint8_t> encode_state(const state& s) { return review_codec::encode_state(s); }
    static decoded<state> decode_state(std::span<const std::uint8_t> bytes) {
        return review_codec::decode_state(bytes);
    }
};

// A context's state held decoded, type-erased over the contexts, so the tail can evolve
// one aggregate through several commits of a batch and encode its snapshot once at the
// end. That is the same as evolve_snapshot() per commit because the snapshot codecs
// guarantee decode_state(encode_state(s)) == s for every state evolve() can reach
// (state_snapshot_test).
class evolving_state {
public:
    // Fails when the snapshot cannot be decoded.
    [[nodiscard]] static result<evolving_state, codec_error> decode(context ctx,
                                                                    std::span<const std::uint8_t> snapshot);
    // Evolves with the events in order. Fails at the first event that cannot be decoded;
    // the state is then partly evolved and must be dropped (the tail stops).
    [[nodiscard]] result<void, codec_error> evolve(std::span<const encoded_event> events);
    [[nodiscard]] std::vector<std::uint8_t> encode() const;

private:
    using any_state = std::variant<order_aggregate::state, payment_aggregate::state, review_aggregate::state>;
    explicit evolving_state(any_state s) : state_(std::move(s)) {}
    any_state state_;
};

// The tail's type-erased step for an applied commit: decode the aggregate's snapshot,
// evolve it with the commit's events in order, encode it again. Fails when a snapshot
// or an event cannot be decoded (a record this build cannot read: the tail must stop
// rather than diverge from other readers).
[[nodiscard]] result<std::vector<std::uint8_t>, codec_error> evolve_snapshot(
    context ctx, std::span<const std::uint8_t> snapshot, std::span<const encoded_event> events);

}  // namespace shopstream::eventstore
