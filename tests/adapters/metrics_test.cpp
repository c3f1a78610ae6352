// The hand-written Prometheus registry (adapters/metrics/): the text exposition (HELP and
// TYPE, label escaping, values, cumulative histogram buckets), series identity, the
// series cap, concurrent recording that loses nothing, the /proc parsers, and the
// service's families fed through the command observer.
#include "adapters/metrics/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "adapters/metrics/process_metrics.hpp"
#include "adapters/metrics/service_metrics.hpp"

namespace shopstream::adapters::metrics {
namespace {

using namespace std::chrono_literals;

bool contains_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(metrics_exposition, writes_help_type_and_samples) {
    registry r;
    auto& c = r.add_counter("shop_things_total", "Things.\nSecond line with a \\ backslash.", {"kind"});
    c.with({"a"}).inc();
    c.with({"a"}).inc(2);
    c.with({"b"}).inc();
    r.add_gauge("shop_level", "A level.").with({}).set(-2.5);
    EXPECT_EQ(r.expose(),
              "# HELP shop_things_total Things.\\nSecond line with a \\\\ backslash.\n"
              "# TYPE shop_things_total counter\n"
              "shop_things_total{kind=\"a\"} 3\n"
              "shop_things_total{kind=\"b\"} 1\n"
              "# HELP shop_level A level.\n"
              "# TYPE shop_level gauge\n"
              "shop_level -2.5\n");
}

TEST(metrics_exposition, escapes_backslash_quote_and_newline_in_label_values) {
    EXPECT_EQ(escape_label_value(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
    registry r;
    r.add_counter("shop_paths_total", "Paths.", {"path"}).with({"C:\\dir \"x\"\nnext"}).inc();
    EXPECT_TRUE(contains_line(r.expose(), R"(shop_paths_total{path="C:\\dir \"x\"\nnext"} 1)")) << r.expose();
}

TEST(metrics_exposition, formats_values) {
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(42), "42");
    EXPECT_EQ(format_value(-7), "-7");
    EXPECT_EQ(format_value(0.25), "0.25");
    EXPECT_EQ(format_value(0.0005), "0.0005");
    EXPECT_EQ(format_value(1795313837.96), "1795313837.96");  // a start time: no exponent
    EXPECT_EQ(format_value(1e300), "1e+300");
    EXPECT_EQ(format_value(1.5e-7), "1.5e-07");
    EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(metrics_histogram, buckets_are_cumulative_with_sum_count_and_inf) {
    registry r;
    auto& h = r.add_histogram("shop_wait_seconds", "Waits.", {"op"}, {0.25, 1, 10});
    auto& s = h.with({"x"});
    for (double v : {0.125, 0.25, 0.5, 2.0, 20.0, 30.0}) s.observe(v);  // 0.25 falls in le="0.25"
    const std::string text = r.expose();
    EXPECT_TRUE(contains_line(text, "# TYPE shop_wait_seconds histogram")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="0.25"} 2)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="1"} 3)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="10"} 4)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="+Inf"} 6)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_sum{op="x"} 52.875)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_count{op="x"} 6)")) << text;
    // Buckets in increasing order of le, +Inf last, then _sum and _count.
    EXPECT_LT(text.find("le=\"0.25\""), text.find("le=\"1\""));
    EXPECT_LT(text.find("le=\"10\""), text.find("le=\"+Inf\""));
    EXPECT_LT(text.find("le=\"+Inf\""), text.find("_sum"));
}

TEST(metrics_histogram, without_labels_has_only_le) {
    registry r;
    r.add_histogram("shop_plain_seconds", "Plain.", {}, {1}).with({}).observe(0.5);
    EXPECT_TRUE(contains_line(r.expose(), R"(shop_plain_seconds_bucket{le="1"} 1)")) << r.expose();
    EXPECT_TRUE(contains_line(r.expose(), "shop_plain_seconds_count 1")) << r.expose();
}

TEST(metrics_registry, same_label_values_are_the_same_series) {
    registry r;
    auto& c = r.add_counter("shop_pairs_total", "Pairs.", {"a", "b"});
    EXPECT_EQ(&c.with({"x", "y"}), &c.with({"x", "y"}));
    // Concatenation alone must not identify a series.
    EXPECT_NE(&c.with({"ab", "c"}), &c.with({"a", "bc"}));
}

