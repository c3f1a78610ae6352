#pragma once
// `shopstream fake-gateway`: the simulator's rules (payment/simulator.hpp) served over HTTP
// in the protocol payment/http_gateway.hpp speaks, so the HTTP client is tested end to end
// against a real socket and a real process that can be stopped, slowed or killed.
//
//   POST /v1/payments/<id>/<authorize|capture|void|refund>   (Idempotency-Key required)
//   GET  /v1/payments/<id>   what the fake holds for the payment (its ledger), or 404
//
// `latency` delays every answer on a timer (no thread is held); tok_timeout's requests are
// never answered (held until the server stops). The only translation unit with RESTinio
// besides the API server. Thread-safety: start() and the destructor from one thread; the
// server's own threads serve requests.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "adapters/payment/simulator.hpp"
#include "base/result.hpp"

namespace shopstream::adapters::payment {

struct fake_gateway_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0: any free port (port() tells which)
    std::chrono::milliseconds latency{0};
    unsigned threads = 2;
};

class fake_gateway {
public:
    [[nodiscard]] static result<std::unique_ptr<fake_gateway>, std::string> start(fake_gateway_options options);
    ~fake_gateway();
    fake_gateway(const fake_gateway&) = delete;
    fake_gateway& operator=(const fake_gateway&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept;

private:
    struct impl;
    explicit fake_gateway(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

// `shopstream fake-gateway --listen HOST:PORT [--latency D]`: prints "listening on
// http://HOST:PORT" as its first stdout line and serves until SIGINT or SIGTERM.
[[nodiscard]] int run_fake_gateway(const fake_gateway_options& options);

}  // namespace shopstream::adapters::payment
