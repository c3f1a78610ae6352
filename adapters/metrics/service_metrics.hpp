#pragma once
// The metrics `shopstream serve` exposes at GET /metrics, and what feeds them:
//
//   shopstream_http_requests_total{route,method,status}      the server, per answer
//   shopstream_http_request_duration_seconds{route,method}   taken → answered
//   shopstream_http_connections_refused_total{reason}        closed for abuse: per_client_limit,
//                                                            header_timeout, header_too_large, uri_too_long
//   shopstream_commands_total{context,command,outcome}       the command handlers' observer
//   shopstream_commits_appended_total{context}               commits the log acknowledged
//   shopstream_command_verdict_seconds{context}              produce → the tail's verdict
//   shopstream_tail_lag_records{context,partition}           high watermark − next offset
//   shopstream_tail_applied_offset{context,partition}        next offset to apply
//   shopstream_projection_lag_records{model,context,partition}     a read model's lag
//   shopstream_projection_applied_offset{model,context,partition}  its next offset to apply
//   shopstream_projection_events_applied_total{model}, _dead_letters_total{model}
//   shopstream_projection_batch_records{model}, _batch_seconds{model}   histograms
//   shopstream_build_info{version}, process_*                 process basics
//
// `route` is the route's template ("/v1/orders/{id}/cancel"), or "unmatched" for a path
// no route has, so raw ids never become label values; every family whose labels come from
// callers still holds at most 1 000 series (capped_family). The families are
// prometheus-cpp's; later parts (projection lag, saga states) register theirs on
// families(), or add a Collectable for values read at scrape time. Help texts must be one
// line without a backslash: prometheus-cpp 1.0.1 writes them unescaped.
//
// Thread-safety: everything may be called from any thread.

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/metrics/families.hpp"
#include "commands/command_observer.hpp"
#include "eventstore/tail.hpp"
#include "projections/runtime.hpp"

namespace shopstream::adapters::metrics {

inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

class service_metrics {
public:
    explicit service_metrics(std::string_view version);
    service_metrics(const service_metrics&) = delete;
    service_metrics& operator=(const service_metrics&) = delete;
    ~service_metrics();

    void record_request(std::string_view route, std::string_view method, int status,
                        std::chrono::steady_clock::duration took);
    // A connection the server closed or refused to protect the others.
    void record_connection_refused(std::string_view reason);

    // For every command handler of the process.
    [[nodiscard]] commands::command_observer& commands() noexcept;

    // Reads the tail's progress at each scrape: it must outlive every expose() call.
    void watch(const eventstore::tail& tail);
    // The same for a projection feeding read model `model` (projections/runtime.hpp).
    void watch(std::string model, const projections::runtime& projection);

    // Values read rather than recorded, collected at each scrape after the families.
    void add_collectable(std::shared_ptr<const prometheus::Collectable> collectable);

    // Every family in the text format (exposition_content_type).
    [[nodiscard]] std::string expose() const;
    [[nodiscard]] prometheus::Registry& families() noexcept { return registry_; }

private:
    class command_metrics;

    prometheus::Registry registry_{prometheus::Registry::InsertBehavior::Throw};
    capped_family<prometheus::Counter, 3> requests_;
    capped_family<prometheus::Histogram, 2> request_seconds_;
    prometheus::Family<prometheus::Counter>& refused_;  // four fixed reasons: no cap needed
    std::unique_ptr<command_metrics> commands_;
    mutable std::mutex collectables_mu_;
    std::vector<std::shared_ptr<const prometheus::Collectable>> collectables_;  // under collectables_mu_
};

}  // namespace shopstream::adapters::metrics
