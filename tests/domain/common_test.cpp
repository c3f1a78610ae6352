// The shared vocabulary: currencies, money arithmetic, sku and id syntax, UTF-8.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "base/utf8.hpp"
#include "domain/common.hpp"

namespace shopstream::domain {
namespace {

TEST(currency, accepts_active_iso4217_codes) {
    for (const char* code : {"EUR", "USD", "JPY", "CHF", "AED", "ZWG"}) {
        auto c = currency::parse(code);
        ASSERT_TRUE(c.has_value()) << code;
        EXPECT_EQ(c->code(), code);
    }
}

TEST(currency, rejects_unknown_lowercase_and_withdrawn_codes) {
    for (const char* code : {"", "EU", "EURO", "eur", "XXX", "DEM", "HRK", "ABC", "E1R"}) {
        auto c = currency::parse(code);
        EXPECT_FALSE(c.has_value()) << code;
        if (!c) {
            EXPECT_NE(c.error().find("ISO 4217"), std::string::npos);
        }
    }
}

TEST(currency, equality_is_by_code) {
    EXPECT_EQ(*currency::parse("EUR"), *currency::parse("EUR"));
    EXPECT_FALSE(*currency::parse("EUR") == *currency::parse("USD"));
    EXPECT_TRUE(currency{}.empty());
}

TEST(checked_arithmetic, detects_overflow) {
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(checked_add(2, 3), 5);
    EXPECT_EQ(checked_add(max, 1), std::nullopt);
    EXPECT_EQ(checked_mul(10'000, 1'000'000'000), 10'000'000'000'000);
    EXPECT_EQ(checked_mul(max / 2 + 1, 2), std::nullopt);
}

TEST(sku, syntax) {
    EXPECT_TRUE(is_valid_sku("A"));
    EXPECT_TRUE(is_valid_sku("book-978.3_16"));
    EXPECT_TRUE(is_valid_sku(std::string(64, 'x')));
    EXPECT_FALSE(is_valid_sku(""));
    EXPECT_FALSE(is_valid_sku(std::string(65, 'x')));
    EXPECT_FALSE(is_valid_sku("-leading-dash"));
    EXPECT_FALSE(is_valid_sku("has/slash"));
    EXPECT_FALSE(is_valid_sku("has space"));
    EXPECT_FALSE(is_valid_sku("tilde~x"));
    EXPECT_FALSE(is_valid_sku("caf\xc3\xa9"));
}

TEST(id, syntax) {
    EXPECT_TRUE(is_valid_id("ord-01HZX:9"));
    EXPECT_TRUE(is_valid_id(std::string(128, 'a')));
    EXPECT_FALSE(is_valid_id(""));
    EXPECT_FALSE(is_valid_id(std::string(129, 'a')));
    EXPECT_FALSE(is_valid_id("a/b"));
    EXPECT_FALSE(is_valid_id("a~b"));
}

TEST(utf8, counts_code_points_of_valid_text) {
    EXPECT_EQ(utf8::count_code_points(""), 0U);
    EXPECT_EQ(utf8::count_code_points("abc"), 3U);
    EXPECT_EQ(utf8::count_code_points("caf\xc3\xa9"), 4U);               // é
    EXPECT_EQ(utf8::count_code_points("\xe2\x82\xac"), 1U);              // €
    EXPECT_EQ(utf8::count_code_points("\xf0\x9f\x98\x80"), 1U);          // 😀
    EXPECT_EQ(utf8::count_code_points("\xf4\x8f\xbf\xbf"), 1U);          // U+10FFFF
    EXPECT_EQ(utf8::count_code_points(std::string("a\0b", 3)), 3U);     // NUL is a code point
}

TEST(utf8, rejects_malformed_sequences) {
    for (const char* bad : {
             "\x80",                  // lone continuation
             "\xc3",                  // truncated 2-byte
             "\xc0\xaf",              // overlong '/'
             "\xc1\xbf",              // overlong
             "\xe0\x80\xaf",          // overlong 3-byte
             "\xed\xa0\x80",          // surrogate U+D800
             "\xe2\x82",              // truncated 3-byte
             "\xf0\x80\x80\xaf",      // overlong 4-byte
             "\xf4\x90\x80\x80",      // past U+10FFFF
             "\xf5\x80\x80\x80",      // invalid lead
             "\xff",                  // invalid byte
             "ok\xe2\x28\xa1",        // bad continuation mid-string
         }) {
        EXPECT_FALSE(utf8::is_valid(bad)) << ::testing::PrintToString(std::string(bad));
    }
}

}  // namespace
}  // namespace shopstream::domain
