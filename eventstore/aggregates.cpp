#include "eventstore/aggregates.hpp"

#include <array>
#include <type_traits>

namespace shopstream::eventstore {
namespace {

template <class Aggregate>
result<void, codec_error> evolve_in_place(typename Aggregate::state& state, std::span<const encoded_event> events,
                                          std::vector<member_entry>* members) {
    for (const auto& e : events) {
        auto decoded = Aggregate::decode_event(e.type, e.schema_version, e.payload);
        if (!decoded) return fail(std::move(decoded.error()));
        state = Aggregate::decider::evolve(std::move(state), *decoded);
        if constexpr (has_side_index<Aggregate>) {
            if (members != nullptr) {
                if (auto entry = Aggregate::member_written(state, *decoded)) members->push_back(std::move(*entry));
            }
        }
    }
    return {};
}

constexpr std::size_t generation_size = sizeof(std::uint64_t);

// The traits of the aggregate whose state alternative `State` is.
template <class State>
using aggregate_of = std::conditional_t<
    std::is_same_v<State, order_aggregate::state>, order_aggregate,
    std::conditional_t<std::is_same_v<State, payment_aggregate::state>, payment_aggregate, review_aggregate>>;

}  // namespace

std::string review_aggregate::aggregate_id(const command& c) {
    return std::visit(
        [](const auto& cmd) -> std::string {
            if constexpr (requires { cmd.id; }) {
                return cmd.id.value();
            } else {
                return domain::review::review_id_for(cmd.sku, cmd.customer).value();
            }
        },
        c);
}

std::optional<member_entry> review_aggregate::member_written(const state& after, const event& e) {
    const auto* vote = std::get_if<domain::review::review_marked_helpful>(&e);
    if (vote == nullptr) return std::nullopt;
    member_entry out{vote->voter.value(), std::string(generation_size, '\0')};
    for (std::size_t i = 0; i < generation_size; ++i) {
        out.value[i] = static_cast<char>(static_cast<std::uint8_t>(after.generation >> (8 * (generation_size - 1 - i))));
    }
    return out;
}

std::optional<std::string_view> review_aggregate::member_probe(const command& c) {
    const auto* vote = std::get_if<domain::review::vote_helpful>(&c);
    if (vote == nullptr || vote->by.role != domain::role::customer || !domain::is_valid_id(vote->by.id)) {
        return std::nullopt;
    }
    return std::string_view(vote->by.id);
}

std::optional<bool> review_aggregate::has_voted(const state& s, const std::optional<std::string>& entry) {
    if (!entry) return false;
    if (entry->size() != generation_size) return std::nullopt;
    std::uint64_t generation = 0;
    for (const char byte : *entry) generation = (generation << 8) | static_cast<std::uint8_t>(byte);
    return generation == s.generation;
}

bool review_aggregate::with_member(command& c, const state& s, const std::optional<std::string>& entry) {
    auto* vote = std::get_if<domain::review::vote_helpful>(&c);
    if (vote == nullptr) return true;
    const auto voted = has_voted(s, entry);
    if (!voted) return false;
    vote->already_voted = *voted;
    return true;
}

result<evolving_state, codec_error> evolving_state::decode(context ctx, std::span<const std::uint8_t> snapshot) {
    auto decode_as = [&]<class Aggregate>() -> result<evolving_state, codec_error> {
        auto state = Aggregate::decode_state(snapshot);
        if (!state) return fail(std::move(state.error()));
        return evolving_state(any_state(std::move(*state)));
    };
    switch (ctx) {
        case context::orders: return decode_as.template operator()<order_aggregate>();
        case context::payments: return decode_as.template operator()<payment_aggregate>();
        case context::reviews: return decode_as.template operator()<review_aggregate>();
    }
    return fail(codec_error{codec_errc::unknown_type, "unknown context"});
}

result<void, codec_error> evolving_state::evolve(std::span<const encoded_event> events,
                                                 std::vector<member_entry>* members) {
    return std::visit(
        [&](auto& state) {
            return evolve_in_place<aggregate_of<std::decay_t<decltype(state)>>>(state, events, members);
        },
        state_);
}

std::vector<std::uint8_t> evolving_state::encode() const {
    return std::visit(
        [](const auto& state) { return aggregate_of<std::decay_t<decltype(state)>>::encode_state(state); }, state_);
}

result<std::vector<std::uint8_t>, codec_error> evolve_snapshot(context ctx,
                                                               std::span<const std::uint8_t> snapshot,
                                                               std::span<const encoded_event> events) {
    auto state = evolving_state::decode(ctx, snapshot);
    if (!state) return fail(std::move(state.error()));
    if (auto r = state->evolve(events); !r) return fail(std::move(r.error()));
    return state->encode();
}

}  // namespace shopstream::eventstore
