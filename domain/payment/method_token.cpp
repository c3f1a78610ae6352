#include "domain/payment/method_token.hpp"

#include <algorithm>

namespace shopstream::domain::payment {
namespace {

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

bool is_separator(char c) noexcept {
    return c == ' ' || c == '-';
}

bool passes_luhn(std::string_view digits) noexcept {
    int sum = 0;
    bool twice = false;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        int d = *it - '0';
        if (twice) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
        twice = !twice;
    }
    return sum % 10 == 0;
}

bool is_token_char(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

}  // namespace

bool contains_card_number(std::string_view text) noexcept {
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_digit(text[i])) {
            ++i;
            continue;
        }
        // A run starts and ends on a digit; separators count only between digits.
        char digits[20];
        std::size_t n = 0;
        std::size_t end = i;
        for (std::size_t j = i; j < text.size() && (is_digit(text[j]) || is_separator(text[j])); ++j) {
            if (!is_digit(text[j])) continue;
            if (n < sizeof digits) digits[n] = text[j];
            ++n;
            end = j + 1;
        }
        if (n >= 13 && n <= 19 && passes_luhn({digits, n})) return true;
        i = end;
    }
    return false;
}

std::optional<std::string> method_token_problem(std::string_view token) {
    if (contains_card_number(token)) {
        return "this looks like a payment card number (13-19 digits passing the Luhn check); "
               "send the payment provider's token for the card instead, never card data: "
               "orders are kept forever";
    }
    const auto rest = token.substr(std::min(token.size(), method_token_prefix.size()));
    if (!token.starts_with(method_token_prefix) || rest.empty() || token.size() > max_token_length ||
        !std::all_of(rest.begin(), rest.end(), is_token_char)) {
        return "a payment method token is 'tok_' and 1-252 characters from [A-Za-z0-9_-]";
    }
    return std::nullopt;
}

}  // namespace shopstream::domain::payment
