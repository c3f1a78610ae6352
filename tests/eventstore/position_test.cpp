// Position tokens: parse_position reads exactly what to_string prints, so one position
// has one spelling (tests/fuzz/position checks the same on arbitrary text).
#include "eventstore/position.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>

namespace shopstream::eventstore {
namespace {

TEST(position_token, round_trips_through_to_string) {
    for (const position p : {position{0, 0}, position{7, 1234},
                             position{std::numeric_limits<std::int32_t>::max(),
                                      std::numeric_limits<std::int64_t>::max()}}) {
        EXPECT_EQ(parse_position(to_string(p)), p) << to_string(p);
    }
}

// Found by the fuzz target: "7:0617" and "0148:0" were read as 7:617 and 148:0.
TEST(position_token, only_the_canonical_spelling_parses) {
    for (const char* text : {"7:0617", "0148:0", "00:0", "0:00", "-0:0", "0:-0", "+1:2", "1:+2"}) {
        EXPECT_EQ(parse_position(text), std::nullopt) << text;
    }
}

TEST(position_token, anything_else_is_refused) {
    for (const char* text : {"", ":", "1:", ":1", "1:2:3", " 1:2", "1:2 ", "-1:5", "1:-5", "a:1",
                             "2147483648:0", "0:9223372036854775808", "1;2"}) {
        EXPECT_EQ(parse_position(text), std::nullopt) << text;
    }
}

}  // namespace
}  // namespace shopstream::eventstore
