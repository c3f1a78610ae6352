// The metrics behind GET /metrics (adapters/metrics/): what shopstream adds to prometheus-cpp
// (capped_family: series identity, the series cap, concurrent recording that loses
// nothing), the /proc parsers and collector, and the service's families as they are
// exposed - names, labels, buckets, escaping and the line format a Prometheus parser reads.
#include "adapters/metrics/families.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/metrics/process_metrics.hpp"
#include "adapters/metrics/service_metrics.hpp"
#include "tests/support/exposition_format.hpp"

namespace shopstream::adapters::metrics {
namespace {

using namespace std::chrono_literals;

bool contains_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

std::size_t lines_starting_with(const std::string& text, const std::string& prefix) {
    std::istringstream lines(text);
    std::size_t n = 0;
    for (std::string line; std::getline(lines, line);) n += line.starts_with(prefix) ? 1 : 0;
    return n;
}

std::string serialized(const prometheus::Collectable& c) { return prometheus::TextSerializer().Serialize(c.Collect()); }

prometheus::Family<prometheus::Counter>& counters(prometheus::Registry& r, const std::string& name) {
    return prometheus::BuildCounter().Name(name).Help("Test.").Register(r);
}

TEST(capped_family, same_label_values_are_the_same_series) {
    prometheus::Registry r;
    capped_family<prometheus::Counter, 2> c(counters(r, "shop_pairs_total"), {"a", "b"}, 10);
    EXPECT_EQ(&c.with({"x", "y"}), &c.with({"x", "y"}));
    // Concatenation alone must not identify a series.
    EXPECT_NE(&c.with({"ab", "c"}), &c.with({"a", "bc"}));
    c.with({"x", "y"}).Increment(2);
    c.with({"x", "y"}).Increment();
    EXPECT_TRUE(contains_line(serialized(r), R"(shop_pairs_total{a="x",b="y"} 3)")) << serialized(r);
}

TEST(capped_family, caps_series_and_exposes_none_past_the_cap) {
    prometheus::Registry r;
    capped_family<prometheus::Counter, 1> c(counters(r, "shop_capped_total"), {"id"}, 2);
    c.with({"1"}).Increment();
    c.with({"2"}).Increment();
    c.with({"3"}).Increment();
    c.with({"4"}).Increment();
    c.with({"2"}).Increment();  // a series made before the cap was reached still counts
    EXPECT_EQ(c.dropped_series(), 2U);
    const std::string text = serialized(r);
    EXPECT_TRUE(contains_line(text, R"(shop_capped_total{id="2"} 2)")) << text;
    EXPECT_EQ(lines_starting_with(text, "shop_capped_total{"), 2U) << text;
    EXPECT_EQ(text.find("id=\"3\""), std::string::npos) << text;
    EXPECT_EQ(text.find("id=\"\""), std::string::npos) << text;
}

TEST(capped_family, makes_histograms_with_the_given_buckets) {
    prometheus::Registry r;
    auto& family = prometheus::BuildHistogram().Name("shop_wait_seconds").Help("Waits.").Register(r);
    capped_family<prometheus::Histogram, 1> h(family, {"op"}, 10, prometheus::Histogram::BucketBoundaries{0.25, 1, 10});
    for (double v : {0.125, 0.25, 0.5, 2.0, 20.0, 30.0}) h.with({"x"}).Observe(v);  // 0.25 falls in le="0.25"
    const std::string text = serialized(r);
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="0.25"} 2)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="1"} 3)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="10"} 4)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_bucket{op="x",le="+Inf"} 6)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_sum{op="x"} 52.875)")) << text;
    EXPECT_TRUE(contains_line(text, R"(shop_wait_seconds_count{op="x"} 6)")) << text;
}

