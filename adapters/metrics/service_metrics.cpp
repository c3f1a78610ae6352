#include "adapters/metrics/service_metrics.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include "adapters/metrics/process_metrics.hpp"

namespace shopstream::adapters::metrics {
namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

constexpr std::size_t context_count = eventstore::all_contexts.size();

}  // namespace

// Series of the per-context families are looked up once, here.
class service_metrics::command_metrics final : public commands::command_observer {
public:
    explicit command_metrics(registry& r)
        : outcomes_(r.add_counter("shopstream_commands_total",
                                  "Commands handled, by context, command type and outcome (conflict_retried: a "
                                  "commit lost to a concurrent writer and the command decided again).",
                                  {"context", "command", "outcome"})) {
        auto& appended = r.add_counter("shopstream_commits_appended_total",
                                       "Commits produced by this process and acknowledged by the log.", {"context"});
        auto& verdicts = r.add_histogram("shopstream_command_verdict_seconds",
                                         "Time from producing a commit to the tail's verdict on it.", {"context"},
                                         latency_buckets());
        for (const auto ctx : eventstore::all_contexts) {
            const auto i = static_cast<std::size_t>(ctx);
            appended_[i] = &appended.with({eventstore::name_of(ctx)});
            verdicts_[i] = &verdicts.with({eventstore::name_of(ctx)});
        }
    }

    void on_outcome(eventstore::context ctx, std::string_view command,
                    commands::observed_outcome outcome) noexcept override {
        outcomes_.with({eventstore::name_of(ctx), command, commands::name_of(outcome)}).inc();
    }
    void on_appended(eventstore::context ctx) noexcept override {
        appended_.at(static_cast<std::size_t>(ctx))->inc();
    }
    void on_verdict(eventstore::context ctx, std::chrono::steady_clock::duration took) noexcept override {
        verdicts_.at(static_cast<std::size_t>(ctx))->observe(seconds(took));
    }

private:
    counter_family& outcomes_;
    std::array<counter*, context_count> appended_{};
    std::array<histogram*, context_count> verdicts_{};
};

service_metrics::service_metrics(std::string_view version)
    : requests_(registry_.add_counter("shopstream_http_requests_total",
                                      "HTTP requests answered, by route template, method and status.",
                                      {"route", "method", "status"})),
      request_seconds_(registry_.add_histogram("shopstream_http_request_duration_seconds",
                                               "Time from taking an HTTP request to handing over its answer.",
                                               {"route", "method"}, latency_buckets())),
      refused_(registry_.add_counter("shopstream_http_connections_refused_total",
                                     "HTTP connections refused or closed to protect other clients, by reason.",
                                     {"reason"})),
      commands_(std::make_unique<command_metrics>(registry_)) {
    registry_.add_gauge("shopstream_build_info", "The running build; always 1.", {"version"}).with({version}).set(1);
    add_process_metrics(registry_);
}

service_metrics::~service_metrics() = default;

void service_metrics::record_request(std::string_view route, std::string_view method, int status,
                                     std::chrono::steady_clock::duration took) {
    char code[12];
    const auto end = std::to_chars(code, code + sizeof code, status).ptr;
    requests_.with({route, method, std::string_view(code, static_cast<std::size_t>(end - code))}).inc();
    request_seconds_.with({route, method}).observe(seconds(took));
}

void service_metrics::record_connection_refused(std::string_view reason) { refused_.with({reason}).inc(); }

commands::command_observer& service_metrics::commands() noexcept { return *commands_; }

void service_metrics::watch(const eventstore::tail& tail) {
    // Each family reads the tail's progress itself: it is cheap (no network round trip).
    const auto each = [&tail](sample_sink& out, auto value_of) {
        for (const auto& p : tail.progress()) {
            const auto v = value_of(p);
            if (v < 0) continue;
            const std::string partition = std::to_string(p.partition);
            out.add({eventstore::name_of(p.ctx), partition}, static_cast<double>(v));
        }
    };
    registry_.add_collected(
        "shopstream_tail_lag_records",
        "Records in the log that the tail has not applied yet (high watermark minus next offset to apply).",
        metric_type::gauge, {"context", "partition"}, [each](sample_sink& out) {
            each(out, [](const eventstore::partition_progress& p) {
                return p.log_end < 0 ? std::int64_t{-1} : std::max<std::int64_t>(0, p.log_end - p.next_offset);
            });
        });
    registry_.add_collected("shopstream_tail_applied_offset",
                            "Next offset the tail will apply: every record below it is in the state store.",
                            metric_type::gauge, {"context", "partition"}, [each](sample_sink& out) {
                                each(out, [](const eventstore::partition_progress& p) { return p.next_offset; });
                            });
}

}  // namespace shopstream::adapters::metrics
