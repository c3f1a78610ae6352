#include "commands/gateway_worker.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <utility>
#include <vector>

#include "commands/executor.hpp"
#include "commands/saga.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/log_ports.hpp"

namespace shopstream::commands {

namespace es = eventstore;
namespace payment = domain::payment;

namespace {

std::string_view operation_text(provider_operation op) {
    switch (op) {
        case provider_operation::authorize: return "authorize";
        case provider_operation::capture: return "capture";
        case provider_operation::void_payment: return "void";
        case provider_operation::refund: return "refund";
    }
    return "unknown";
}

}  // namespace

struct gateway_engine::core : std::enable_shared_from_this<core> {
    const payment_handler& payments;
    const es::state_store& store;
    payment_provider& provider;
    gateway_worker_options options;
    thread_pool pool;
    std::mutex mu;
    std::condition_variable idle;
    std::size_t active = 0;
    bool stopping = false;

    core(const payment_handler& p, const es::state_store& s, payment_provider& pr, gateway_worker_options o)
        : payments(p), store(s), provider(pr), options(std::move(o)), pool(options.threads) {}

    [[nodiscard]] domain::timestamp_ms now() const { return options.now ? options.now() : system_now_ms(); }
    [[nodiscard]] std::optional<std::int64_t> retry() const { return now() + options.retry_delay.count(); }

    // Whether the store applied the commit at `at` (rather than judging it a loser or a
    // duplicate): an applied commit's location is kept with the aggregate.
    [[nodiscard]] result<bool, std::string> applied(const std::string& id, const es::position& at) const {
        auto locations = store.commit_locations(es::context::payments, id);
        if (!locations) return fail(std::move(locations.error().message));
        for (const auto& l : *locations) {
            if (l.at == at) return true;
        }
        return false;
    }

    // Whether the order is still waiting for its payment (an authorization is worth asking for).
    [[nodiscard]] bool order_pending(const domain::order_id& order) const {
        auto loaded = store.load(es::context::orders, order.value());
        if (!loaded || !*loaded) return false;
        auto state = es::order_aggregate::decode_state((*loaded)->snapshot);
        return state && state->status == domain::order::order_status::pending;
    }

    // One provider call for one event; nullopt when done, a time to try again otherwise.
    std::optional<std::int64_t> act(const consumed_record& record, const payment::event& e,
                                    const payment::state& now_state) {
        provider_request request;
        request.payment = now_state.id;
        if (const auto* requested = std::get_if<payment::payment_requested>(&e)) {
            if (now_state.status != payment::payment_status::requested || !order_pending(requested->order)) {
                return std::nullopt;  // answered already, or nothing left to authorize for
            }
            request.op = provider_operation::authorize;
            request.amount = requested->amount;
            request.method_token = requested->method_token;
        } else if (const auto* captured = std::get_if<payment::payment_captured>(&e)) {
            request.op = provider_operation::capture;
            request.amount = captured->amount;
        } else if (std::holds_alternative<payment::payment_voided>(e)) {
            request.op = provider_operation::void_payment;
            request.amount = now_state.amount;
        } else if (const auto* refunded = std::get_if<payment::payment_refunded>(&e)) {
            request.op = provider_operation::refund;
            request.amount = refunded->amount;
            request.refund_id = refunded->refund_id;
        } else {
            return std::nullopt;  // authorized / declined: the provider's own answers
        }
        const provider_answer answer = provider.call(request);
        const std::string_view op = operation_text(request.op);
        if (answer.result == provider_answer::kind::failed) {
            spdlog::warn("payment gateway: {} of payment {} failed: {} (retried in {} ms; correlation id {})", op,
                         request.payment.value(), answer.reason, options.retry_delay.count(), record.correlation_id);
            return retry();
        }
        if (request.op != provider_operation::authorize) {
            if (answer.result == provider_answer::kind::declined) {
                spdlog::error("payment gateway: the provider declined to {} payment {} that the log says is {}: {} - "
                              "the provider and the log disagree, someone must look (correlation id {})",
                              op, request.payment.value(), op, answer.reason, record.correlation_id);
            } else {
                spdlog::info("payment gateway: {} of payment {} done at the provider ({}; correlation id {})", op,
                             request.payment.value(), answer.reference, record.correlation_id);
            }
            return std::nullopt;
        }
        payment::record_authorization recorded;
        recorded.id = now_state.id;
        recorded.approved = answer.result == provider_answer::kind::approved;
        recorded.authorization_code = answer.reference;
        recorded.decline_reason = answer.reason.empty() ? "declined" : answer.reason;
        recorded.by = options.by;
        recorded.at = now();
        command_options opts;
        opts.timeout = options.command_timeout;
        auto result = payments.handle_sync(payment::command{std::move(recorded)},
                                           command_metadata{"gateway:" + now_state.id.value() + ":authorize",
                                                            record.correlation_id, record.command_id, ""},
                                           opts);
        if (!result && result.error().code != command_errc::rejected) {
            spdlog::warn("payment gateway: cannot record the authorization of payment {}: {} (retried)",
                         now_state.id.value(), result.error().message);
            return retry();
        }
        spdlog::info("payment gateway: payment {} {} (correlation id {})", now_state.id.value(),
                     answer.result == provider_answer::kind::approved ? "authorized" : "declined: " + answer.reason,
                     record.correlation_id);
        return std::nullopt;
    }

