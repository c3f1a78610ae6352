#include "adapters/cli/serve_saga.hpp"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <tuple>
#include <optional>
#include <set>
#include <vector>

#include "adapters/metrics/families.hpp"
#include "adapters/metrics/service_metrics.hpp"
#include "adapters/payment/http_gateway.hpp"
#include "adapters/payment/provider_port.hpp"
#include "adapters/payment/resilient_gateway.hpp"
#include "adapters/payment/simulator.hpp"
#include "adapters/payment/timer_clock.hpp"
#include "commands/gateway_worker.hpp"
#include "commands/saga.hpp"

namespace shopstream::adapters {

namespace saga = domain::saga;

namespace {

constexpr std::array<saga::step, 8> all_steps = {
    saga::step::request_payment, saga::step::confirm_order,  saga::step::capture_payment, saga::step::record_capture,
    saga::step::reject_declined, saga::step::reject_timeout, saga::step::void_payment,    saga::step::refund_payment};

constexpr std::array<std::string_view, 9> all_outcomes = {"applied",     "duplicate",           "unchanged",
                                                          "rejected",    "precondition_failed", "conflict",
                                                          "timed_out",   "unavailable",         "internal"};

constexpr std::array<saga::stage, 10> all_stages = {
    saga::stage::not_started, saga::stage::requesting,  saga::stage::authorizing,  saga::stage::confirming,
    saga::stage::capturing,   saga::stage::recording,   saga::stage::completed,    saga::stage::compensating,
    saga::stage::compensated, saga::stage::needs_attention};

// The saga's counters; every series is made at start (fixed label sets), so a step is one
// atomic add.
class saga_metrics final : public commands::saga_observer {
public:
    explicit saga_metrics(prometheus::Registry& r) {
        auto& steps = prometheus::BuildCounter()
                          .Name("shopstream_saga_steps_total")
                          .Help("Steps the order/payment saga handed to a command handler, by step and answer.")
                          .Register(r);
        auto& stages = prometheus::BuildCounter()
                           .Name("shopstream_saga_stages_total")
                           .Help("Saga instances that entered a stage through a step this process took.")
                           .Register(r);
        for (std::size_t s = 0; s < all_steps.size(); ++s) {
            for (std::size_t o = 0; o < all_outcomes.size(); ++o) {
                steps_[s][o] = &steps.Add({{"step", std::string(saga::step_name(all_steps[s]))},
                                           {"outcome", std::string(all_outcomes[o])}});
            }
        }
        for (std::size_t s = 0; s < all_stages.size(); ++s) {
            stages_[s] = &stages.Add({{"stage", std::string(saga::stage_name(all_stages[s]))}});
        }
    }

