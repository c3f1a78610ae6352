// Position tokens: parse_position reads exactly what to_string prints, so one position
// has one spelling (tests/fuzz/position checks the same on arbitrary text). Partition and
// offset are distinct types (tests/eventstore/position_mixups_do_not_compile.cmake runs the
// compiler on the mix-ups themselves).
#include "eventstore/position.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include "eventstore/log_ports.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::eventstore {
namespace {

TEST(position_token, round_trips_through_to_string) {
    for (const position p : {position{partition_id(0), log_offset(0)}, position{partition_id(7), log_offset(1234)},
                             position{partition_id(std::numeric_limits<std::int32_t>::max()),
                                      log_offset(std::numeric_limits<std::int64_t>::max())}}) {
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

// Neither converts to the other, nor to or from its bare integer.
static_assert(!std::is_convertible_v<log_offset, partition_id>);
static_assert(!std::is_convertible_v<partition_id, log_offset>);
static_assert(!std::is_constructible_v<partition_id, log_offset>);
static_assert(!std::is_constructible_v<log_offset, partition_id>);
static_assert(!std::is_convertible_v<std::int32_t, partition_id>);
static_assert(!std::is_convertible_v<std::int64_t, log_offset>);
static_assert(!std::is_convertible_v<partition_id, std::int32_t>);
static_assert(!std::is_convertible_v<log_offset, std::int64_t>);
static_assert(!std::is_assignable_v<partition_id&, log_offset>);
static_assert(!std::is_same_v<partition_id, log_offset>);
// So a position cannot be built with the two swapped, and the ports take only the right one.
static_assert(std::is_constructible_v<position, partition_id, log_offset>);
static_assert(!std::is_constructible_v<position, log_offset, partition_id>);
static_assert(!std::is_constructible_v<position, int, int>);
static_assert(std::is_invocable_v<decltype(&commit_tail::applied_through), commit_tail&, context, partition_id>);
static_assert(!std::is_invocable_v<decltype(&commit_tail::applied_through), commit_tail&, context, log_offset>);
static_assert(!std::is_invocable_v<decltype(&commit_tail::applied_through), commit_tail&, context, std::int32_t>);
static_assert(std::is_invocable_v<decltype(&write_batch::set_checkpoint), write_batch&, context, partition_id, log_offset>);
static_assert(
    !std::is_invocable_v<decltype(&write_batch::set_checkpoint), write_batch&, context, log_offset, partition_id>);
static_assert(!std::is_invocable_v<decltype(&write_batch::set_checkpoint), write_batch&, context, int, int>);
// The raw integers keep their width: what librdkafka, LMDB keys and FlatBuffers carry.
static_assert(std::is_same_v<partition_id::value_type, std::int32_t>);
static_assert(std::is_same_v<log_offset::value_type, std::int64_t>);
static_assert(sizeof(partition_id) == sizeof(std::int32_t) && sizeof(log_offset) == sizeof(std::int64_t));

TEST(position_types, an_offset_steps_to_the_next_and_its_distance_is_a_count) {
    log_offset o(41);
    EXPECT_EQ(++o, log_offset(42));
    EXPECT_EQ(o++, log_offset(42));
    EXPECT_EQ(o, log_offset(43));
    EXPECT_EQ(o + 7, log_offset(50));
    EXPECT_EQ(o - 3, log_offset(40));
    EXPECT_EQ(log_offset(50) - log_offset(43), 7);
    o += 2;
    EXPECT_EQ(o.value(), 45);
    EXPECT_LT(log_offset(-1), log_offset(0));
}

TEST(position_types, positions_order_by_partition_then_offset) {
    EXPECT_LT((position{partition_id(1), log_offset(900)}), (position{partition_id(2), log_offset(0)}));
    EXPECT_LT((position{partition_id(2), log_offset(0)}), (position{partition_id(2), log_offset(1)}));
    EXPECT_EQ(position{}, (position{partition_id(0), log_offset(0)}));
}

TEST(position_types, format_and_hash_as_their_integers) {
    EXPECT_EQ(fmt::format("{}[{}]@{}", "orders.events", partition_id(7), log_offset(1234)), "orders.events[7]@1234");
    EXPECT_EQ(fmt::format("{:>5}", log_offset(12)), "   12");
    EXPECT_EQ(std::hash<log_offset>{}(log_offset(1234)), std::hash<std::int64_t>{}(1234));
    EXPECT_EQ(to_string(position{partition_id(7), log_offset(1234)}), "7:1234");
}

TEST(position_token, names_its_context_and_the_bare_form_stays_accepted) {
    const position p{partition_id(7), log_offset(1234)};
    EXPECT_EQ(to_token(context::reviews, p), "reviews:7:1234");
    EXPECT_EQ(parse_position_token("reviews:7:1234"), (position_token{context::reviews, p}));
    EXPECT_EQ(parse_position_token("payments:7:1234"), (position_token{context::payments, p}));
    EXPECT_EQ(parse_position_token("7:1234"), (position_token{std::nullopt, p}));
    for (const context c : all_contexts) {
        EXPECT_EQ(parse_position_token(to_token(c, p)), (position_token{c, p}));
    }
    for (std::string_view bad : {"", "reviews", "reviews:", "reviews:7", "reviews:7:", "Reviews:7:1", "shop:7:1",
                                 "reviews:07:1", "reviews:7:1:2", ":7:1", "reviews::7:1", "7:1:"}) {
        EXPECT_EQ(parse_position_token(bad), std::nullopt) << bad;
    }
}

}  // namespace
}  // namespace shopstream::eventstore
