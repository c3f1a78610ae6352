#include "commands/gateway_worker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
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
    // One record being worked: its events, acted on one after another.
    struct job {
        consumed_record record;
        record_done done;
        std::vector<payment::event> events;
        payment::state state;
        std::size_t next = 0;  // the next event to act on
        std::optional<std::int64_t> again;
    };

    const payment_handler& payments;
    const es::state_store& store;
    payment_provider& provider;
    gateway_worker_options options;
    // in_flight is changed under mu (the bound and stop() read it there); both are atomic
    // for a metrics scrape, which reads without it.
    std::shared_ptr<gateway_load> counts = std::make_shared<gateway_load>();
    thread_pool pool;
    std::mutex mu;
    std::condition_variable idle;
    std::deque<std::shared_ptr<job>> waiting;  // under mu, in arrival order
    bool stopping = false;

    core(const payment_handler& p, const es::state_store& s, payment_provider& pr, gateway_worker_options o)
        : payments(p), store(s), provider(pr), options(std::move(o)), pool(options.threads) {}

    [[nodiscard]] domain::timestamp_ms now() const { return options.now ? options.now() : system_now_ms(); }
    [[nodiscard]] std::optional<std::int64_t> retry() const { return now() + options.retry_delay.count(); }

    // Runs `work` on the worker's pool. The pool stops only once nothing is in flight, so
    // a refusal is not expected; the work then runs inline rather than being lost.
    template <class F>
    void post(F work) {
        if (!pool.post(work)) work();
    }

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

    // The provider call one event asks for; nullopt when there is none.
    [[nodiscard]] std::optional<provider_request> request_for(const payment::event& e,
                                                              const payment::state& now_state) const {
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
        return request;
    }

    // On the pool: what the record asks of the provider, read from the local store.
    void prepare(const std::shared_ptr<job>& j) {
        auto commit = es::decode_commit(j->record.value);
        if (!commit) return finish(j);  // not a commit: every reader skips it
        auto was_applied = applied(commit->aggregate_id, j->record.at);
        if (!was_applied) {
            spdlog::error("payment gateway: cannot read the store: {} (retried)", was_applied.error());
            j->again = retry();
            return finish(j);
        }
        if (!*was_applied) return finish(j);  // a loser or a duplicate: nothing happened
        auto current = payments.current(commit->aggregate_id);
        if (!current || !*current) {
            j->again = retry();
            return finish(j);
        }
        j->state = (*current)->state;
        for (const auto& encoded : commit->events) {
            auto e = es::payment_aggregate::decode_event(encoded.type, encoded.schema_version, encoded.payload);
            if (e) j->events.push_back(std::move(*e));  // else the tail stops on such a commit
        }
        step(j);
    }

    // On the pool: starts the provider call of the next event that asks for one, or ends
    // the record. The call's answer continues on the pool.
    void step(const std::shared_ptr<job>& j) {
        while (j->next < j->events.size()) {
            auto request = request_for(j->events[j->next++], j->state);
            if (!request) continue;
            auto self = shared_from_this();
            provider.start(*request, [self, j, request = *request](provider_answer answer) {
                self->post([self, j, request, answer = std::move(answer)] { self->answered(j, request, answer); });
            });
            return;
        }
        finish(j);
    }

    void answered(const std::shared_ptr<job>& j, const provider_request& request, const provider_answer& answer) {
        const consumed_record& record = j->record;
        const std::string_view op = operation_text(request.op);
        if (answer.result == provider_answer::kind::failed) {
            spdlog::warn("payment gateway: {} of payment {} failed: {} (retried in {} ms; correlation id {})", op,
                         request.payment.value(), answer.reason, options.retry_delay.count(), record.correlation_id);
            j->again = retry();
            return step(j);
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
            return step(j);
        }
        payment::record_authorization recorded;
        recorded.id = j->state.id;
        recorded.approved = answer.result == provider_answer::kind::approved;
        recorded.authorization_code = answer.reference;
        recorded.decline_reason = answer.reason.empty() ? "declined" : answer.reason;
        recorded.by = options.by;
        recorded.at = now();
        command_options opts;
        opts.timeout = options.command_timeout;
        auto self = shared_from_this();
        payments.handle(payment::command{std::move(recorded)},
                        command_metadata{"gateway:" + j->state.id.value() + ":authorize", record.correlation_id,
                                         record.command_id, ""},
                        opts, [self, j, answer](command_result result) {
                            self->post([self, j, answer, result = std::move(result)] { self->recorded(j, answer, result); });
                        });
    }

    void recorded(const std::shared_ptr<job>& j, const provider_answer& answer, const command_result& result) {
        if (!result && result.error().code != command_errc::rejected) {
            spdlog::warn("payment gateway: cannot record the authorization of payment {}: {} (retried)",
                         j->state.id.value(), result.error().message);
            j->again = retry();
            return step(j);
        }
        spdlog::info("payment gateway: payment {} {} (correlation id {})", j->state.id.value(),
                     answer.result == provider_answer::kind::approved ? "authorized" : "declined: " + answer.reason,
                     j->record.correlation_id);
        step(j);
    }

    void begin(std::shared_ptr<job> j) {
        auto self = shared_from_this();
        post([self, j = std::move(j)] { self->prepare(j); });
    }

    // The record is done: its consumer learns when to hand it out again, and the next
    // queued record takes its place.
    void finish(const std::shared_ptr<job>& j) {
        j->done(j->again);
        std::shared_ptr<job> next;
        {
            std::lock_guard lock(mu);
            if (!stopping && !waiting.empty()) {
                next = std::move(waiting.front());
                waiting.pop_front();
                counts->queued.store(waiting.size());
            } else {
                --counts->in_flight;
                idle.notify_all();
            }
        }
        if (next) begin(std::move(next));
    }

    void handle(const consumed_record& record, record_done done) {
        auto j = std::make_shared<job>();
        j->record = record;
        j->done = std::move(done);
        {
            std::lock_guard lock(mu);
            if (stopping) return;  // left in flight: its checkpoint stays below it
            if (counts->in_flight >= std::max<std::size_t>(options.max_in_flight, 1)) {
                waiting.push_back(std::move(j));
                counts->queued.store(waiting.size());
                return;
            }
            ++counts->in_flight;
        }
        begin(std::move(j));
    }

    void stop() {
        {
            std::unique_lock lock(mu);
            stopping = true;
            waiting.clear();  // never started: held for whoever runs next
            counts->queued.store(0);
            idle.wait(lock, [this] { return counts->in_flight == 0; });
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

std::size_t gateway_engine::in_flight() const noexcept { return core_->counts->in_flight.load(); }

std::size_t gateway_engine::queued() const noexcept { return core_->counts->queued.load(); }

std::shared_ptr<const gateway_load> gateway_engine::load() const noexcept { return core_->counts; }

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