TEST(capped_family, concurrent_increments_from_several_threads_sum_exactly) {
    prometheus::Registry r;
    capped_family<prometheus::Counter, 2> c(counters(r, "shop_hits_total"), {"route", "status"}, 100);
    auto& family = prometheus::BuildHistogram().Name("shop_hit_seconds").Help("Hit time.").Register(r);
    capped_family<prometheus::Histogram, 1> h(family, {"route"}, 100, prometheus::Histogram::BucketBoundaries{0.5});
    constexpr int threads = 8;
    constexpr int per_thread = 20'000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const std::string own = std::to_string(t);
            for (int i = 0; i < per_thread; ++i) {
                // Every thread makes and finds the same series, and some of its own.
                c.with({"/v1/orders", i % 2 == 0 ? "201" : "400"}).Increment();
                c.with({"/t", own}).Increment();
                h.with({"/v1/orders"}).Observe(i % 4 == 0 ? 1.0 : 0.25);
            }
        });
    }
    for (auto& t : pool) t.join();
    EXPECT_EQ(c.with({"/v1/orders", "201"}).Value(), threads * per_thread / 2);
    EXPECT_EQ(c.with({"/v1/orders", "400"}).Value(), threads * per_thread / 2);
    for (int t = 0; t < threads; ++t) EXPECT_EQ(c.with({"/t", std::to_string(t)}).Value(), per_thread);
    const auto snap = h.with({"/v1/orders"}).Collect().histogram;
    ASSERT_EQ(snap.bucket.size(), 2U);
    EXPECT_EQ(snap.bucket.at(0).cumulative_count, static_cast<std::uint64_t>(threads * per_thread * 3 / 4));
    EXPECT_EQ(snap.bucket.at(1).cumulative_count, static_cast<std::uint64_t>(threads * per_thread));
    EXPECT_DOUBLE_EQ(snap.sample_sum, threads * (per_thread / 4 * 1.0 + per_thread * 3 / 4 * 0.25));
    EXPECT_EQ(c.dropped_series(), 0U);
    EXPECT_TRUE(contains_line(serialized(r), R"(shop_hits_total{route="/v1/orders",status="201"} 80000)"));
}

TEST(sample_family, holds_counters_and_gauges_only) {
    auto g = sample_family("shop_lag_records", "Lag.", prometheus::MetricType::Gauge);
    add_sample(g, {{"partition", "1"}}, 2);
    EXPECT_EQ(prometheus::TextSerializer().Serialize({g}),
              "# HELP shop_lag_records Lag.\n# TYPE shop_lag_records gauge\nshop_lag_records{partition=\"1\"} 2\n");
    EXPECT_THROW((void)sample_family("shop_h", "x", prometheus::MetricType::Histogram), std::invalid_argument);
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
    const std::string text = serialized(process_collector());
    EXPECT_TRUE(contains_line(text, "# TYPE process_cpu_seconds_total counter")) << text;
    EXPECT_TRUE(contains_line(text, "# TYPE process_resident_memory_bytes gauge")) << text;
    const auto value_of = [&text](const std::string& name) {
        const auto at = text.find("\n" + name + " ");
        if (at == std::string::npos) return -1.0;
        return std::stod(text.substr(at + name.size() + 2));
    };
    EXPECT_GT(value_of("process_resident_memory_bytes"), 1e6) << text;  // ASan alone holds more
    EXPECT_GE(value_of("process_cpu_seconds_total"), 0) << text;
    const double start = value_of("process_start_time_seconds");
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_GT(start, now - 3600) << text;  // this test process started within the hour
    EXPECT_LE(start, now + 1) << text;
}

// prometheus-cpp writes a series' labels in the order of their names (then `le`).
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
        text, R"(shopstream_http_requests_total{method="POST",route="/v1/orders/{id}/cancel",status="200"} 2)"))
        << text;
    EXPECT_TRUE(contains_line(text, R"(shopstream_http_requests_total{method="GET",route="unmatched",status="404"} 1)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_http_request_duration_seconds_bucket{method="POST",route="/v1/orders/{id}/cancel",le="0.005"} 1)"))
        << text;
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_http_request_duration_seconds_count{method="POST",route="/v1/orders/{id}/cancel"} 2)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_commands_total{command="place_order",context="orders",outcome="applied"} 1)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_commands_total{command="place_order",context="orders",outcome="conflict_retried"} 1)"));
    EXPECT_TRUE(contains_line(
        text, R"(shopstream_commands_total{command="vote_helpful",context="reviews",outcome="rejected"} 1)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_commits_appended_total{context="orders"} 1)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_commits_appended_total{context="payments"} 0)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_bucket{context="orders",le="0.0025"} 1)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_build_info{version="1.2.3"} 1)"));
}

