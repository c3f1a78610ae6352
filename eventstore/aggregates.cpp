#include "eventstore/aggregates.hpp"

#include <array>

namespace shopstream::eventstore {
namespace {

template <class Aggregate>
result<std::vector<std::uint8_t>, codec_error> evolve_with(std::span<const std::uint8_t> snapshot,
                                                           std::span<const encoded_event> events) {
    auto state = Aggregate::decode_state(snapshot);
    if (!state) return fail(std::move(state.error()));
    for (const auto& e : events) {
        auto decoded = Aggregate::decode_event(e.type, e.schema_version, e.payload);
        if (!decoded) return fail(std::move(decoded.error()));
        *state = Aggregate::decider::evolve(std::move(*state), *decoded);
    }
    return Aggregate::encode_state(*state);
}

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


result<std::vector<std::uint8_t>, codec_error> evolve_snapshot(context ctx,
                                                               std::span<const std::uint8_t> snapshot,
                                                               std::span<const encoded_event> events) {
    switch (ctx) {
        case context::orders: return evolve_with<order_aggregate>(snapshot, events);
        case context::payments: return evolve_with<payment_aggregate>(snapshot, events);
        case context::reviews: return evolve_with<review_aggregate>(snapshot, events);
    }
    return fail(codec_error{codec_errc::unknown_type, "unknown context"});
}

}  // namespace shopstream::eventstore