    void on_step(const domain::order_id&, saga::step step, std::string_view outcome) noexcept override {
        const auto s = static_cast<std::size_t>(step);
        for (std::size_t o = 0; o < all_outcomes.size(); ++o) {
            if (all_outcomes[o] == outcome && s < all_steps.size()) steps_[s][o]->Increment();
        }
    }
    void on_stage(saga::stage stage) noexcept override {
        const auto s = static_cast<std::size_t>(stage);
        if (s < all_stages.size()) stages_[s]->Increment();
    }

private:
    std::array<std::array<prometheus::Counter*, all_outcomes.size()>, all_steps.size()> steps_{};
    std::array<prometheus::Counter*, all_stages.size()> stages_{};
};

// The breaker, read at each scrape.
class breaker_collector final : public prometheus::Collectable {
public:
    explicit breaker_collector(payment::circuit_breaker& b) : breaker_(b) {}
    std::vector<prometheus::MetricFamily> Collect() const override {
        std::vector<prometheus::MetricFamily> out;
        out.push_back(metrics::sample_family("shopstream_payment_breaker_state",
                                             "The payment provider's circuit breaker: 1 for its state now.",
                                             prometheus::MetricType::Gauge));
        out.push_back(metrics::sample_family("shopstream_payment_breaker_opened_total",
                                             "Times the payment provider's circuit breaker opened.",
                                             prometheus::MetricType::Counter));
        const auto now = breaker_.state();
        for (const auto s : {payment::breaker_state::closed, payment::breaker_state::open,
                             payment::breaker_state::half_open}) {
            metrics::add_sample(out[0], {{"state", payment::breaker_state_name(s)}}, s == now ? 1.0 : 0.0);
        }
        metrics::add_sample(out[1], {}, static_cast<double>(breaker_.times_opened()));
        return out;
    }

private:
    payment::circuit_breaker& breaker_;
};

// The worker's records in flight and queued, read at each scrape.
void add_load_samples(std::vector<prometheus::MetricFamily>& out, const commands::gateway_load& load) {
    out.push_back(metrics::sample_family("shopstream_payment_gateway_in_flight",
                                         "Payments the gateway worker is working on now: at most one provider call "
                                         "out each, none holding a thread while it waits.",
                                         prometheus::MetricType::Gauge));
    metrics::add_sample(out.back(), {}, static_cast<double>(load.in_flight.load()));
    out.push_back(metrics::sample_family("shopstream_payment_gateway_queued",
                                         "Payments waiting for one of the gateway worker's in-flight slots.",
                                         prometheus::MetricType::Gauge));
    metrics::add_sample(out.back(), {}, static_cast<double>(load.queued.load()));
}

// Shared with the collector, which the metrics registry may keep past the roles. The
// clock is declared first, so it is destroyed last: the gateways' timers run on it.
struct gateway_stack {
    payment::timer_clock clock;
    std::unique_ptr<payment::payment_gateway> provider;
    std::unique_ptr<payment::resilient_gateway> resilient;
    std::shared_ptr<const commands::gateway_load> load;
};

}  // namespace

result<serve_roles, std::string> parse_roles(std::string_view text) {
    serve_roles r{false, false, false, false};
    if (text.empty()) return fail(std::string("expected a comma-separated list of api, saga, gateway, projections"));
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const std::string_view name = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (name == "api") {
            r.api = true;
        } else if (name == "saga") {
            r.saga = true;
        } else if (name == "gateway") {
            r.gateway = true;
        } else if (name == "projections") {
            r.projections = true;
        } else {
            return fail("unknown role '" + std::string(name) + "': expected api, saga, gateway or projections");
        }
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return r;
}

result<payment::breaker_settings, std::string> parse_breaker(std::string_view text) {
    const auto wrong = [&](std::string why) {
        return fail("expected RATE/CALLS/WINDOW/OPEN such as 0.5/20/10s/5s, got '" + std::string(text) + "': " + why);
    };
    std::vector<std::string_view> parts;
    for (std::size_t start = 0;;) {
        const auto slash = text.find('/', start);
        parts.push_back(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    if (parts.size() != 4) return wrong("four parts separated by '/'");
    payment::breaker_settings b;
    auto [rate_end, rate_ec] = std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), b.failure_rate);
    if (parts[0].empty() || rate_ec != std::errc{} || rate_end != parts[0].data() + parts[0].size() ||
        !(b.failure_rate > 0 && b.failure_rate <= 1)) {
        return wrong("the failure rate is a number above 0 and at most 1");
    }
    auto [calls_end, calls_ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), b.minimum_calls);
    if (parts[1].empty() || calls_ec != std::errc{} || calls_end != parts[1].data() + parts[1].size() ||
        b.minimum_calls < 1) {
        return wrong("the minimum number of calls is an integer of at least 1");
    }
    for (auto [part, into, name] : {std::tuple{parts[2], &b.window, "window"}, std::tuple{parts[3], &b.open_for, "open time"}}) {
        auto d = payment::parse_duration(part);
        if (!d || d->count() == 0) return wrong(std::string("the ") + name + " is a duration above 0 (" + (d ? "0" : d.error()) + ")");
        *into = *d;
    }
    return b;
}

result<void, std::string> check_payment_gateway(std::string_view text) {
    if (text == "simulator" || text.starts_with("http://") || text.starts_with("https://")) {
        if (text != "simulator" && text.find("://") + 3 >= text.size()) {
            return fail("expected simulator or a URL with a host, got '" + std::string(text) + "'");
        }
        return {};
    }
    return fail("expected simulator or an http:// or https:// URL, got '" + std::string(text) + "'");
}

struct saga_roles::impl {
    std::shared_ptr<gateway_stack> gateway;
    std::unique_ptr<payment::provider_port> port;
    std::unique_ptr<saga_metrics> observer;
    std::unique_ptr<commands::saga_engine> engine;
    std::unique_ptr<commands::saga_runtime> runtime;
    std::unique_ptr<commands::gateway_engine> worker_engine;
    std::unique_ptr<commands::gateway_worker> worker;
};