TEST(metrics_registry, refuses_bad_names_arity_and_repeats) {
    registry r;
    EXPECT_THROW(r.add_counter("9lives_total", "x"), std::invalid_argument);
    EXPECT_THROW(r.add_counter("shop-dash_total", "x"), std::invalid_argument);
    EXPECT_THROW(r.add_counter("shop_l_total", "x", {"__reserved"}), std::invalid_argument);
    EXPECT_THROW(r.add_counter("shop_d_total", "x", {"a", "a"}), std::invalid_argument);
    EXPECT_THROW(r.add_histogram("shop_h_seconds", "x", {"le"}, {1}), std::invalid_argument);
    EXPECT_THROW(r.add_histogram("shop_u_seconds", "x", {}, {1, 1}), std::invalid_argument);
    auto& c = r.add_counter("shop_ok_total", "x", {"a"});
    EXPECT_THROW(r.add_gauge("shop_ok_total", "x"), std::invalid_argument);
    EXPECT_THROW(c.with({}), std::invalid_argument);
    EXPECT_THROW(c.with({"1", "2"}), std::invalid_argument);
}

TEST(metrics_registry, caps_series_and_exposes_none_past_the_cap) {
    registry r;
    auto& c = r.add_counter("shop_capped_total", "Capped.", {"id"}, 2);
    c.with({"1"}).inc();
    c.with({"2"}).inc();
    c.with({"3"}).inc();
    c.with({"4"}).inc();
    EXPECT_EQ(c.dropped_series(), 2U);
    const std::string text = r.expose();
    EXPECT_TRUE(contains_line(text, R"(shop_capped_total{id="2"} 1)")) << text;
    EXPECT_EQ(text.find("id=\"3\""), std::string::npos) << text;
    EXPECT_EQ(text.find("id=\"\""), std::string::npos) << text;
}

TEST(metrics_registry, concurrent_increments_from_several_threads_sum_exactly) {
    registry r;
    auto& c = r.add_counter("shop_hits_total", "Hits.", {"route", "status"});
    auto& h = r.add_histogram("shop_hit_seconds", "Hit time.", {"route"}, {0.5});
    constexpr int threads = 8;
    constexpr int per_thread = 20'000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                // Every thread makes and finds the same series, and some of its own.
                c.with({"/v1/orders", i % 2 == 0 ? "201" : "400"}).inc();
                c.with({"/t", std::to_string(t)}).inc();
                h.with({"/v1/orders"}).observe(i % 4 == 0 ? 1.0 : 0.25);
            }
        });
    }
    for (auto& t : pool) t.join();
    EXPECT_EQ(c.with({"/v1/orders", "201"}).value(), threads * per_thread / 2);
    EXPECT_EQ(c.with({"/v1/orders", "400"}).value(), threads * per_thread / 2);
    for (int t = 0; t < threads; ++t) EXPECT_EQ(c.with({"/t", std::to_string(t)}).value(), per_thread);
    const auto snap = h.with({"/v1/orders"}).read();
    EXPECT_EQ(snap.cumulative.at(0), static_cast<std::uint64_t>(threads * per_thread * 3 / 4));
    EXPECT_EQ(snap.cumulative.at(1), static_cast<std::uint64_t>(threads * per_thread));
    EXPECT_DOUBLE_EQ(snap.sum, threads * (per_thread / 4 * 1.0 + per_thread * 3 / 4 * 0.25));
    EXPECT_TRUE(contains_line(r.expose(), R"(shop_hits_total{route="/v1/orders",status="201"} 80000)"));
}

TEST(metrics_registry, collected_families_emit_at_scrape_time) {
    registry r;
    double level = 1;
    r.add_collected("shop_lag_records", "Lag.", metric_type::gauge, {"partition"}, [&level](sample_sink& out) {
        out.add({"0"}, level);
        out.add({"1"}, level * 2);
    });
    EXPECT_TRUE(contains_line(r.expose(), R"(shop_lag_records{partition="1"} 2)"));
    level = 5;
    EXPECT_TRUE(contains_line(r.expose(), R"(shop_lag_records{partition="1"} 10)"));
    EXPECT_TRUE(contains_line(r.expose(), "# TYPE shop_lag_records gauge"));
    EXPECT_THROW(r.add_collected("shop_h", "x", metric_type::histogram, {}, [](sample_sink&) {}),
                 std::invalid_argument);
}

