#pragma once
// What shopstream adds to prometheus-cpp (Debian's prometheus-cpp-dev 1.0.1, its core
// library: families, metrics and the text serializer). Written here because the library
// has neither:
//
// capped_family: a prometheus::Family seen through a fixed list of label names, with a cap
// on its series and a lookup that takes no lock. Family::Add builds a std::map of the
// labels and a new metric, then takes the family's mutex, on every call - too much for a
// per-request path - and makes a series for any label values it is given, so a label fed
// from outside could grow the exposition without bound. with() finds a series made before
// without locking (an insert-only open-addressing table of atomic pointers) and takes this
// object's mutex only to make a new one; past `max_series` it hands out one detached metric
// that is never exposed, and counts the call in dropped_series(). A caller recording the
// same label values on every call may keep the reference with() returns.
//
// sample_family / add_sample: a MetricFamily that a prometheus::Collectable fills at
// scrape time, for values that are read rather than recorded (the tail's progress, /proc).
//
// Thread-safety: every member of capped_family may be called from any thread. The
// prometheus family it wraps must outlive it (service_metrics owns both).

#include <prometheus/client_metric.h>
#include <prometheus/family.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shopstream::adapters::metrics {

// Request latencies from 0.5 ms to 10 s.
[[nodiscard]] std::vector<double> latency_buckets();

namespace detail {
// FNV-1a over the values, with a byte no UTF-8 text holds after each, so that ("ab", "c")
// and ("a", "bc") differ.
[[nodiscard]] std::uint64_t hash_of(std::span<const std::string_view> values) noexcept;
}  // namespace detail

template <class Metric, std::size_t N>
class capped_family {
public:
    static constexpr std::size_t default_max_series = 1000;
    using label_values = std::array<std::string_view, N>;

    // `args`: what every series is made with (a histogram's bucket bounds).
    template <class... Args>
    capped_family(prometheus::Family<Metric>& family, std::array<std::string, N> label_names, std::size_t max_series,
                  const Args&... args)
        : label_names_(std::move(label_names)),
          max_series_(max_series),
          // At least twice the series: a probe always ends at an empty slot.
          mask_(std::bit_ceil(std::max<std::size_t>(2, 2 * max_series)) - 1),
          slots_(std::make_unique<std::atomic<entry*>[]>(mask_ + 1)),
          make_([&family, args...](const prometheus::Labels& labels) -> Metric& { return family.Add(labels, args...); }),
          detached_(std::make_unique<Metric>(args...)) {}

    capped_family(const capped_family&) = delete;
    capped_family& operator=(const capped_family&) = delete;

    // The series of these label values, in the order of the label names.
    Metric& with(const label_values& values) {
        const std::uint64_t h = detail::hash_of(values);
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            const entry* e = slots_[i].load(std::memory_order_acquire);
            if (e == nullptr) break;
            if (e->is(h, values)) return *e->metric;
        }
        std::lock_guard lock(mu_);
        std::size_t i = h & mask_;
        for (;; i = (i + 1) & mask_) {
            const entry* e = slots_[i].load(std::memory_order_relaxed);
            if (e == nullptr) break;
            if (e->is(h, values)) return *e->metric;  // made while this thread waited for the lock
        }
        if (owned_.size() >= max_series_) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return *detached_;
        }
        prometheus::Labels labels;
        for (std::size_t k = 0; k < N; ++k) labels.emplace(label_names_[k], std::string(values[k]));
        auto e = std::make_unique<entry>(h, values, make_(labels));
        slots_[i].store(e.get(), std::memory_order_release);
        owned_.push_back(std::move(e));
        return *owned_.back()->metric;
    }

    // How many times with() handed out the detached metric because the family was full.
    [[nodiscard]] std::uint64_t dropped_series() const noexcept { return dropped_.load(std::memory_order_relaxed); }

private:
    struct entry {
        entry(std::uint64_t h, const label_values& values, Metric& m) : hash(h), metric(&m) {
            std::copy(values.begin(), values.end(), labels.begin());
        }
        [[nodiscard]] bool is(std::uint64_t h, const label_values& values) const {
            return hash == h && std::equal(labels.begin(), labels.end(), values.begin(), values.end());
        }
        std::uint64_t hash;
        std::array<std::string, N> labels;
        Metric* metric;  // owned by the prometheus family
    };

    std::array<std::string, N> label_names_;
    std::size_t max_series_;
    std::size_t mask_;
    std::unique_ptr<std::atomic<entry*>[]> slots_;
    std::function<Metric&(const prometheus::Labels&)> make_;  // called under mu_
    std::unique_ptr<Metric> detached_;
    std::mutex mu_;
    std::vector<std::unique_ptr<entry>> owned_;  // under mu_
    std::atomic<std::uint64_t> dropped_{0};
};

// A family of samples for Collectable::Collect; its type is a counter or a gauge.
[[nodiscard]] prometheus::MetricFamily sample_family(std::string name, std::string help, prometheus::MetricType type);
// One sample of it: label name/value pairs, and the value as the family's type holds it.
void add_sample(prometheus::MetricFamily& family, std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                double value);

}  // namespace shopstream::adapters::metrics