result<std::unique_ptr<saga_roles>, std::string> saga_roles::start(const saga_roles_config& config,
                                                                   const commands::order_handler& orders,
                                                                   const commands::payment_handler& payments,
                                                                   const eventstore::state_store& store,
                                                                   eventstore::tail& tail,
                                                                   metrics::service_metrics& metrics) {
    std::unique_ptr<saga_roles> roles(new saga_roles());
    roles->impl_ = std::make_unique<impl>();
    impl& p = *roles->impl_;
    std::map<std::string, std::string> group = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
    for (const auto& [k, v] : config.kafka_settings) group[k] = v;
    if (config.gateway) {
        if (auto ok = check_payment_gateway(config.payment_gateway); !ok) return fail("--payment-gateway: " + ok.error());
        p.gateway = std::make_shared<gateway_stack>();
        if (config.payment_gateway == "simulator") {
            p.gateway->provider = std::make_unique<payment::simulator>(payment::simulator_settings{}, p.gateway->clock);
        } else {
            p.gateway->provider = std::make_unique<payment::http_gateway>(config.payment_gateway);
        }
        p.gateway->resilient =
            std::make_unique<payment::resilient_gateway>(*p.gateway->provider, payment::retry_policy{}, config.breaker,
                                                         p.gateway->clock);
        p.port = std::make_unique<payment::provider_port>(*p.gateway->resilient, config.call_timeout);
        commands::gateway_worker_options worker_options;
        worker_options.max_in_flight = config.max_payments_in_flight;
        p.worker_engine = std::make_unique<commands::gateway_engine>(payments, store, *p.port, worker_options);
        p.gateway->load = p.worker_engine->load();
        // The collector holds the stack: a scrape after the roles stopped still reads a live breaker.
        auto stack = p.gateway;
        struct owning_collector final : prometheus::Collectable {
            explicit owning_collector(std::shared_ptr<gateway_stack> s) : stack(std::move(s)), inner(stack->resilient->breaker()) {}
            std::vector<prometheus::MetricFamily> Collect() const override {
                auto out = inner.Collect();
                add_load_samples(out, *stack->load);
                return out;
            }
            std::shared_ptr<gateway_stack> stack;
            breaker_collector inner;
        };
        metrics.add_collectable(std::make_shared<owning_collector>(stack));
        commands::gateway_worker_runtime_options w;
        w.bootstrap_servers = config.bootstrap_servers;
        w.fetch_wait = config.fetch_wait;
        w.extra = group;
        auto started = commands::gateway_worker::start(w, *p.worker_engine, tail);
        if (!started) return fail("cannot start the payment gateway worker: " + started.error().message);
        p.worker = std::move(*started);
        spdlog::info("payment gateway worker: provider {} (per-call timeout {} ms, retries and a circuit breaker, "
                     "at most {} payments in flight)",
                     config.payment_gateway, config.call_timeout.count(), worker_options.max_in_flight);
    }
    if (config.saga) {
        p.observer = std::make_unique<saga_metrics>(metrics.families());
        commands::saga_options s;
        s.decisions.payment_timeout_ms = config.payment_timeout.count();
        s.observer = p.observer.get();
        p.engine = std::make_unique<commands::saga_engine>(orders, payments, tail, s);
        commands::saga_runtime_options r;
        r.bootstrap_servers = config.bootstrap_servers;
        r.fetch_wait = config.fetch_wait;
        r.extra = group;
        auto started = commands::saga_runtime::start(r, *p.engine, tail);
        if (!started) return fail("cannot start the saga: " + started.error().message);
        p.runtime = std::move(*started);
        spdlog::info("order/payment saga running (payment timeout {} ms)", config.payment_timeout.count());
    }
    return roles;
}

saga_roles::~saga_roles() {
    if (!impl_) return;
    impl_->runtime.reset();
    if (impl_->engine) impl_->engine->stop();
    impl_->worker.reset();
    // Calls in flight are waited for (their callbacks hold the worker), but not retried:
    // a record left unanswered is handed out again after a restart.
    if (impl_->gateway) impl_->gateway->resilient->stop_retrying();
    if (impl_->worker_engine) impl_->worker_engine->stop();
    impl_->engine.reset();
    impl_->worker_engine.reset();
}

std::string saga_roles::breaker_state() const {
    if (!impl_ || !impl_->gateway) return "not running";
    return std::string(payment::breaker_state_name(impl_->gateway->resilient->breaker().state()));
}

}  // namespace shopstream::adapters
