#include "adapters/payment/simulator.hpp"

#include <charconv>
#include <cstdio>
#include <string_view>
#include <utility>

namespace shopstream::adapters::payment {
namespace {

constexpr std::string_view flaky_prefix = "tok_flaky_";
constexpr int max_flaky_failures = 1000;

// FNV-1a: a stable reference per idempotency key, the same in every run and build.
std::string reference_for(std::string_view key) {
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : key) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    char out[24];
    std::snprintf(out, sizeof out, "sim-%016llx", static_cast<unsigned long long>(h));
    return out;
}

std::optional<int> flaky_failures(std::string_view token) {
    if (!token.starts_with(flaky_prefix)) return std::nullopt;
    const std::string_view n = token.substr(flaky_prefix.size());
    int value = 0;
    const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), value);
    if (n.empty() || ec != std::errc{} || end != n.data() + n.size() || value < 0 || value > max_flaky_failures) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

simulator::simulator(simulator_settings settings, gateway_clock& clock) : settings_(settings), clock_(clock) {}

std::optional<outcome> simulator::answer(operation op, const gateway_request& request) {
    if (op == operation::authorize && request.method_token == "tok_timeout") return std::nullopt;
    std::lock_guard lock(mutex_);
    if (const auto it = answered_.find(request.idempotency_key); it != answered_.end()) return it->second;
    outcome out = decide(op, request);
    if (out.kind != outcome_kind::transient_failure) answered_.emplace(request.idempotency_key, out);
    return out;
}

void simulator::start(operation op, gateway_request request, std::chrono::milliseconds timeout,
                      outcome_callback done) {
    auto out = answer(op, request);
    if (!out || settings_.latency >= timeout) {
        clock_.schedule(timeout, [timeout, done = std::move(done)] {
            done(unknown_outcome("no answer from the simulated gateway within " + std::to_string(timeout.count()) +
                                 " ms"));
        });
        return;
    }
    if (settings_.latency.count() == 0) return done(std::move(*out));
    clock_.schedule(settings_.latency, [out = std::move(*out), done = std::move(done)] { done(out); });
}

std::optional<ledger_entry> simulator::ledger(const domain::payment_id& payment) const {
    std::lock_guard lock(mutex_);
    const auto it = ledger_.find(payment.value());
    if (it == ledger_.end()) return std::nullopt;
    return it->second;
}

outcome simulator::decide_authorize(const gateway_request& r) {
    const std::string& token = r.method_token;
    if (const auto failures = flaky_failures(token)) {
        int& seen = transient_seen_[r.idempotency_key];
        if (seen < *failures) {
            ++seen;
            return transient_failure("simulated transient failure " + std::to_string(seen) + " of " +
                                     std::to_string(*failures));
        }
    } else if (token == "tok_declined") {
        return declined("card_declined");
    } else if (token == "tok_insufficient_funds") {
        if (r.amount.amount > insufficient_funds_limit) return declined("insufficient_funds");
    } else if (token != "tok_visa") {
        return declined("unknown_payment_method");
    }
    if (r.amount.amount < 1) return declined("invalid_amount");
    ledger_entry& e = ledger_[r.payment.value()];
    if (e.authorized > 0) return declined("already_authorized");  // another key for the same payment
    e.authorized = r.amount.amount;
    e.currency = std::string(r.amount.currency.code());
    return approved(reference_for(r.idempotency_key));
}

outcome simulator::decide(operation op, const gateway_request& r) {
    if (op == operation::authorize) return decide_authorize(r);
    const auto it = ledger_.find(r.payment.value());
    if (it == ledger_.end() || it->second.authorized == 0) return declined("not_authorized");
    ledger_entry& e = it->second;
    switch (op) {
        case operation::capture:
            if (e.voided) return declined("already_voided");
            if (e.captured > 0) return declined("already_captured");
            e.captured = e.authorized;
            return approved(reference_for(r.idempotency_key));
        case operation::void_payment:
            if (e.captured > 0) return declined("already_captured");
            if (e.voided) return declined("already_voided");
            e.voided = true;
            return approved(reference_for(r.idempotency_key));
        case operation::refund:
            if (e.captured == 0) return declined("not_captured");
            if (r.amount.amount < 1 || r.amount.amount > e.captured - e.refunded) return declined("exceeds_captured");
            e.refunded += r.amount.amount;
            return approved(reference_for(r.idempotency_key));
        case operation::authorize:
            break;
    }
    return declined("unsupported_operation");
}

}  // namespace shopstream::adapters::payment
