#include "adapters/metrics/service_metrics.hpp"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <limits>
#include <string>

#include "adapters/metrics/process_metrics.hpp"

namespace shopstream::adapters::metrics {
namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

constexpr std::size_t context_count = eventstore::all_contexts.size();

// The tail's progress, read once per scrape for both families (no network round trip).
class tail_collector final : public prometheus::Collectable {
public:
    explicit tail_collector(const eventstore::tail& tail) : tail_(tail) {}

    std::vector<prometheus::MetricFamily> Collect() const override {
        std::vector<prometheus::MetricFamily> out;
        out.push_back(sample_family(
            "shopstream_tail_lag_records",
            "Records in the log that the tail has not applied yet (high watermark minus next offset to apply).",
            prometheus::MetricType::Gauge));
        out.push_back(sample_family("shopstream_tail_applied_offset",
                                    "Next offset the tail will apply: every record below it is in the state store.",
                                    prometheus::MetricType::Gauge));
        auto& lag = out[0];
        auto& applied = out[1];
        for (const auto& p : tail_.progress()) {
            const std::string partition = std::to_string(p.partition.value());
            const std::string_view ctx = eventstore::name_of(p.ctx);
            if (p.log_end.value() >= 0) {
                add_sample(lag, {{"context", ctx}, {"partition", partition}},
                           static_cast<double>(std::max<std::int64_t>(0, p.log_end - p.next_offset)));
            }
            if (p.next_offset.value() >= 0) {
                add_sample(applied, {{"context", ctx}, {"partition", partition}}, static_cast<double>(p.next_offset.value()));
            }
        }
        return out;
    }

private:
    const eventstore::tail& tail_;
};

// A projection's progress and counters, read once per scrape (projections/runtime.hpp).
class projection_collector final : public prometheus::Collectable {
public:
    projection_collector(std::string model, const projections::runtime& r) : model_(std::move(model)), runtime_(r) {}

    std::vector<prometheus::MetricFamily> Collect() const override {
        std::vector<prometheus::MetricFamily> out;
        out.push_back(sample_family("shopstream_projection_lag_records",
                                    "Records in the log the read model has not applied yet (high watermark minus next offset).",
                                    prometheus::MetricType::Gauge));
        out.push_back(sample_family("shopstream_projection_applied_offset",
                                    "Next offset the projection will apply: every record below it is in the read model.",
                                    prometheus::MetricType::Gauge));
        for (const auto& p : runtime_.progress()) {
            const std::string partition = std::to_string(p.partition.value());
            const std::string_view ctx = eventstore::name_of(p.ctx);
            if (p.log_end.value() >= 0) {
                add_sample(out[0], {{"model", model_}, {"context", ctx}, {"partition", partition}},
                           static_cast<double>(std::max<std::int64_t>(0, p.log_end - p.applied)));
            }
            add_sample(out[1], {{"model", model_}, {"context", ctx}, {"partition", partition}},
                       static_cast<double>(p.applied.value()));
        }
        const auto s = runtime_.stats();
        auto counter = [&](std::string name, std::string help, double value) {
            auto f = sample_family(std::move(name), std::move(help), prometheus::MetricType::Counter);
            add_sample(f, {{"model", model_}}, value);
            out.push_back(std::move(f));
        };
        counter("shopstream_projection_events_applied_total", "Events the apply rule accepted and the read model stored.",
                static_cast<double>(s.events_applied));
        counter("shopstream_projection_dead_letters_total",
                "Records copied to the dead-letter topic: not valid commits, or refused by the read model.",
                static_cast<double>(s.dead_lettered));
        counter("shopstream_projection_model_retries_total",
                "Tries of a read model that had failed (PostgreSQL away): the projection waits and tries again.",
                static_cast<double>(s.model_retries));
        auto waiting = sample_family("shopstream_projection_model_unavailable",
                                     "1 while the projection waits for its read model to answer again, else 0.",
                                     prometheus::MetricType::Gauge);
        add_sample(waiting, {{"model", model_}}, runtime_.outage() ? 1.0 : 0.0);
        out.push_back(std::move(waiting));
        out.push_back(histogram_family("shopstream_projection_batch_records", "Records per read-model transaction.",
                                       s.batch_records));
        out.push_back(histogram_family("shopstream_projection_batch_seconds",
                                       "Time to judge, decode and write one read-model transaction.", s.batch_seconds));
        return out;
    }

private:
    prometheus::MetricFamily histogram_family(std::string name, std::string help, const projections::histogram& h) const {
        prometheus::MetricFamily f{std::move(name), std::move(help), prometheus::MetricType::Histogram, {}};
        prometheus::ClientMetric m;
        m.label.push_back({"model", model_});
        m.histogram.sample_count = h.count;
        m.histogram.sample_sum = h.sum;
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.counts.size(); ++i) {
            cumulative += h.counts[i];
            const double bound = i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity();
            m.histogram.bucket.push_back({cumulative, bound});
        }
        f.metric.push_back(std::move(m));
        return f;
    }

