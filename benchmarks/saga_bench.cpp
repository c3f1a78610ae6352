// Saga throughput harness (issue 12): orders/s from order_placed to a terminal state
// through the whole order/payment saga - the saga runtime and the payment gateway worker on
// their consumer groups, the simulator at zero latency behind the resilient gateway - and
// placement → confirmation latency at half that rate, in one process on the embedded
// Kafka-protocol cluster (librdkafka's mock), as `shopstream serve --kafka mock` runs.
//
//   build/release/benchmarks/saga_bench [--orders N] [--partitions P] [--inflight C]
//                                       [--worker-threads T]
//
// --worker-threads: the gateway worker's own threads (store reads and continuations; a
// provider call holds none since the provider path is asynchronous), default 2 as serve.
//
// Phases, each on orders of its own:
//   ceiling   N place_order commands with the saga stopped: the command path's commits/s in
//             this run. An order takes six commits (placed, requested, authorized, confirmed,
//             captured, capture recorded), so ceiling/6 orders/s is what the saga could reach
//             if it were free.
//   catch-up  the saga and the worker start and drive those N orders to completion.
//   live      N more orders placed (at most C outstanding) while the saga runs: first
//             placement → last completion.
//   latency   N/2 orders paced at half the live rate: placement → order_confirmed applied.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "adapters/payment/provider_port.hpp"
#include "adapters/payment/resilient_gateway.hpp"
#include "adapters/payment/simulator.hpp"
#include "commands/gateway_worker.hpp"
#include "commands/saga.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/tail.hpp"
#include "eventstore/topics.hpp"

