#pragma once
// The HTTP client of an external payment provider (issue 12), on libcurl (Debian
// libcurl4-openssl-dev). The wire protocol is the one `shopstream fake-gateway` serves
// (payment/fake_gateway.hpp):
//
//   POST <base>/v1/payments/<payment id>/<authorize|capture|void|refund>
//   Idempotency-Key: <key>
//   {"amount":{"amount":<minor units>,"currency":"EUR"},"token":"tok_...","refundId":"..."}
//   → 200 {"outcome":"approved","reference":"..."}    approved
//   → 402 {"outcome":"declined","reason":"..."}       declined
//   → 429, 503                                        transient_failure (not acted on)
//   → other 5xx, a broken or missing answer           unknown (may have acted)
//   → other 4xx                                       declined ("provider refused the request")
//
// Connection-level failures are classified by what the provider can have seen: refused,
// unresolvable or timed out while connecting → transient_failure (nothing was sent);
// timed out or cut after the request went out → unknown. The per-call timeout covers the
// whole exchange (CURLOPT_TIMEOUT_MS).
//
// Thread-safe: each calling thread uses its own curl handle (kept per thread, so
// connections are reused); curl_global_init runs once.

#include <chrono>
#include <string>

#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment {

class http_gateway final : public payment_gateway {
public:
    // `base_url`: "http://host:port" (a trailing slash is dropped).
    explicit http_gateway(std::string base_url);

    [[nodiscard]] outcome call(operation op, const gateway_request& request,
                               std::chrono::milliseconds timeout) override;

    [[nodiscard]] const std::string& base_url() const noexcept { return base_url_; }

private:
    std::string base_url_;
};

}  // namespace shopstream::adapters::payment
