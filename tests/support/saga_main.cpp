// shopstream_test_saga: one saga process of the saga crash tests (issue 12;
// tests/e2e/serve_saga_test.cpp, serve_saga_crash.*). It runs what `serve --roles saga`
// runs - its own LMDB state store, tail and producer, the order and payment handlers, the
// saga engine and its runtime (commands/saga.hpp) - against the Kafka-protocol cluster of
// --brokers, until SIGTERM or SIGINT.
//
// The crash seam is here, not in the product: with --crash the process SIGKILLs itself at
// one exact point of the first saga step named STEP that is applied:
//   after_step:STEP        the step's command is answered applied (its commit is in the
//                          log and in the store) and nothing else happened after it: the
//                          reaction has not gone on, and the record that triggered it is
//                          not done, so the consumer group's checkpoint is still below it
//                          (saga_observer::on_step);
//   after_checkpoint:STEP  the first offset commit after that step, acknowledged by the
//                          group coordinator, that moved a checkpoint of the order's
//                          partitions (orders.events or payments.events, one partition
//                          number) past every record the store had applied of it when the
//                          step was: the reaction to that step and to its own record ended,
//                          and a restart resumes after them (consumer_options::on_committed).
//
// stdout, one line each, flushed at once (so a SIGKILL loses none already printed):
//   READY                                              the runtime started
//   ASSIGNED                                           the group gave it partitions
//   STEP <order> <step> <outcome>                      each step the saga took
//   CRASH <point> <step> <order> [<ctx>:<p>:<next>...] the next thing is SIGKILL
//   STOPPED                                            stopped on a signal
// Exit code 0 after STOPPED, 1 when something cannot start, 2 on usage.
//
// Threads: the engine's pool and the handlers' callbacks call the observer; the consumer's
// thread calls the commit hook; main() waits for a signal.
#include <signal.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "commands/command_handler.hpp"
#include "commands/saga.hpp"
#include "domain/saga/order_payment.hpp"
#include "eventstore/log_ports.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"

namespace {

using namespace shopstream;
using namespace std::chrono_literals;
namespace es = eventstore;

enum class crash_point : std::uint8_t { none, after_step, after_checkpoint };

struct arguments {
    std::string brokers;
    std::string data_dir;
    std::int64_t payment_timeout_ms = 30'000;
    crash_point point = crash_point::none;
    std::string step;  // the saga step's name (domain::saga::step_name)
};

bool parse_crash(std::string_view text, arguments& a) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) return false;
    const auto point = text.substr(0, colon);
    if (point == "after_step") {
        a.point = crash_point::after_step;
    } else if (point == "after_checkpoint") {
        a.point = crash_point::after_checkpoint;
    } else {
        return false;
    }
    a.step = text.substr(colon + 1);
    return true;
}

bool parse(int argc, char** argv, arguments& a) {
    if (argc % 2 != 1) return false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const std::string_view value = argv[i + 1];
        if (flag == "--brokers") {
            a.brokers = value;
        } else if (flag == "--data-dir") {
            a.data_dir = value;
        } else if (flag == "--payment-timeout-ms") {
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), a.payment_timeout_ms);
            if (ec != std::errc{} || end != value.data() + value.size() || a.payment_timeout_ms <= 0) return false;
        } else if (flag == "--crash") {
            if (!parse_crash(value, a)) return false;
        } else {
            return false;
        }
    }
    return !a.brokers.empty() && !a.data_dir.empty();
}

// One whole line at a time (several threads speak).
void say(const std::string& line) {
    const std::string whole = line + '\n';
    ::flockfile(stdout);
    std::fwrite(whole.data(), 1, whole.size(), stdout);
    std::fflush(stdout);
    ::funlockfile(stdout);
}

[[noreturn]] void crash(const std::string& line) {
    say("CRASH " + line);
    ::kill(::getpid(), SIGKILL);
    std::abort();  // not reached
}

// Prints every step and dies where the plan says.
class crash_plan final : public commands::saga_observer {
public:
    crash_plan(const arguments& a, const es::commit_tail& tail) : point_(a.point), step_(a.step), tail_(tail) {}