namespace {

using namespace shopstream;
using clock_type = std::chrono::steady_clock;
namespace saga = domain::saga;

// Counts completions and times confirmations, per order.
class timing_observer final : public commands::saga_observer {
public:
    void on_step(const domain::order_id& order, saga::step step, std::string_view outcome) noexcept override {
        if (step != saga::step::confirm_order || outcome != "applied") return;
        const auto now = clock_type::now();
        std::lock_guard lock(mu_);
        const auto it = placed_.find(order.value());
        if (it != placed_.end()) latencies_ms_.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    }
    void on_stage(saga::stage stage) noexcept override {
        if (stage == saga::stage::completed) completed_.fetch_add(1);
    }
    void placed(const std::string& id, clock_type::time_point at) {
        std::lock_guard lock(mu_);
        placed_[id] = at;
    }
    std::vector<double> take_latencies() {
        std::lock_guard lock(mu_);
        return std::exchange(latencies_ms_, {});
    }
    [[nodiscard]] long completed() const { return completed_.load(); }

private:
    std::mutex mu_;
    std::unordered_map<std::string, clock_type::time_point> placed_;
    std::vector<double> latencies_ms_;
    std::atomic<long> completed_{0};
};

double pct(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// Places `count` tok_visa orders named "<prefix>-<i>", at most `inflight` outstanding, paced
// at `rate`/s when > 0; returns the seconds it took until every placement was answered.
double place_orders(const commands::order_handler& orders, timing_observer& observer, const std::string& prefix,
                    int count, int inflight, double rate) {
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    int answered = 0;
    int failed = 0;
    const auto t0 = clock_type::now();
    const auto now_ms = commands::system_now_ms();
    for (int i = 0; i < count; ++i) {
        if (rate > 0) std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<long>(i * 1e6 / rate)));
        {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return outstanding < inflight; });
            ++outstanding;
        }
        const std::string id = prefix + "-" + std::to_string(i);
        observer.placed(id, clock_type::now());
        commands::command_options opts;
        opts.timeout = std::chrono::seconds(30);
        const std::string customer = "c-" + std::to_string(i % 1000);
        orders.handle(domain::order::place_order{domain::order_id(id), domain::customer_id(customer),
                                                 {{"sku-1", 1, 1000 + i % 7}}, "EUR", {customer, domain::role::customer},
                                                 now_ms, "tok_visa"},
                      {"place-" + id, "corr-" + id, "", ""}, opts, [&](commands::command_result r) {
                          std::lock_guard lock(mu);
                          if (!r && failed++ < 3) {
                              spdlog::error("place_order failed: {} {}", r.error().message, r.error().rejection.reason);
                          }
                          --outstanding;
                          ++answered;
                          cv.notify_all();
                      });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return answered == count; });
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Waits until `target` orders completed in all; false after `timeout`.
bool await_completed(const timing_observer& observer, long target, std::chrono::seconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (observer.completed() < target) {
        if (clock_type::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a harness's poll, not a test's wait
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int count = 20'000;
    int partitions = 16;
    int inflight = 2'048;
    int worker_threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--orders") count = std::stoi(argv[i + 1]);
        else if (a == "--partitions") partitions = std::stoi(argv[i + 1]);
        else if (a == "--inflight") inflight = std::stoi(argv[i + 1]);
        else if (a == "--worker-threads") worker_threads = std::stoi(argv[i + 1]);
    }
    spdlog::set_level(spdlog::level::warn);  // one line per saga step otherwise
    auto cluster = eventstore::embedded_cluster::start(3);
    if (!cluster) return std::fprintf(stderr, "%s\n", cluster.error().message.c_str()), 1;
    if (auto r = eventstore::create_topics(*cluster, partitions); !r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
    const std::string brokers = cluster->bootstrap_servers();
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-saga-bench";
    std::filesystem::remove_all(dir);

    auto store = eventstore::state_store::open(dir, {std::uint64_t{8} << 30, eventstore::state_store::durability::relaxed});
    if (!store) return std::fprintf(stderr, "%s\n", store.error().message.c_str()), 1;
    eventstore::tail_options to;
    to.bootstrap_servers = brokers;
    to.fetch_wait = eventstore::embedded_fetch_wait;
    auto tail = eventstore::tail::start(to, **store);
    eventstore::producer_options po;
    po.bootstrap_servers = brokers;
    po.queue_messages = 1'000'000;
    auto producer = eventstore::producer::start(po);
    if (!tail || !producer) return std::fprintf(stderr, "cannot start the tail or the producer\n"), 1;
    const commands::store_runtime rt{**store, **producer, **tail};
    {
        commands::order_handler orders(rt);
        commands::payment_handler payments(rt);
        timing_observer observer;
        std::printf("saga_bench: %d orders per phase, %d partitions, %d in flight, %u hardware threads\n", count,
                    partitions, inflight, std::thread::hardware_concurrency());

        const double ceiling_s = place_orders(orders, observer, "ceiling", count, inflight, 0);
        const double ceiling_commits = count / ceiling_s;
        std::printf("ceiling   %8.0f commits/s (place_order, saga stopped) = %.0f orders/s at 6 commits per order\n",
                    ceiling_commits, ceiling_commits / 6);

        adapters::payment::simulator simulator;  // zero latency
        adapters::payment::resilient_gateway gateway(simulator);
        adapters::payment::provider_port port(gateway, std::chrono::milliseconds(2'000));
        commands::gateway_worker_options wo;
        wo.threads = static_cast<std::size_t>(worker_threads);
        commands::gateway_engine worker_engine(payments, **store, port, wo);
        commands::saga_options so;
        so.decisions.payment_timeout_ms = 600'000;  // the catch-up must not time orders out
        so.observer = &observer;
        commands::saga_engine engine(orders, payments, **tail, so);
        const std::map<std::string, std::string> group = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
        const auto t_catch = clock_type::now();
        auto worker = commands::gateway_worker::start({brokers, "bench-gateway", eventstore::embedded_fetch_wait,
                                                       std::chrono::seconds(30), group},
                                                      worker_engine, **tail);
        auto runtime = commands::saga_runtime::start({brokers, "bench-saga", eventstore::embedded_fetch_wait,
                                                      std::chrono::milliseconds(200), std::chrono::seconds(30), group},
                                                     engine, **tail);
        if (!worker || !runtime) return std::fprintf(stderr, "cannot start the saga or the worker\n"), 1;
        // Both groups hold every partition (the mock makes a new member wait about
        // session.timeout.ms - 1 s): the catch-up proper starts there.
        const auto everything = static_cast<std::size_t>(partitions) * 2;  // primary + co-partitioned topic
        while ((*runtime)->consumer().owned().size() < everything || (*worker)->consumer().owned().size() < everything / 2) {
            if (clock_type::now() - t_catch > std::chrono::seconds(60)) return std::fprintf(stderr, "the groups did not form\n"), 1;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polled: the consumer has no join callback
        }
        const auto t_joined = clock_type::now();
        if (!await_completed(observer, count, std::chrono::seconds(600))) {
            return std::fprintf(stderr, "catch-up: only %ld of %d orders completed\n", observer.completed(), count), 1;
        }
        const double join_s = std::chrono::duration<double>(t_joined - t_catch).count();
        const double catch_s = std::chrono::duration<double>(clock_type::now() - t_joined).count();
        std::printf("catch-up  %8.0f orders/s (%.2f of the ceiling) after the groups' join (%.1f s)\n", count / catch_s,
                    (count / catch_s) / (ceiling_commits / 6), join_s);

        const auto t_live = clock_type::now();
        (void)place_orders(orders, observer, "live", count, inflight, 0);
        if (!await_completed(observer, 2L * count, std::chrono::seconds(600))) {
            return std::fprintf(stderr, "live: only %ld of %d orders completed\n", observer.completed() - count, count), 1;
        }
        const double live_s = std::chrono::duration<double>(clock_type::now() - t_live).count();
        const double live_rate = count / live_s;
        std::printf("live      %8.0f orders/s placed and completed (%.2f of the ceiling), %.0f commits/s\n", live_rate,
                    live_rate / (ceiling_commits / 6), live_rate * 6);

        (void)observer.take_latencies();
        const int paced = count / 2;
        (void)place_orders(orders, observer, "paced", paced, inflight, live_rate / 2);
        (void)await_completed(observer, 2L * count + paced, std::chrono::seconds(600));
        const auto latencies = observer.take_latencies();
        std::printf("latency   at %.0f orders/s: placement -> order_confirmed p50 %.1f ms, p99 %.1f ms (%zu orders)\n",
                    live_rate / 2, pct(latencies, 0.5), pct(latencies, 0.99), latencies.size());
        runtime->reset();
        engine.stop();
        worker->reset();
        worker_engine.stop();
        orders.stop();
        payments.stop();
    }
    producer->reset();
    tail->reset();
    store->reset();
    std::filesystem::remove_all(dir);
    return 0;
}
