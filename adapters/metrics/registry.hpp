#pragma once
// A Prometheus metrics registry and its text exposition (format 0.0.4). Written by hand:
// Debian 12 packages no C++ Prometheus client.
//
// A family is one metric name with a fixed list of label names; its series (one per set
// of label values) are made on first use by with() and live as long as the registry.
// with() is lock-free once the series exists (an insert-only open-addressing table; only
// making a series takes the family's mutex), and recording is a relaxed atomic add, so
// threads recording at once share nothing but the series' own counters. A hot path may
// keep the reference with() returns.
//
// A family holds at most `max_series` series: past that, with() hands out one detached
// series that is never exposed (dropped_series() counts the calls), so a label fed
// unbounded values cannot exhaust memory.
//
// Values that are read rather than recorded (process statistics, the tail's lag, later
// the projections' lag and the saga's states) are collected families: a callback the
// scrape calls to emit the current samples.
//
// Thread-safety: every member function may be called from any thread. Families are
// meant to be registered at start-up: a bad or repeated name, a label list that does not
// fit, or unsorted histogram bounds throw std::invalid_argument (programming errors). A
// collect callback runs during expose(), under the registry's lock: it must not register
// families.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shopstream::adapters::metrics {

inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class metric_type : std::uint8_t { counter, gauge, histogram };

class counter {
public:
    struct settings {};
    explicit counter(const settings& /*unused*/) {}
    void inc(double by = 1) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
    [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0};
};

class gauge {
public:
    struct settings {};
    explicit gauge(const settings& /*unused*/) {}
    void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
    void add(double by) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
    [[nodiscard]] double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0};
};

class histogram {
public:
    // Upper bounds of the buckets, strictly increasing and finite; +Inf is implied.
    struct settings {
        std::vector<double> bounds;
    };
    explicit histogram(const settings& s);
    void observe(double v) noexcept;

    struct snapshot {
        std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (= count)
        double sum = 0;
    };
    [[nodiscard]] snapshot read() const;
    [[nodiscard]] std::span<const double> bounds() const noexcept { return bounds_; }

private:
    std::span<const double> bounds_;  // the family's settings outlive its series
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, not cumulative
    std::atomic<double> sum_{0};
};

// Request latencies from 0.5 ms to 10 s.
[[nodiscard]] std::vector<double> latency_buckets();

namespace detail {

// What the registry needs of a family, whatever its series type.
class family_base {
public:
    family_base(std::string name, std::string help, metric_type type, std::vector<std::string> label_names);
    virtual ~family_base() = default;
    family_base(const family_base&) = delete;
    family_base& operator=(const family_base&) = delete;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    // Appends "# HELP", "# TYPE" and every sample.
    virtual void expose(std::string& out) const = 0;

protected:
    void write_header(std::string& out) const;
    void check_arity(std::size_t values) const;

    std::string name_;
    std::string help_;
    metric_type type_;
    std::vector<std::string> label_names_;
};

}  // namespace detail

template <class Series>
class family final : public detail::family_base {
public:
    family(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
           typename Series::settings settings, std::size_t max_series);
    ~family() override;

    // The series of these label values (as many as the family has label names; the
    // arity is checked). Lock-free once the series exists.
    Series& with(std::span<const std::string_view> values);
    Series& with(std::initializer_list<std::string_view> values) { return with(std::span(values.begin(), values.size())); }

    // How many times with() handed out the detached series because the family was full.
    [[nodiscard]] std::uint64_t dropped_series() const noexcept { return dropped_.load(std::memory_order_relaxed); }

    void expose(std::string& out) const override;

    struct entry;

private:
    typename Series::settings settings_;
    std::size_t max_series_;
    std::size_t mask_;
    std::unique_ptr<std::atomic<entry*>[]> slots_;
    mutable std::mutex mu_;
    std::vector<std::unique_ptr<entry>> owned_;  // under mu_, in creation order
    std::unique_ptr<entry> detached_;
    std::atomic<std::uint64_t> dropped_{0};
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

// Receives the samples of a collected family during a scrape.
class sample_sink {
public:
    virtual ~sample_sink() = default;
    // As many label values as the family has label names (checked).
    virtual void add(std::span<const std::string_view> values, double value) = 0;
    void add(std::initializer_list<std::string_view> values, double value) {
        add(std::span(values.begin(), values.size()), value);
    }
};
using collect_fn = std::function<void(sample_sink&)>;

class registry {
public:
    static constexpr std::size_t default_max_series = 1000;

    registry() = default;
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;
    ~registry();

    counter_family& add_counter(std::string name, std::string help, std::vector<std::string> label_names = {},
                                std::size_t max_series = default_max_series);
    gauge_family& add_gauge(std::string name, std::string help, std::vector<std::string> label_names = {},
                            std::size_t max_series = default_max_series);
    histogram_family& add_histogram(std::string name, std::string help, std::vector<std::string> label_names,
                                    std::vector<double> bounds, std::size_t max_series = default_max_series);
    // A counter or gauge whose samples `collect` emits at each scrape.
    void add_collected(std::string name, std::string help, metric_type type, std::vector<std::string> label_names,
                       collect_fn collect);

    // Every family, in registration order, in the text format (exposition_content_type).
    [[nodiscard]] std::string expose() const;

private:
    template <class Family>
    Family& adopt(std::unique_ptr<Family> f);

    mutable std::mutex mu_;
    std::vector<std::unique_ptr<detail::family_base>> families_;
};

// Text-format pieces, exposed for tests: a label value with `\`, `"` and newline escaped,
// and a sample value (integers exactly, +Inf, -Inf, NaN, else the shortest round trip).
[[nodiscard]] std::string escape_label_value(std::string_view v);
[[nodiscard]] std::string format_value(double v);

}  // namespace shopstream::adapters::metrics
