#pragma once
// The order/payment saga's runtime (issue 12; ARCHITECTURE.md decision 7): the shell
// around the pure decisions of domain/saga/order_payment.hpp.
//
//   saga_engine   for one order: read the order and its payment from the local state
//                 store (through the command handlers), decide, hand the step to the
//                 command handler with its deterministic command id, and - once the
//                 handler answered - decide again, until no step is due. A step taken
//                 twice (after a crash, by two processes, or because the store lagged)
//                 is a duplicate the apply rule ignores, or "unchanged" at the decider.
//                 Reactions to one order are coalesced: while one runs, later triggers
//                 wait for it and get one more round. Before it times a payment out it
//                 makes sure the store holds the payments log as far as the brokers do
//                 (an authorization in time must not be missed because the tail lagged).
//   saga_runtime  the engine behind the co-partitioned consumer group
//                 (commands/saga_consumer.hpp) over orders.events with payments.events:
//                 every record of an order or of its payment, once the local store has
//                 applied it, triggers the engine for its key (a payment is keyed by its
//                 order's id). A reaction that must wake up later - the payment deadline
//                 of a pending order, or a retry after a command failed - HOLDS the
//                 consumer's checkpoint at its record, and the consumer hands that record
//                 out again at the time: the deadline index lives in the consumer's holds
//                 and, after a restart, is rebuilt by reading again from the checkpoint.
//                 An overdue deadline then fires once: the rejection it issues carries
//                 the same command id whichever process, or restart, issues it.
//
// Every step taken is one log line (order, step, outcome, stage, correlation id of the
// request that placed the order, carried along every record of the saga) and one count
// for the observer (metrics by step and outcome, and by stage entered).
//
// Thread-safety: react() may be called from any thread; callbacks run on the engine's
// pool or the handlers' executors. stop() (also the destructor) from one thread: stop the
// runtime first, then the engine, then the handlers.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "commands/command_handler.hpp"
#include "commands/saga_consumer.hpp"
#include "domain/saga/order_payment.hpp"

namespace shopstream::commands {

// What the saga did, for metrics. Cheap, non-blocking, any thread.
class saga_observer {
public:
    virtual ~saga_observer() = default;
    // One step handed to a command handler and its answer ("applied", "duplicate",
    // "unchanged", "rejected", or the failure that makes it retried). Called once the
    // answer came (an applied step's commit is in the log and in the store) and before the
    // reaction goes on: the record that triggered it is not done yet, so the runtime's
    // checkpoint is still below it (the crash tests' "after a step, before its checkpoint"
    // point, tests/support/saga_main.cpp).
    virtual void on_step(const domain::order_id& order, domain::saga::step step, std::string_view outcome) noexcept = 0;
    // A saga entered `stage` through a step this process took.
    virtual void on_stage(domain::saga::stage stage) noexcept = 0;
};

struct saga_options {
    domain::saga::settings decisions;  // the payment timeout, the saga's actor
    std::chrono::milliseconds command_timeout{5'000};
    std::chrono::milliseconds retry_delay{1'000};  // after a step failed (timed out, unavailable, ...)
    std::size_t threads = 2;
    saga_observer* observer = nullptr;  // optional; must outlive the engine
    // Milliseconds since the epoch, as the domain's timestamps; empty: the system clock.
    std::function<domain::timestamp_ms()> now;
};

// What reacting to an order came to.
struct saga_reaction {
    domain::saga::stage stage = domain::saga::stage::not_started;
    // When to react again if nothing happens first: the payment deadline, or a retry.
    std::optional<domain::timestamp_ms> wake_at;
    bool settled = true;  // false: a step failed and is retried at wake_at
    int steps = 0;        // commands handed to the handlers in this reaction
};

struct saga_trigger {
    std::string correlation_id;  // of the request that placed the order
    std::string causation_id;    // the command id of the record that triggered it
};

class saga_engine {
public:
    // The handlers (and the tail they share) must outlive the engine.
    saga_engine(const order_handler& orders, const payment_handler& payments, eventstore::commit_tail& tail,
                saga_options options = {});
    saga_engine(const saga_engine&) = delete;
    saga_engine& operator=(const saga_engine&) = delete;
    ~saga_engine();  // stop()

    void react(const domain::order_id& order, saga_trigger trigger, std::function<void(saga_reaction)> done);
    [[nodiscard]] saga_reaction react_sync(const domain::order_id& order, saga_trigger trigger = {});

    // Refuses new reactions (answered settled, nothing done) and waits for those running.
    void stop();

    struct core;

private:
    std::shared_ptr<core> core_;
};

struct saga_runtime_options {
    std::string bootstrap_servers;
    std::string group_id = "shopstream-saga";
    std::chrono::milliseconds fetch_wait{5};
    std::chrono::milliseconds commit_interval{200};
    // How long a record may wait for the local store to apply it before it is retried.
    std::chrono::milliseconds apply_timeout{10'000};
    std::map<std::string, std::string> extra;  // librdkafka settings, as they are
};

class saga_runtime {
public:
    // `engine` and `tail` (the local store's) must outlive the runtime. `on_committed` is
    // the consumer's test seam (consumer_options::on_committed); the product passes none.
    [[nodiscard]] static result<std::unique_ptr<saga_runtime>, eventstore::error> start(
        saga_runtime_options options, saga_engine& engine, eventstore::commit_tail& tail,
        std::function<domain::timestamp_ms()> now = {}, commit_observer on_committed = {});
    ~saga_runtime();

    [[nodiscard]] const partitioned_consumer& consumer() const noexcept { return *consumer_; }

private:
    saga_runtime() = default;
    std::unique_ptr<partitioned_consumer> consumer_;
};

// Milliseconds since the epoch on the system clock.
[[nodiscard]] domain::timestamp_ms system_now_ms() noexcept;

}  // namespace shopstream::commands
