#pragma once
// What `shopstream serve` runs of the order/payment saga (issue 12), apart from serve.cpp:
// the --roles list, the payment gateway named by --payment-gateway (the deterministic
// simulator, or the HTTP client of a provider at a URL, behind retries and a circuit
// breaker), the saga runtime and the gateway worker (commands/saga.hpp,
// commands/gateway_worker.hpp), and their metrics:
//
//   shopstream_saga_steps_total{step,outcome}     each step the saga handed to a handler
//   shopstream_saga_stages_total{stage}           stages entered through a step taken here
//   shopstream_payment_breaker_state{state}       1 for the breaker's state now, 0 otherwise
//   shopstream_payment_breaker_opened_total       times the breaker opened
//   shopstream_payment_gateway_in_flight          payments the gateway worker is working on
//   shopstream_payment_gateway_queued             payments waiting beyond max_payments_in_flight
//
// The saga's consumer group is "shopstream-saga", the worker's
// "shopstream-payment-gateway": several serve processes split the partitions of each.
//
// Thread-safety: start() and the destructor from one thread; breaker_state() from any.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/payment/circuit_breaker.hpp"
#include "base/result.hpp"
#include "commands/command_handler.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"

namespace shopstream::adapters {

namespace metrics {
class service_metrics;
}

// --roles: which parts this process runs.
struct serve_roles {
    bool api = true;
    bool saga = true;
    bool gateway = true;
    bool projections = true;
};

// "api,saga,gateway,projections" (any non-empty subset, any order) → the roles; the reason otherwise.
[[nodiscard]] result<serve_roles, std::string> parse_roles(std::string_view text);

struct saga_roles_config {
    bool saga = true;
    bool gateway = true;
    std::string payment_gateway = "simulator";  // or "http://host:port"
    std::chrono::milliseconds payment_timeout{30'000};
    std::chrono::milliseconds call_timeout{2'000};  // one call to the provider
    std::string bootstrap_servers;
    std::chrono::milliseconds fetch_wait{5};
    std::map<std::string, std::string> kafka_settings;
    payment::breaker_settings breaker;  // the gateway worker's circuit breaker
    // Payments the gateway worker works on at once (each at most one provider call out,
    // holding no thread while it waits); more wait in arrival order.
    std::size_t max_payments_in_flight = 1'024;
};

// --payment-breaker "0.5/20/10s/5s": failure rate (0, 1], minimum calls (at least 1), window
// and open time (durations above 0, payment::parse_duration) → the settings; the reason otherwise.
[[nodiscard]] result<payment::breaker_settings, std::string> parse_breaker(std::string_view text);

// Whether --payment-gateway names something this build can use: "simulator" or an
// http:// or https:// URL; the reason otherwise.
[[nodiscard]] result<void, std::string> check_payment_gateway(std::string_view text);

class saga_roles {
public:
    // Everything given must outlive the roles.
    [[nodiscard]] static result<std::unique_ptr<saga_roles>, std::string> start(
        const saga_roles_config& config, const commands::order_handler& orders,
        const commands::payment_handler& payments, const eventstore::state_store& store, eventstore::tail& tail,
        metrics::service_metrics& metrics);
    saga_roles(const saga_roles&) = delete;
    saga_roles& operator=(const saga_roles&) = delete;
    // Stops the consumers, then the engines (their last steps finish): before the handlers stop.
    ~saga_roles();

    // "closed", "open", "half_open"; "not running" without the gateway role.
    [[nodiscard]] std::string breaker_state() const;

    struct impl;

private:
    saga_roles() = default;
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::adapters