    std::string model_;
    const projections::runtime& runtime_;
};

}  // namespace

// Series of the per-context families are looked up once, here.
class service_metrics::command_metrics final : public commands::command_observer {
public:
    explicit command_metrics(prometheus::Registry& r)
        : outcomes_(prometheus::BuildCounter()
                        .Name("shopstream_commands_total")
                        .Help("Commands handled, by context, command type and outcome (conflict_retried: a commit "
                              "lost to a concurrent writer and the command decided again).")
                        .Register(r),
                    {"context", "command", "outcome"}, capped_family<prometheus::Counter, 3>::default_max_series) {
        auto& appended = prometheus::BuildCounter()
                             .Name("shopstream_commits_appended_total")
                             .Help("Commits produced by this process and acknowledged by the log.")
                             .Register(r);
        auto& verdicts = prometheus::BuildHistogram()
                             .Name("shopstream_command_verdict_seconds")
                             .Help("Time from producing a commit to the tail's verdict on it.")
                             .Register(r);
        for (const auto ctx : eventstore::all_contexts) {
            const auto i = static_cast<std::size_t>(ctx);
            const prometheus::Labels labels{{"context", std::string(eventstore::name_of(ctx))}};
            appended_[i] = &appended.Add(labels);
            verdicts_[i] = &verdicts.Add(labels, latency_buckets());
        }
    }

    void on_outcome(eventstore::context ctx, std::string_view command,
                    commands::observed_outcome outcome) noexcept override {
        outcomes_.with({eventstore::name_of(ctx), command, commands::name_of(outcome)}).Increment();
    }
    void on_appended(eventstore::context ctx) noexcept override {
        appended_.at(static_cast<std::size_t>(ctx))->Increment();
    }
    void on_verdict(eventstore::context ctx, std::chrono::steady_clock::duration took) noexcept override {
        verdicts_.at(static_cast<std::size_t>(ctx))->Observe(seconds(took));
    }

private:
    capped_family<prometheus::Counter, 3> outcomes_;
    std::array<prometheus::Counter*, context_count> appended_{};
    std::array<prometheus::Histogram*, context_count> verdicts_{};
};

service_metrics::service_metrics(std::string_view version)
    : requests_(prometheus::BuildCounter()
                    .Name("shopstream_http_requests_total")
                    .Help("HTTP requests answered, by route template, method and status.")
                    .Register(registry_),
                {"route", "method", "status"}, capped_family<prometheus::Counter, 3>::default_max_series),
      request_seconds_(prometheus::BuildHistogram()
                           .Name("shopstream_http_request_duration_seconds")
                           .Help("Time from taking an HTTP request to handing over its answer.")
                           .Register(registry_),
                       {"route", "method"}, capped_family<prometheus::Histogram, 2>::default_max_series,
                       latency_buckets()),
      refused_(prometheus::BuildCounter()
                   .Name("shopstream_http_connections_refused_total")
                   .Help("HTTP connections refused or closed to protect other clients, by reason.")
                   .Register(registry_)),
      commands_(std::make_unique<command_metrics>(registry_)) {
    prometheus::BuildGauge()
        .Name("shopstream_build_info")
        .Help("The running build; always 1.")
        .Register(registry_)
        .Add({{"version", std::string(version)}})
        .Set(1);
    add_collectable(std::make_shared<process_collector>());
}

service_metrics::~service_metrics() = default;

void service_metrics::record_request(std::string_view route, std::string_view method, int status,
                                     std::chrono::steady_clock::duration took) {
    char code[12];
    const auto end = std::to_chars(code, code + sizeof code, status).ptr;
    requests_.with({route, method, std::string_view(code, static_cast<std::size_t>(end - code))}).Increment();
    request_seconds_.with({route, method}).Observe(seconds(took));
}

void service_metrics::record_connection_refused(std::string_view reason) {
    refused_.Add({{"reason", std::string(reason)}}).Increment();
}

commands::command_observer& service_metrics::commands() noexcept { return *commands_; }

void service_metrics::watch(const eventstore::tail& tail) { add_collectable(std::make_shared<tail_collector>(tail)); }

void service_metrics::watch(std::string model, const projections::runtime& projection) {
    add_collectable(std::make_shared<projection_collector>(std::move(model), projection));
}

void service_metrics::add_collectable(std::shared_ptr<const prometheus::Collectable> collectable) {
    std::lock_guard lock(collectables_mu_);
    collectables_.push_back(std::move(collectable));
}

std::string service_metrics::expose() const {
    std::vector<prometheus::MetricFamily> families = registry_.Collect();
    std::vector<std::shared_ptr<const prometheus::Collectable>> collectables;
    {
        std::lock_guard lock(collectables_mu_);  // not held while collecting: a Collect may be slow
        collectables = collectables_;
    }
    for (const auto& c : collectables) {
        auto more = c->Collect();
        std::move(more.begin(), more.end(), std::back_inserter(families));
    }
    return prometheus::TextSerializer().Serialize(families);
}

}  // namespace shopstream::adapters::metrics
