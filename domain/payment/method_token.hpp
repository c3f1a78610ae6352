#pragma once
// What a payment method token may be. A token is the gateway's opaque reference to a
// customer's payment method ("tok_visa"), never card data: the log keeps every command's
// fields forever (ARCHITECTURE.md: nothing is ever rewritten), so a card number that got
// into a commit could never be erased. Pure functions, safe from any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace shopstream::domain::payment {

// "tok_" and 1-252 characters from [A-Za-z0-9_-]; at most 256 in all, the bound
// request_payment puts on a method token.
inline constexpr std::string_view method_token_prefix = "tok_";
inline constexpr std::size_t max_token_length = 256;

// True when `text` holds a run of 13-19 digits, possibly broken by spaces or dashes
// ("4111 1111-1111 1111"), that passes the Luhn check: the shape of a payment card number.
// A longer or shorter run, or one failing Luhn, is not one.
[[nodiscard]] bool contains_card_number(std::string_view text) noexcept;

// Why `token` is not a well-formed method token, or nullopt when it is. A token that
// looks like a card number is refused as such before its form is judged, and the
// reason never repeats the token.
[[nodiscard]] std::optional<std::string> method_token_problem(std::string_view token);

}  // namespace shopstream::domain::payment
