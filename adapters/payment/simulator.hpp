#pragma once
// The deterministic payment provider simulator, the default gateway (issue 12), and the
// rules `shopstream fake-gateway` serves over HTTP. Its answers depend only on the method
// token, the amount and what it answered before for the same payment, so every test and
// every run sees the same ones:
//
//   tok_visa                 authorizes (reference "sim-<16 hex digits of the key>")
//   tok_declined             declines: "card_declined"
//   tok_insufficient_funds   declines above insufficient_funds_limit minor units
//                            ("insufficient_funds"), authorizes up to it
//   tok_timeout              never answers (the caller sees `unknown` at its timeout)
//   tok_flaky_N              fails transiently N times for the same idempotency key, then
//                            authorizes (N is 0-1000)
//   any other token          declines: "unknown_payment_method"
//
// capture, void and refund act on a payment this simulator authorized: capture once the
// authorized amount, void an uncaptured authorization, refund at most what was captured;
// anything else declines, naming why ("not_authorized", "already_voided", ...). Every
// answer that is not a transient failure is kept by idempotency key, and the same key
// again gets the same answer without acting again: money moves once per key (ledger()).
// `latency` delays every answer (a timer of the injected clock).
//
// When the callback runs: with no latency, an answer is given inline from start() (on the
// caller's thread, before start() returns); with a latency, and for every unknown (the
// latency reaches the timeout, or tok_timeout), on the clock's timer thread once the
// latency or the whole timeout has passed. The rules act (the ledger moves) when the call
// starts; only the answer waits. No call holds a thread while it waits.
//
// Thread-safe: one mutex around the ledger, never held while a callback runs.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment {

inline constexpr std::int64_t insufficient_funds_limit = 10'000;  // minor units

struct simulator_settings {
    std::chrono::milliseconds latency{0};
};

// What the provider holds for one payment.
struct ledger_entry {
    std::int64_t authorized = 0;
    std::int64_t captured = 0;
    std::int64_t refunded = 0;
    bool voided = false;
    std::string currency;

    friend bool operator==(const ledger_entry&, const ledger_entry&) = default;
};

class simulator final : public payment_gateway {
public:
    explicit simulator(simulator_settings settings = {}, gateway_clock& clock = system_clock());

    // The answer to one call, or nullopt for "never answers" (tok_timeout). No latency:
    // the HTTP fake gateway waits it itself; start() below waits it on the clock.
    [[nodiscard]] std::optional<outcome> answer(operation op, const gateway_request& request);

    // answer() after the latency; `unknown` when the latency reaches the timeout or the
    // rules never answer (given when the whole timeout has passed). See the opening comment
    // for the thread `done` runs on.
    void start(operation op, gateway_request request, std::chrono::milliseconds timeout,
               outcome_callback done) override;

    [[nodiscard]] std::optional<ledger_entry> ledger(const domain::payment_id& payment) const;
    [[nodiscard]] std::chrono::milliseconds latency() const noexcept { return settings_.latency; }

private:
    outcome decide(operation op, const gateway_request& request);  // under mutex_
    outcome decide_authorize(const gateway_request& request);  // under mutex_

    simulator_settings settings_;
    gateway_clock& clock_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, outcome> answered_;    // idempotency key → final answer
    std::unordered_map<std::string, int> transient_seen_;  // idempotency key → failures given
    std::map<std::string, ledger_entry> ledger_;           // payment id → what it holds
};

}  // namespace shopstream::adapters::payment
