#pragma once
// The process metrics every Prometheus client exports, read from /proc at each scrape:
// process_start_time_seconds, process_resident_memory_bytes, process_cpu_seconds_total.
// Written by hand: prometheus-cpp 1.0.1 has no process collector (neither its core nor its
// pull library). The parsers are pure, for tests.
//
// Thread-safety: Collect() may be called from several threads at once.

#include <cstdint>
#include <optional>
#include <string_view>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace shopstream::adapters::metrics {

struct proc_self_stat {
    double cpu_seconds = 0;             // user + system
    double started_after_boot_seconds = 0;
};

// /proc/self/stat (the command name may hold spaces and parentheses).
[[nodiscard]] std::optional<proc_self_stat> parse_proc_self_stat(std::string_view text, long ticks_per_second);
// The `btime` line of /proc/stat: the boot time in seconds since the epoch.
[[nodiscard]] std::optional<double> parse_boot_time(std::string_view proc_stat);
// The second field of /proc/self/statm: resident pages.
[[nodiscard]] std::optional<std::uint64_t> parse_resident_pages(std::string_view statm);

// The three families; a value /proc does not give has no sample.
class process_collector final : public prometheus::Collectable {
public:
    process_collector();  // reads the start time once
    [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

private:
    long ticks_per_second_;
    long page_size_;
    std::optional<double> start_;
};

}  // namespace shopstream::adapters::metrics
