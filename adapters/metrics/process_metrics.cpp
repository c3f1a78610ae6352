#include "adapters/metrics/process_metrics.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

#include "adapters/metrics/families.hpp"

namespace shopstream::adapters::metrics {
namespace {

std::string read_file(const char* path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();  // /proc files report size 0: read to the end
    return s.str();
}

template <class T>
std::optional<T> number(std::string_view text) {
    T v{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

// The space-separated field `index` (0-based) of `text`.
std::string_view field(std::string_view text, std::size_t index) {
    std::size_t at = 0;
    for (std::size_t i = 0;; ++i) {
        at = text.find_first_not_of(' ', at);
        if (at == std::string_view::npos) return {};
        const auto end = std::min(text.find_first_of(" \n", at), text.size());
        if (i == index) return text.substr(at, end - at);
        at = end;
    }
}

}  // namespace

std::optional<proc_self_stat> parse_proc_self_stat(std::string_view text, long ticks_per_second) {
    // "pid (comm) state ppid ...": fields counted after the last ')' (field 3, state, is 0).
    const auto close = text.rfind(')');
    if (close == std::string_view::npos || ticks_per_second <= 0) return std::nullopt;
    const auto rest = text.substr(close + 1);
    const auto utime = number<std::uint64_t>(field(rest, 11));     // field 14
    const auto stime = number<std::uint64_t>(field(rest, 12));     // field 15
    const auto started = number<std::uint64_t>(field(rest, 19));   // field 22
    if (!utime || !stime || !started) return std::nullopt;
    const auto ticks = static_cast<double>(ticks_per_second);
    return proc_self_stat{static_cast<double>(*utime + *stime) / ticks, static_cast<double>(*started) / ticks};
}

std::optional<double> parse_boot_time(std::string_view proc_stat) {
    std::size_t at = 0;
    while (at < proc_stat.size()) {
        const auto end = std::min(proc_stat.find('\n', at), proc_stat.size());
        const auto line = proc_stat.substr(at, end - at);
        if (line.starts_with("btime ")) {
            if (auto v = number<std::uint64_t>(field(line, 1))) return static_cast<double>(*v);
            return std::nullopt;
        }
        at = end + 1;
    }
    return std::nullopt;
}

std::optional<std::uint64_t> parse_resident_pages(std::string_view statm) {
    return number<std::uint64_t>(field(statm, 1));
}

process_collector::process_collector() : ticks_per_second_(sysconf(_SC_CLK_TCK)), page_size_(sysconf(_SC_PAGESIZE)) {
    if (const auto boot = parse_boot_time(read_file("/proc/stat"))) {
        if (const auto self = parse_proc_self_stat(read_file("/proc/self/stat"), ticks_per_second_)) {
            start_ = *boot + self->started_after_boot_seconds;
        }
    }
}

std::vector<prometheus::MetricFamily> process_collector::Collect() const {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    out.push_back(sample_family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                                MetricType::Gauge));
    if (start_) add_sample(out.back(), {}, *start_);
    out.push_back(sample_family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge));
    if (const auto pages = parse_resident_pages(read_file("/proc/self/statm")); pages && page_size_ > 0) {
        add_sample(out.back(), {}, static_cast<double>(*pages) * static_cast<double>(page_size_));
    }
    out.push_back(sample_family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                                MetricType::Counter));
    if (const auto self = parse_proc_self_stat(read_file("/proc/self/stat"), ticks_per_second_)) {
        add_sample(out.back(), {}, self->cpu_seconds);
    }
    return out;
}

}  // namespace shopstream::adapters::metrics
