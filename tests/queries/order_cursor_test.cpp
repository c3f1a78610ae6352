// The order list's `after` cursor (queries/order_cursor.hpp): it round-trips, and an
// edited cursor, one of another customer or key, or one that is not base64url of its
// shape is refused naming `after`.

#include <gtest/gtest.h>

#include "queries/order_cursor.hpp"

namespace shopstream::queries {
namespace {

using namespace std::string_view_literals;

constexpr std::string_view key = "0123456789abcdef-test-key";

void expect_refused(const result<list_position, error>& decoded, std::string_view why) {
    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error().code, errc::invalid_argument);
    EXPECT_EQ(decoded.error().message.rfind("after: ", 0), 0U) << decoded.error();
    EXPECT_NE(decoded.error().message.find(why), std::string::npos) << decoded.error();
}

TEST(order_cursor, round_trips_a_position_and_is_url_safe) {
    for (const list_position& at : {list_position{0, "o"}, list_position{1'764'547'200'123, "o-1:a.b_c"},
                                   list_position{253'402'300'799'999, std::string(128, 'z')}}) {
        const std::string token = encode_cursor(key, "c-1", at);
        EXPECT_EQ(token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                  std::string::npos) << token;
        auto decoded = decode_cursor(key, "c-1", token);
        ASSERT_TRUE(decoded.has_value()) << decoded.error();
        EXPECT_EQ(*decoded, at);
    }
}

TEST(order_cursor, a_cursor_of_another_customer_or_key_is_refused) {
    const std::string token = encode_cursor(key, "c-1", {1000, "o-1"});
    expect_refused(decode_cursor(key, "c-2", token), "not a cursor of this customer's list");
    expect_refused(decode_cursor(key, "c-1x", token), "not a cursor of this customer's list");
    expect_refused(decode_cursor("another key of 16 bytes", "c-1", token), "not a cursor of this customer's list");
    // The customer is length-prefixed: moving bytes between customer and id does not help.
    const std::string shifted = encode_cursor(key, "c-", {1000, "1o-1"});
    expect_refused(decode_cursor(key, "c-1", shifted), "not a cursor of this customer's list");
}

TEST(order_cursor, every_edit_of_a_cursor_is_refused) {
    const std::string token = encode_cursor(key, "c-1", {1'764'547'200'123, "o-1"});
    for (std::size_t i = 0; i < token.size(); ++i) {
        std::string edited = token;
        edited[i] = edited[i] == 'A' ? 'B' : 'A';
        const auto decoded = decode_cursor(key, "c-1", edited);
        EXPECT_FALSE(decoded.has_value()) << "an edit at " << i << " was taken: " << edited;
    }
    expect_refused(decode_cursor(key, "c-1", token.substr(0, token.size() - 1)), "after: ");
    expect_refused(decode_cursor(key, "c-1", token + "A"), "after: ");
}

TEST(order_cursor, what_is_not_a_cursor_is_refused) {
    for (const std::string_view bad : {""sv, "not base64!"sv, "AAAA"sv, "===="sv, "a+b/"sv, "AAAA\0AAA"sv}) {
        expect_refused(decode_cursor(key, "c-1", bad), "not a cursor this server issued");
    }
    expect_refused(decode_cursor(key, "c-1", std::string(1000, 'A')), "too long");
}

}  // namespace
}  // namespace shopstream::queries