TEST(process_metrics, parse_proc_files) {
    // A command name with spaces and a ')' must not shift the fields.
    const std::string stat =
        "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 9 0 12345 "
        "100000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    const auto s = parse_proc_self_stat(stat, 100);
    ASSERT_TRUE(s.has_value());
    EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);  // (250 + 150) / 100
    EXPECT_DOUBLE_EQ(s->started_after_boot_seconds, 123.45);
    EXPECT_FALSE(parse_proc_self_stat("4242 (truncated) S 1 2", 100).has_value());
    EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"), 1700000000.0);
    EXPECT_FALSE(parse_boot_time("cpu 1\n").has_value());
    EXPECT_EQ(parse_resident_pages("5000 1234 300 1 0 400 0\n"), 1234U);
}

TEST(process_metrics, reads_this_process) {
    registry r;
    add_process_metrics(r);
    const std::string text = r.expose();
    EXPECT_NE(text.find("\nprocess_resident_memory_bytes "), std::string::npos) << text;
    EXPECT_NE(text.find("\nprocess_cpu_seconds_total "), std::string::npos) << text;
    const auto at = text.find("\nprocess_start_time_seconds ");
    ASSERT_NE(at, std::string::npos) << text;
    const double start = std::stod(text.substr(at + 28));
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_GT(start, now - 3600);  // this test process started within the hour
    EXPECT_LE(start, now + 1);
}

TEST(service_metrics, counts_requests_by_route_template_and_commands_by_outcome) {
    service_metrics m("1.2.3");
    m.record_request("/v1/orders/{id}/cancel", "POST", 200, 3ms);
    m.record_request("/v1/orders/{id}/cancel", "POST", 200, 30ms);
    m.record_request("unmatched", "GET", 404, 1ms);
    auto& observer = m.commands();
    observer.on_outcome(eventstore::context::orders, "place_order", commands::observed_outcome::applied);
    observer.on_outcome(eventstore::context::orders, "place_order", commands::observed_outcome::conflict_retried);
    observer.on_outcome(eventstore::context::reviews, "vote_helpful", commands::observed_outcome::rejected);
    observer.on_appended(eventstore::context::orders);
    observer.on_verdict(eventstore::context::orders, 2ms);
    const std::string text = m.expose();
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_http_requests_total{route="/v1/orders/{id}/cancel",method="POST",status="200"} 2)"))
        << text;
    EXPECT_TRUE(contains_line(text, R"(shopstream_http_requests_total{route="unmatched",method="GET",status="404"} 1)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_http_request_duration_seconds_bucket{route="/v1/orders/{id}/cancel",method="POST",le="0.005"} 1)"))
        << text;
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_http_request_duration_seconds_count{route="/v1/orders/{id}/cancel",method="POST"} 2)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_commands_total{context="orders",command="place_order",outcome="applied"} 1)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_commands_total{context="orders",command="place_order",outcome="conflict_retried"} 1)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_commands_total{context="reviews",command="vote_helpful",outcome="rejected"} 1)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_commits_appended_total{context="orders"} 1)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_commits_appended_total{context="payments"} 0)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_bucket{context="orders",le="0.0025"} 1)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_build_info{version="1.2.3"} 1)"));
}

TEST(commands_observer, every_outcome_has_a_distinct_label) {
    std::vector<std::string_view> names;
    for (std::uint8_t i = 0; i <= static_cast<std::uint8_t>(commands::observed_outcome::internal); ++i) {
        names.push_back(commands::name_of(static_cast<commands::observed_outcome>(i)));
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
    EXPECT_EQ(std::count(names.begin(), names.end(), "unknown"), 0);
    EXPECT_EQ(names.size(), 10U);
}

}  // namespace
}  // namespace shopstream::adapters::metrics