    void on_step(const domain::order_id& order, domain::saga::step step, std::string_view outcome) noexcept override {
        const std::string name(domain::saga::step_name(step));
        say("STEP " + order.value() + " " + name + " " + std::string(outcome));
        if (point_ == crash_point::none || name != step_ || outcome != "applied") return;
        if (point_ == crash_point::after_step) crash("after_step " + name + " " + order.value());
        std::lock_guard lock(mu_);
        if (armed_) return;
        // What the store has applied of the order's partitions now (the step's own commit
        // included): the checkpoint that passes it follows this step's reactions.
        const auto count = tail_.partition_count(es::context::orders);
        const auto partition = es::murmur2_partition(order.value(), count);
        armed_.emplace();
        armed_->order = order.value();
        armed_->step = name;
        for (const auto ctx : {es::context::orders, es::context::payments}) {
            armed_->applied[{ctx, partition}] = tail_.applied_through(ctx, partition);
        }
    }
    void on_stage(domain::saga::stage) noexcept override {}

    // consumer_options::on_committed, on the consumer's thread.
    void on_committed(const std::map<commands::owned_partition, es::log_offset>& committed) {
        std::lock_guard lock(mu_);
        if (!armed_) return;
        bool passed = false;
        std::string where;
        for (const auto& [key, applied] : armed_->applied) {
            const auto it = committed.find(key);
            if (it == committed.end()) continue;
            where += " " + std::string(es::name_of(key.ctx)) + ":" + std::to_string(key.partition.value()) + ":" +
                     std::to_string(it->second.value());
            if (applied.value() > 0 && it->second.value() >= applied.value()) passed = true;
        }
        if (passed) crash("after_checkpoint " + armed_->step + " " + armed_->order + where);
    }

private:
    struct armed {
        std::string order;
        std::string step;
        std::map<commands::owned_partition, es::log_offset> applied;
    };
    crash_point point_;
    std::string step_;
    const es::commit_tail& tail_;
    std::mutex mu_;
    std::optional<armed> armed_;
};

}  // namespace

int main(int argc, char** argv) {
    arguments args;
    if (!parse(argc, argv, args)) {
        std::fprintf(stderr,
                     "usage: shopstream_test_saga --brokers B --data-dir D [--payment-timeout-ms N] "
                     "[--crash after_step:STEP|after_checkpoint:STEP]\n");
        return 2;
    }
    spdlog::set_default_logger(spdlog::stderr_color_mt("saga"));  // stdout carries the protocol
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any library thread starts

    auto store = es::state_store::open(args.data_dir, {std::uint64_t{1} << 30, es::state_store::durability::synced});
    if (!store) {
        std::fprintf(stderr, "state store: %s\n", store.error().message.c_str());
        return 1;
    }
    es::tail_options tail_options;
    tail_options.bootstrap_servers = args.brokers;
    auto tail = es::tail::start(tail_options, **store);
    if (!tail) {
        std::fprintf(stderr, "tail: %s\n", tail.error().message.c_str());
        return 1;
    }
    es::producer_options producer_options;
    producer_options.bootstrap_servers = args.brokers;
    auto producer = es::producer::start(producer_options);
    if (!producer) {
        std::fprintf(stderr, "producer: %s\n", producer.error().message.c_str());
        return 1;
    }
    auto orders = std::make_unique<commands::order_handler>(commands::store_runtime{**store, **producer, **tail});
    auto payments = std::make_unique<commands::payment_handler>(commands::store_runtime{**store, **producer, **tail});
    crash_plan plan(args, **tail);
    commands::saga_options saga_options;
    saga_options.decisions.payment_timeout_ms = args.payment_timeout_ms;
    saga_options.observer = &plan;
    auto engine = std::make_unique<commands::saga_engine>(*orders, *payments, **tail, saga_options);
    commands::saga_runtime_options runtime_options;
    runtime_options.bootstrap_servers = args.brokers;
    runtime_options.extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};  // as serve
    auto runtime = commands::saga_runtime::start(runtime_options, *engine, **tail, {},
                                                 [&plan](const auto& committed) { plan.on_committed(committed); });
    if (!runtime) {
        std::fprintf(stderr, "saga runtime: %s\n", runtime.error().message.c_str());
        return 1;
    }
    say("READY");
    // Once the group gave this member its partitions (a deadline timed from a placement
    // before that would already be overdue when the saga first sees the order).
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while ((*runtime)->consumer().owned().empty() && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(20ms);  // the consumer has no assignment callback to wait on
    }
    if (!(*runtime)->consumer().owned().empty()) say("ASSIGNED");
    int received = 0;
    sigwait(&signals, &received);
    // serve's order (adapters/cli/serve_saga.cpp): the runtime, the engine, the handlers.
    runtime->reset();
    engine->stop();
    engine.reset();
    orders->stop();
    payments->stop();
    producer->reset();
    tail->reset();
    orders.reset();
    payments.reset();
    store->reset();
    say("STOPPED");
    return 0;
}
