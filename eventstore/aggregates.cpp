#include "eventstore/aggregates.hpp"

#include <array>

namespace shopstream::eventstore {
namespace {

template <class Variant, std::size_t N>
std::string_view name_by_index(const Variant& v, const std::array<std::string_view, N>& names) {
    static_assert(std::variant_size_v<Variant> == N, "one name per command alternative");
    return names[v.index()];
}

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

std::string_view order_aggregate::command_name(const command& c) {
    static constexpr std::array<std::string_view, 6> names = {
        "place_order", "cancel_order", "confirm_order", "reject_order", "record_payment_capture",
        "ship_order"};
    return name_by_index(c, names);
}

std::string_view payment_aggregate::command_name(const command& c) {
    static constexpr std::array<std::string_view, 5> names = {
        "request_payment", "record_authorization", "capture_payment", "void_payment",
        "refund_payment"};
    return name_by_index(c, names);
}

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

std::string_view review_aggregate::command_name(const command& c) {
    static constexpr std::array<std::string_view, 5> names = {
        "submit_review", "edit_review", "retract_review", "moderate_review", "vote_helpful"};
    return name_by_index(c, names);
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