    std::optional<std::int64_t> work(const consumed_record& record) {
        auto commit = es::decode_commit(record.value);
        if (!commit) return std::nullopt;  // not a commit: every reader skips it
        auto was_applied = applied(commit->aggregate_id, record.at);
        if (!was_applied) {
            spdlog::error("payment gateway: cannot read the store: {} (retried)", was_applied.error());
            return retry();
        }
        if (!*was_applied) return std::nullopt;  // a loser or a duplicate: nothing happened
        auto current = payments.current(commit->aggregate_id);
        if (!current || !*current) return retry();
        std::optional<std::int64_t> again;
        for (const auto& encoded : commit->events) {
            auto e = es::payment_aggregate::decode_event(encoded.type, encoded.schema_version, encoded.payload);
            if (!e) continue;  // the tail stops on such a commit; nothing to do here
            if (auto later = act(record, *e, (*current)->state)) again = later;
        }
        return again;
    }

    void handle(const consumed_record& record, record_done done) {
        {
            std::lock_guard lock(mu);
            if (stopping) return;  // left in flight: its checkpoint stays below it
            ++active;
        }
        auto self = shared_from_this();
        const bool posted = pool.post([self, record, done = std::move(done)] {
            done(self->work(record));
            std::lock_guard lock(self->mu);
            --self->active;
            self->idle.notify_all();
        });
        if (!posted) {
            std::lock_guard lock(mu);
            --active;
        }
    }

    void stop() {
        {
            std::unique_lock lock(mu);
            stopping = true;
            idle.wait(lock, [this] { return active == 0; });
        }
        pool.stop();
    }
};

gateway_engine::gateway_engine(const payment_handler& payments, const es::state_store& store,
                               payment_provider& provider, gateway_worker_options options)
    : core_(std::make_shared<core>(payments, store, provider, std::move(options))) {}

gateway_engine::~gateway_engine() { stop(); }

void gateway_engine::handle(const consumed_record& record, record_done done) { core_->handle(record, std::move(done)); }

void gateway_engine::stop() { core_->stop(); }

result<std::unique_ptr<gateway_worker>, es::error> gateway_worker::start(gateway_worker_runtime_options options,
                                                                         gateway_engine& engine,
                                                                         es::commit_tail& tail) {
    consumer_options c;
    c.bootstrap_servers = options.bootstrap_servers;
    c.group_id = options.group_id;
    c.primary = es::context::payments;
    c.fetch_wait = options.fetch_wait;
    c.extra = options.extra;
    const auto apply_timeout = options.apply_timeout;
    auto handler = [&engine, &tail, apply_timeout](const consumed_record& record, record_done done) {
        tail.await_position(record.ctx, record.at, es::clock::now() + apply_timeout,
                            [&engine, record, done = std::move(done), apply_timeout](result<void, es::wait_error> w) mutable {
                                if (!w) {
                                    if (w.error().code == es::wait_errc::stopped) return;
                                    return done(system_now_ms() + apply_timeout.count());
                                }
                                engine.handle(record, std::move(done));
                            });
    };
    auto consumer = partitioned_consumer::start(std::move(c), std::move(handler));
    if (!consumer) return fail(std::move(consumer.error()));
    std::unique_ptr<gateway_worker> w(new gateway_worker());
    w->consumer_ = std::move(*consumer);
    return w;
}

gateway_worker::~gateway_worker() = default;

}  // namespace shopstream::commands
