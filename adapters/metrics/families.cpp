#include "adapters/metrics/families.hpp"

#include <stdexcept>

namespace shopstream::adapters::metrics {

std::vector<double> latency_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace detail {

std::uint64_t hash_of(std::span<const std::string_view> values) noexcept {
    std::uint64_t h = 1469598103934665603ULL;
    for (auto v : values) {
        for (unsigned char c : v) {
            h ^= c;
            h *= 1099511628211ULL;
        }
        h ^= 0xFFU;
        h *= 1099511628211ULL;
    }
    return h;
}

}  // namespace detail

prometheus::MetricFamily sample_family(std::string name, std::string help, prometheus::MetricType type) {
    if (type != prometheus::MetricType::Counter && type != prometheus::MetricType::Gauge) {
        throw std::invalid_argument("a sampled family is a counter or a gauge: " + name);
    }
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return f;
}

void add_sample(prometheus::MetricFamily& family,
                std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double value) {
    prometheus::ClientMetric m;
    m.label.reserve(labels.size());
    for (const auto& [name, v] : labels) m.label.push_back({std::string(name), std::string(v)});
    if (family.type == prometheus::MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    family.metric.push_back(std::move(m));
}

}  // namespace shopstream::adapters::metrics
