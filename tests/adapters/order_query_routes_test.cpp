// The order routes' RFC 3339 reading of `from`/`to` (GET /v1/admin/orders/summary): what
// it takes, what it refuses, and that it reads back what format_rfc3339 writes.
#include "adapters/http/order_query_routes.hpp"

#include <gtest/gtest.h>

#include <string>

#include "adapters/http/json_mapping.hpp"

namespace shopstream::adapters::http {
namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t dec_1_2026 = 20'788 * day_ms;  // 2026-12-01T00:00:00Z

TEST(parse_rfc3339, reads_dates_and_date_times_with_any_offset_and_fraction) {
    EXPECT_EQ(parse_rfc3339("1970-01-01"), 0);
    EXPECT_EQ(parse_rfc3339("2026-12-01"), dec_1_2026);
    EXPECT_EQ(parse_rfc3339("2026-12-01T00:00:00Z"), dec_1_2026);
    EXPECT_EQ(parse_rfc3339("2026-12-01t00:00:00z"), dec_1_2026);
    EXPECT_EQ(parse_rfc3339("2026-12-01T10:20:30Z"), dec_1_2026 + ((10 * 60 + 20) * 60 + 30) * 1000);
    EXPECT_EQ(parse_rfc3339("2026-12-01T01:00:00+01:00"), dec_1_2026);
    EXPECT_EQ(parse_rfc3339("2026-11-30T22:30:00-01:30"), dec_1_2026);
    EXPECT_EQ(parse_rfc3339("2026-12-01T00:00:00.5Z"), dec_1_2026 + 500);
    EXPECT_EQ(parse_rfc3339("2026-12-01T00:00:00.123456789Z"), dec_1_2026 + 123);  // truncated to ms
    EXPECT_EQ(parse_rfc3339("2024-02-29"), 19'782 * day_ms);                       // a leap day
    EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59.999Z"), 253'402'300'799'999);
    for (const std::int64_t t : {std::int64_t{0}, dec_1_2026 + 1, std::int64_t{253'402'300'799'999}}) {
        const auto written = format_rfc3339(t);
        ASSERT_TRUE(written.has_value());
        EXPECT_EQ(parse_rfc3339(*written), t) << *written;
    }
}

TEST(parse_rfc3339, refuses_everything_else) {
    for (const std::string text :
         {"", "2026", "2026-12", "2026-12-1", "26-12-01", "2026/12/01", "2026-13-01", "2026-00-10", "2026-02-29",
          "2026-04-31", "2026-12-01T", "2026-12-01T10:00", "2026-12-01T10:00:00", "2026-12-01 10:00:00Z",
          "2026-12-01T24:00:00Z", "2026-12-01T10:60:00Z", "2026-12-01T10:00:60Z", "2026-12-01T10:00:00.Z",
          "2026-12-01T10:00:00.1234567890Z", "2026-12-01T10:00:00+1:00", "2026-12-01T10:00:00+01:60",
          "2026-12-01T10:00:00+0100", "2026-12-01T10:00:00Zjunk", "2026-12-01x", "1969-12-31",
          "1970-01-01T00:30:00+01:00", "+2026-12-01", "２026-12-01", "yesterday"}) {
        EXPECT_EQ(parse_rfc3339(text), std::nullopt) << text;
    }
}

}  // namespace
}  // namespace shopstream::adapters::http
