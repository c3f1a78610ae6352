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
//
//       // Optional: a side index (has_side_index below), for a rule that needs a set too
//       // large to keep in the state.
//       static std::optional<member_entry> member_written(const state& after, const event&);
//       static std::optional<std::string_view> member_probe(const command&);
//       static bool with_member(command&, const state&, const std::optional<std::string>& value);
//   };
//
// Pure functions; safe from any thread.
//
// ---- side indexes ------------------------------------------------------------------
// The state store keeps, beside an aggregate's state, a map member -> value that its
// applied events write (state_store's "members" database). It is derived from the log
// exactly as the state is: the tail's batch applier writes the entries an applied event
// names (member_written, given the state after that event) in the same LMDB write
// transaction as the state, so index and state never disagree and a rebuild from the
// log recreates both. The command handler reads the entry a command needs
// (member_probe) in the same read transaction as the state, and folds what it found
// into the command (with_member) before the pure decider sees it; a commit decided on
// that read applies only at the version it was read at (the apply rule), so a stale
// read can only lose, never count twice.
//
// The review's voter index is the one use (issue 9, "votes at a flat cost"): member =
// voter id, value = the review generation the voter last voted in (8 bytes, big-endian),
// so a vote costs one B-tree lookup and one put whatever the number of votes before it,
// and the state record stays the same size. Keyed by voter rather than by (generation,
// voter) so the probe needs no decoded state (it runs in the state's read transaction)
// and a resubmitted review's new votes overwrite the old generation's entries instead
// of leaving them behind: the index holds one entry per customer who ever voted.

#include <concepts>
#include <cstdint>
#include <optional>
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
#include "eventstore/state_store.hpp"

namespace shopstream::eventstore {

// member_entry (eventstore/state_store.hpp): one side-index entry an applied event writes.
template <class Aggregate>
concept has_side_index = requires(const typename Aggregate::state& s, const typename Aggregate::event& e,
                                  typename Aggregate::command& c, const std::optional<std::string>& v) {
    { Aggregate::member_written(s, e) } -> std::same_as<std::optional<member_entry>>;
    { Aggregate::member_probe(c) } -> std::same_as<std::optional<std::string_view>>;
    { Aggregate::with_member(c, s, v) } -> std::same_as<bool>;
};

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

    // The voter index (see "side indexes" above).
    // review_marked_helpful: (voter, the generation it was cast in).
    static std::optional<member_entry> member_written(const state& after, const event& e);
    // vote_helpful: its voter, when the voter's id is one the decider accepts (it refuses
    // the others without needing the index).
    static std::optional<std::string_view> member_probe(const command& c);
    // Sets vote_helpful::already_voted from the voter's entry (nullopt: none); false when
    // the entry is not a generation (a corrupt store).
    static bool with_member(command& c, const state& s, const std::optional<std::string>& entry);
    // Whether the voter whose index entry is `entry` (nullopt: none) has voted in `s`'s
    // generation; nullopt when the entry is not a generation (a corrupt store).
    static std::optional<bool> has_voted(const state& s, const std::optional<std::string>& entry);
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
    // Evolves with the events in order, appending to `members` (when given) the side-index
    // entries they write, in order. Fails at the first event that cannot be decoded; the
    // state is then partly evolved and must be dropped (the tail stops).
    [[nodiscard]] result<void, codec_error> evolve(std::span<const encoded_event> events,
                                                   std::vector<member_entry>* members = nullptr);
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
