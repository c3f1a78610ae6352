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
//   shopstream_build_info{version}, process_*                 process basics
//
// `route` is the route's template ("/v1/orders/{id}/cancel"), or "unmatched" for a path
// no route has, so raw ids never become label values. Later parts (projection lag, saga
// states) register their families on families().
//
// Thread-safety: everything may be called from any thread.

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/metrics/registry.hpp"
#include "commands/command_observer.hpp"
#include "eventstore/tail.hpp"

namespace shopstream::adapters::metrics {

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

    [[nodiscard]] std::string expose() const { return registry_.expose(); }
    [[nodiscard]] registry& families() noexcept { return registry_; }

private:
    class command_metrics;

    registry registry_;
    counter_family& requests_;
    histogram_family& request_seconds_;
    counter_family& refused_;
    std::unique_ptr<command_metrics> commands_;
};

}  // namespace shopstream::adapters::metrics