TEST(service_metrics, holds_at_most_1000_request_series_however_many_routes_it_is_given) {
    service_metrics m("1.2.3");
    m.record_request("/r/0", "GET", 200, 1ms);
    for (int i = 0; i < 1'100; ++i) m.record_request("/r/" + std::to_string(i), "GET", 200, 1ms);
    m.record_request("/r/0", "GET", 200, 1ms);  // made before the cap: still counted
    const std::string text = m.expose();
    EXPECT_EQ(lines_starting_with(text, "shopstream_http_requests_total{"), 1000U);
    EXPECT_EQ(lines_starting_with(text, "shopstream_http_request_duration_seconds_count{"), 1000U);
    EXPECT_TRUE(contains_line(text, R"(shopstream_http_requests_total{method="GET",route="/r/0",status="200"} 3)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_http_requests_total{method="GET",route="/r/999",status="200"} 1)"));
    EXPECT_EQ(text.find("route=\"/r/1000\""), std::string::npos);  // the 1001st
    EXPECT_EQ(text.find("route=\"/r/1099\""), std::string::npos);
}

TEST(service_metrics, verdict_buckets_are_cumulative_with_sum_and_count) {
    service_metrics m("1.2.3");
    for (auto took : {2ms, 30ms, 20'000ms}) m.commands().on_verdict(eventstore::context::payments, took);
    const std::string text = m.expose();
    EXPECT_TRUE(contains_line(text, "# TYPE shopstream_command_verdict_seconds histogram")) << text;
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_bucket{context="payments",le="0.0005"} 0)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_bucket{context="payments",le="0.0025"} 1)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_bucket{context="payments",le="0.05"} 2)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_bucket{context="payments",le="10"} 2)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_bucket{context="payments",le="+Inf"} 3)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_count{context="payments"} 3)"));
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_sum{context="payments"} 20.032)")) << text;
    // Every context has its series from the start, at zero.
    EXPECT_TRUE(contains_line(text, R"(shopstream_command_verdict_seconds_count{context="reviews"} 0)"));
}

// The same line-format check the e2e test makes on the binary's /metrics, here on every
// family the service registers: a help text with a newline, a label value left unescaped
// or a NaN written "Nan" would fail it.
TEST(service_metrics, exposition_is_strict_text_format_with_label_values_escaped) {
    service_metrics m("1.2.3");
    m.record_request("C:\\dir \"x\"\nnext", "GET", 404, 1ms);
    m.record_request("/v1/orders", "POST", 201, 3ms);
    m.commands().on_outcome(eventstore::context::orders, "place_order", commands::observed_outcome::applied);
    const std::string text = m.expose();
    EXPECT_TRUE(contains_line(text, R"(shopstream_http_requests_total{method="GET",route="C:\\dir \"x\"\nnext",status="404"} 1)"))
        << text;
    shopstream::testing::exposition_summary summary;
    EXPECT_EQ(shopstream::testing::exposition_format_error(text, &summary), std::nullopt) << text;
    EXPECT_GT(summary.samples, 40U);  // the request and verdict histograms alone have more
    // And the checker itself refuses what prometheus-cpp would write for a NaN.
    EXPECT_NE(shopstream::testing::exposition_format_error("# TYPE x gauge\nx Nan\n"), std::nullopt);
}

TEST(service_metrics, collects_added_collectables_at_every_scrape) {
    struct level final : prometheus::Collectable {
        std::atomic<double> value{1};
        std::vector<prometheus::MetricFamily> Collect() const override {
            auto f = sample_family("shop_level_records", "A level.", prometheus::MetricType::Gauge);
            add_sample(f, {{"partition", "0"}}, value.load());
            return {f};
        }
    };
    service_metrics m("1.2.3");
    auto source = std::make_shared<level>();
    m.add_collectable(source);
    EXPECT_TRUE(contains_line(m.expose(), R"(shop_level_records{partition="0"} 1)")) << m.expose();
    source->value = 5;
    EXPECT_TRUE(contains_line(m.expose(), R"(shop_level_records{partition="0"} 5)")) << m.expose();
    EXPECT_TRUE(contains_line(m.expose(), "# TYPE process_cpu_seconds_total counter"));  // the service's own
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
