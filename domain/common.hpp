#pragma once
// Vocabulary shared by every aggregate: who acts, when, with what money, and how a
// decider says no. Pure values: no I/O, clock or randomness; time and ids arrive with
// the command. Everything here is thread-compatible.
//
// The decider contract (ARCHITECTURE.md decision 1). Each aggregate namespace
// (order, payment, review) provides
//     state initial_state();
//     decision<event> decide(const command&, const state&);
//     state evolve(state, const event&);
// and a `decider` struct naming those three and the types, so generic code (the
// event store, tests) can work with any aggregate. An empty vector of events from
// decide() is an idempotent repeat: the command is accepted and changes nothing.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "base/strong_id.hpp"

namespace shopstream::domain {

// Milliseconds since the Unix epoch, UTC; always supplied by the caller.
using timestamp_ms = std::int64_t;

struct customer_tag;
struct command_tag;
struct order_tag;
struct payment_tag;
struct review_tag;
using customer_id = strong_id<customer_tag>;
using command_id = strong_id<command_tag>;
using order_id = strong_id<order_tag>;
using payment_id = strong_id<payment_tag>;
using review_id = strong_id<review_tag>;

// Reaches the wire: explicit underlying type, values only ever appended.
enum class role : std::uint8_t {
    customer = 0,
    admin = 1,
    system = 2,  // the saga and the payment gateway worker
};

struct actor {
    std::string id;  // the customer id for customers, a service name for system actors
    domain::role role = role::customer;

    [[nodiscard]] bool is_admin() const noexcept { return role == role::admin; }
    [[nodiscard]] bool is_system() const noexcept { return role == role::system; }
    [[nodiscard]] bool is(const customer_id& c) const noexcept {
        return role == role::customer && id == c.value();
    }
    friend bool operator==(const actor&, const actor&) = default;
};

// Why a command was refused. The HTTP layer maps the code to a status:
// invalid → 422, forbidden → 403, not_found → 404, conflict → 409,
// precondition_failed → 412 (an expected version that moved).
enum class rejection_code : std::uint8_t {
    invalid = 0,
    forbidden = 1,
    not_found = 2,
    conflict = 3,
    precondition_failed = 4,
};

struct rejection {
    rejection_code code = rejection_code::invalid;
    // JSON pointer into the command of the offending field ("/lines/2/quantity"),
    // empty when the rejection is about the state rather than one field.
    std::string field;
    std::string reason;  // for humans

    friend bool operator==(const rejection&, const rejection&) = default;
};

template <class Event>
using decision = result<std::vector<Event>, rejection>;

[[nodiscard]] inline std::unexpected<rejection> reject(rejection_code code, std::string field,
                                                       std::string reason) {
    return std::unexpected<rejection>(rejection{code, std::move(field), std::move(reason)});
}

// ISO 4217 alphabetic code of an active currency ("EUR").
class currency {
public:
    currency() = default;
    // Fails with a reason when `code` is not an active ISO 4217 alphabetic code.
    [[nodiscard]] static result<currency, std::string> parse(std::string_view code);

    [[nodiscard]] std::string_view code() const noexcept { return {code_, 3}; }
    [[nodiscard]] bool empty() const noexcept { return code_[0] == '\0'; }

    friend bool operator==(const currency& a, const currency& b) noexcept {
        return a.code() == b.code();
    }

private:
    char code_[4] = {0, 0, 0, 0};
};

// Integer minor units plus currency (decision 8): never floating point.
struct money {
    std::int64_t amount = 0;
    domain::currency currency;

    friend bool operator==(const money&, const money&) = default;
};

// Checked arithmetic for totals: nullopt on overflow.
[[nodiscard]] std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) noexcept;
[[nodiscard]] std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) noexcept;

// A product's stock-keeping unit as it appears in URLs: 1–64 characters from
// [A-Za-z0-9._-], starting with a letter or digit.
[[nodiscard]] bool is_valid_sku(std::string_view sku) noexcept;

// Ids that arrive with commands (order, payment, customer, command ids): 1–128
// characters from [A-Za-z0-9._:-].
[[nodiscard]] bool is_valid_id(std::string_view id) noexcept;

}  // namespace shopstream::domain
