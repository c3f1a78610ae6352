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
// Asynchronous on libcurl's multi interface: one thread of the gateway's own runs every
// transfer (curl_multi_poll, woken by curl_multi_wakeup when a call starts), each an easy
// handle with CURLOPT_TIMEOUT_MS; connections are reused through the multi handle's
// connection cache. A call waiting for its answer holds no thread. At most
// `max_transfers` are on the wire at once; calls beyond wait in a FIFO queue, not yet
// sent, and their per-call timeout runs from start(): a call still queued when its
// timeout passes is answered transient_failure then (nothing was sent), and one sent later
// gets only what is left of it. `done` runs on the gateway's thread (and must not block it: every other
// transfer waits meanwhile), or inline from start() once the destructor has begun.
//
// The destructor finishes every call still pending before it joins the thread: one not
// sent yet → transient_failure, one on the wire → unknown (it may have acted).
//
// Thread-safe: start() from any thread, callbacks included; curl_global_init runs once.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "adapters/payment/gateway.hpp"

namespace shopstream::adapters::payment {

class http_gateway final : public payment_gateway {
public:
    static constexpr std::size_t default_max_transfers = 256;

    // `base_url`: "http://host:port" (a trailing slash is dropped).
    explicit http_gateway(std::string base_url, std::size_t max_transfers = default_max_transfers);
    http_gateway(const http_gateway&) = delete;
    http_gateway& operator=(const http_gateway&) = delete;
    ~http_gateway() override;

    void start(operation op, gateway_request request, std::chrono::milliseconds timeout,
               outcome_callback done) override;

    [[nodiscard]] const std::string& base_url() const noexcept { return base_url_; }

private:
    struct impl;
    std::string base_url_;
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::adapters::payment
