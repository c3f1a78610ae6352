// base/utf8, the project's one UTF-8 validator: where the first ill-formed sequence
// starts, at every boundary RFC 3629 draws (overlong forms, surrogates, U+10FFFF,
// truncation at the end), and code point counts.
#include "base/utf8.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace shopstream::utf8 {
namespace {

using cases = std::vector<std::pair<std::string, std::size_t>>;

void expect_first_invalid_at(const cases& all) {
    for (const auto& [text, offset] : all) {
        EXPECT_EQ(first_invalid(text), offset) << ::testing::PrintToString(text);
        EXPECT_FALSE(is_valid(text)) << ::testing::PrintToString(text);
        EXPECT_EQ(count_code_points(text), std::nullopt) << ::testing::PrintToString(text);
    }
}

TEST(utf8_first_invalid, overlong_encodings_at_each_length) {
    expect_first_invalid_at({
        {"\xc0\x80", 0},              // U+0000 in 2 bytes
        {"\xc0\xaf", 0},              // '/' in 2 bytes
        {"\xc1\xbf", 0},              // U+007F in 2 bytes
        {"\xe0\x80\x80", 0},          // U+0000 in 3 bytes
        {"\xe0\x9f\xbf", 0},          // U+07FF in 3 bytes
        {"\xf0\x80\x80\x80", 0},      // U+0000 in 4 bytes
        {"\xf0\x8f\xbf\xbf", 0},      // U+FFFF in 4 bytes
        {"ab\xc0\xaf", 2},            // after ASCII
        {"\xc3\xa9\xe0\x80\xaf", 2},  // after a 2-byte code point
    });
}

TEST(utf8_first_invalid, surrogates_encoded_as_utf8) {
    expect_first_invalid_at({
        {"\xed\xa0\x80", 0},                      // U+D800, the first high surrogate
        {"\xed\xaf\xbf", 0},                      // U+DBFF
        {"\xed\xb0\x80", 0},                      // U+DC00, the first low surrogate
        {"\xed\xbf\xbf", 0},                      // U+DFFF
        {"\xed\xa0\xbd\xed\xb8\x80", 0},          // a CESU-8 surrogate pair
        {"\xe2\x82\xac\xed\xa0\x80", 3},          // after a 3-byte code point
    });
    EXPECT_EQ(first_invalid("\xed\x9f\xbf"), std::nullopt);  // U+D7FF, just below
    EXPECT_EQ(first_invalid("\xee\x80\x80"), std::nullopt);  // U+E000, just above
}

TEST(utf8_first_invalid, code_points_past_u10ffff) {
    expect_first_invalid_at({
        {"\xf4\x90\x80\x80", 0},           // U+110000
        {"\xf4\xbf\xbf\xbf", 0},           // U+13FFFF
        {"\xf5\x80\x80\x80", 0},           // a lead that only ever starts > U+10FFFF
        {"\xf7\xbf\xbf\xbf", 0},           // U+1FFFFF
        {"\xf8\x88\x80\x80\x80", 0},       // the old 5-byte form
        {"\xfc\x84\x80\x80\x80\x80", 0},   // the old 6-byte form
        {"\xf0\x9f\x98\x80\xf4\x90\x80\x80", 4},
    });
    EXPECT_EQ(first_invalid("\xf4\x8f\xbf\xbf"), std::nullopt);  // U+10FFFF itself
}

TEST(utf8_first_invalid, sequences_truncated_at_the_end) {
    expect_first_invalid_at({
        {"\xc3", 0},
        {"\xe2", 0},
        {"\xe2\x82", 0},
        {"\xf0", 0},
        {"\xf0\x9f", 0},
        {"\xf0\x9f\x98", 0},
        {"abc\xe2\x82", 3},
        {"\xc3\xa9\xf0\x9f\x98", 2},
    });
}

TEST(utf8_first_invalid, stray_bytes_and_broken_continuations) {
    expect_first_invalid_at({
        {"\x80", 0},                // a continuation first
        {"a\xbf", 1},
        {"\xc3\xa9\x80", 2},        // one continuation too many
        {"\xc3\x28", 0},            // the continuation is ASCII
        {"ok\xe2\x28\xa1", 2},
        {"\xf0\x9f\x28\x80", 0},
        {"\xfe", 0},
        {"\xff", 0},
    });
}

TEST(utf8_first_invalid, valid_text_at_each_boundary) {
    for (const std::string& text : {
             std::string(), std::string("a\0b", 3),  // NUL is a code point
             std::string("\x7f"),                    // U+007F
             std::string("\xc2\x80"),                // U+0080
             std::string("\xdf\xbf"),                // U+07FF
             std::string("\xe0\xa0\x80"),            // U+0800
             std::string("\xef\xbf\xbf"),            // U+FFFF
             std::string("\xf0\x90\x80\x80"),        // U+10000
             std::string("\xef\xbb\xbf" "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
         }) {
        EXPECT_EQ(first_invalid(text), std::nullopt) << ::testing::PrintToString(text);
        EXPECT_TRUE(is_valid(text)) << ::testing::PrintToString(text);
    }
}

TEST(utf8_count_code_points, counts_one_per_code_point_whatever_its_length) {
    EXPECT_EQ(count_code_points("\xc2\x80\xdf\xbf"), 2U);
    EXPECT_EQ(count_code_points("\xe0\xa0\x80\xef\xbf\xbf"), 2U);
    EXPECT_EQ(count_code_points("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"), 2U);
    EXPECT_EQ(count_code_points("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), 4U);
    EXPECT_EQ(count_code_points(std::string(1000, 'x') + "\xc3\xa9"), 1001U);
}

}  // namespace
}  // namespace shopstream::utf8

namespace shopstream::utf8 {
namespace {

TEST(utf8_with_replacement, valid_text_comes_back_unchanged) {
    EXPECT_EQ(with_replacement(""), "");
    EXPECT_EQ(with_replacement("plain"), "plain");
    EXPECT_EQ(with_replacement("Sch\u00f6n \U0001F600"), "Sch\u00f6n \U0001F600");
}

TEST(utf8_with_replacement, each_ill_formed_sequence_becomes_u_fffd) {
    EXPECT_EQ(with_replacement("a\xff" "b"), "a\uFFFD" "b");
    EXPECT_EQ(with_replacement("\xc0\xaf"), "\uFFFD");  // an overlong "/": one sequence, one U+FFFD
    EXPECT_EQ(with_replacement("x\xe2\x82"), "x\uFFFD");  // truncated at the end
    EXPECT_EQ(with_replacement("\xed\xa0\x80!"), "\uFFFD!");  // a surrogate
    EXPECT_TRUE(is_valid(with_replacement("\xf5\x80\x80\x80\xfe")));
}

}  // namespace
}  // namespace shopstream::utf8
