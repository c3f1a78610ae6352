#pragma once
// The payment gateway worker (issue 12): the shell between the payments log and the
// provider that moves the money. It reads payments.events through a consumer group of its
// own (commands/saga_consumer.hpp, no co-partitioned topic) and, for every APPLIED commit
// (the local state store holds it at the record's position), acts on its events:
//
//   payment_requested   authorize at the provider (while the payment is still requested
//                       and its order pending), then record the answer with
//                       record_authorization (command id "gateway:<payment>:authorize");
//   payment_captured    capture there;   payment_voided   void there;
//   payment_refunded    refund there, once per refund id.
//
// The log says what must happen; the worker makes the provider do it. Every call carries
// an idempotency key of the payment and the step (the provider port builds it), so a record
// handed out twice - after a crash, a rebalance, or a retry - never moves money twice. A
// call that fails (transient, unknown, breaker open) holds the record and is made again
// after `retry_delay`; a decline of capture, void or refund is logged (someone must look:
// the provider disagrees with the log).
//
// commands/ knows no adapters: the provider comes in through payment_provider, which
// adapters/payment/provider_port.hpp implements over the resilient gateway.
//
// Provider calls hold no thread: the worker starts a call (payment_provider::start) and
// continues in its callback, and records an authorization with the payment handler's
// asynchronous handle(). Its own small pool runs the store reads (commit_locations,
// current, the order's state), the decisions and the continuations; neither the
// consumer's thread nor a gateway's or a timer's thread does more than post to it. At most
// `max_in_flight` records are worked at once (each with at most one provider call out at
// a time); records beyond wait in a queue, in the order they arrived, and start as
// others finish (in_flight() and queued() say how many, for /metrics).
//
// Thread-safety: handle(), in_flight(), queued() and load() from any thread; stop() from
// one. stop() waits for every record in flight, its provider calls included, so the
// provider and the payment handler are never called back after it (serve tells the
// resilient gateway to stop retrying first, so that is one per-call timeout at most:
// adapters/cli/serve_saga.cpp).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "commands/command_handler.hpp"
#include "commands/saga_consumer.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::commands {

enum class provider_operation : std::uint8_t { authorize = 0, capture = 1, void_payment = 2, refund = 3 };

struct provider_request {
    provider_operation op = provider_operation::authorize;
    domain::payment_id payment;
    domain::money amount;      // authorize, capture, refund
    std::string method_token;  // authorize
    std::string refund_id;     // refund
};

struct provider_answer {
    enum class kind : std::uint8_t { approved = 0, declined = 1, failed = 2 };
    kind result = kind::failed;  // failed: nothing known to have happened, or unknown: retry
    std::string reference;       // approved: the provider's code
    std::string reason;          // declined / failed: why
};

using provider_callback = std::function<void(provider_answer)>;

// The provider as the worker needs it: start() returns at once, `done` is called exactly
// once with the answer, on any thread, and must not block (the worker only posts there).
// Safe from several threads.
class payment_provider {
public:
    virtual ~payment_provider() = default;
    virtual void start(const provider_request& request, provider_callback done) = 0;
};

// How many records the worker holds (shared, so a metrics scrape may outlive the engine).
struct gateway_load {
    std::atomic<std::size_t> in_flight{0};  // being worked: store reads, a provider call, a record
    std::atomic<std::size_t> queued{0};     // waiting for one of max_in_flight
};

struct gateway_worker_options {
    std::size_t threads = 2;  // the worker's own: store reads and continuations, never a provider wait
    std::size_t max_in_flight = 1'024;  // records worked at once; beyond: queued in arrival order
    std::chrono::milliseconds command_timeout{5'000};
    std::chrono::milliseconds retry_delay{1'000};
    domain::actor by{"payment-gateway", domain::role::system};
    std::function<domain::timestamp_ms()> now;  // empty: the system clock
};

class gateway_engine {
public:
    // `store` is the one `payments` and the tail feed; all must outlive the engine.
    gateway_engine(const payment_handler& payments, const eventstore::state_store& store, payment_provider& provider,
                   gateway_worker_options options = {});
    gateway_engine(const gateway_engine&) = delete;
    gateway_engine& operator=(const gateway_engine&) = delete;
    ~gateway_engine();  // stop()

    // Acts on one payments.events record the local store has applied (or skipped).
    void handle(const consumed_record& record, record_done done);
    // Waits for the records in flight; queued and later records are held for whoever runs
    // next (their checkpoint stays below them).
    void stop();

    [[nodiscard]] std::size_t in_flight() const noexcept;
    [[nodiscard]] std::size_t queued() const noexcept;
    [[nodiscard]] std::shared_ptr<const gateway_load> load() const noexcept;

    struct core;

private:
    std::shared_ptr<core> core_;
};

struct gateway_worker_runtime_options {
    std::string bootstrap_servers;
    std::string group_id = "shopstream-payment-gateway";
    std::chrono::milliseconds fetch_wait{5};
    std::chrono::milliseconds apply_timeout{10'000};
    std::map<std::string, std::string> extra;
};

// The engine behind its consumer group: each record once the local store applied it.
class gateway_worker {
public:
    [[nodiscard]] static result<std::unique_ptr<gateway_worker>, eventstore::error> start(
        gateway_worker_runtime_options options, gateway_engine& engine, eventstore::commit_tail& tail);
    ~gateway_worker();

    [[nodiscard]] const partitioned_consumer& consumer() const noexcept { return *consumer_; }

private:
    gateway_worker() = default;
    std::unique_ptr<partitioned_consumer> consumer_;
};

}  // namespace shopstream::commands
