#pragma once
// The HTTP API server (issue #4, first increment): an asynchronous HTTP/1.1 server
// (RESTinio on standalone asio, kept out of this header and of every file but server.cpp)
// that runs the shared request pipeline - the listeners and their edge, the route table
// (404, 405 with Allow), authentication, the rate limit, traceparent and X-Request-Id,
// the checks of a command request and its Idempotency-Key (enter, replay, leave), in-flight
// accounting, problem rendering and sending, /healthz, /readyz, /metrics and the OpenAPI
// document - and hands every other request, as a `request` (request.hpp), to its context's
// routes: order_routes.hpp (the order commands, histories and queries over the orders model
// in PostgreSQL) and review_routes.hpp (the review commands, histories and queries over the
// local reviews replica).
//
// A command request holds no thread while it waits for its verdict: the route hands the
// command to the context's command_handler and returns; the handler's callback only posts
// the result to a small completion pool of the server's, which builds the response,
// records a keyed answer, and hands the write to RESTinio (which moves it onto the
// connection's asio strand). History reads, which block on store reads, run on a small
// pool of their own so they never stall the event loop; order queries, which block on
// PostgreSQL round trips, on another (order_query_threads).
//
// Shutdown (shutdown(), or the destructor): stop accepting, answer requests that arrive on
// open keep-alive connections with 503 + `Connection: close`, wait (bounded by
// drain_timeout) until every request already taken is answered and written, then stop
// the event loop. The command handlers' dependencies must be shut down AFTER shutdown()
// and BEFORE the server is destroyed, in the order command_handler.hpp gives: a callback
// that fires after shutdown() still references the server's state.
//
// The edge (server.cpp's edge_socket) protects clients from each other: a connection limit
// per client address, a bound on the time to send a request head, and request heads past
// the limits answered 414/431 as problems (not a dropped connection); what it closes or
// refuses is counted in shopstream_http_connections_refused_total{reason}. An optional
// second listener answers the probes and /metrics with slots of its own.
//
// Thread-safety: start() and shutdown() from one thread; port() and health_port() from any.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/auth/jwt.hpp"
#include "adapters/http/idempotency_store.hpp"
#include "adapters/metrics/service_metrics.hpp"
#include "base/result.hpp"
#include "commands/command_handler.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"

namespace shopstream::queries {
class order_queries;
class review_queries;
}
namespace shopstream::projections {
class runtime;
}

namespace shopstream::adapters::http {

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0: an ephemeral port, see server::port()
    unsigned io_threads = 2;
    unsigned read_threads = 2;  // history reads (blocking Kafka fetches)
    // Order queries and their read-your-writes polls: each holds its thread for PostgreSQL
    // round trips, so a pool of their own, as wide as the order queries' connection pool
    // (queries::order_queries::options::max_connections), keeps that many in flight.
    unsigned order_query_threads = 8;
    // Command answers: rendering (a state decode) and recording a keyed answer (an LMDB
    // write), taken off the tail's thread, whose callbacks must stay short.
    unsigned completion_threads = 2;
    std::size_t max_connections = 4096;
    // Connections one client address may hold open at once; the next is closed at accept
    // and counted (shopstream_http_connections_refused_total{reason="per_client_limit"}).
    // 0: no limit, for a server behind a proxy that limits on its own (there every client
    // has the proxy's address).
    std::size_t max_connections_per_client = 256;
    // From accepting a connection, or from the first byte of a later request on it, until
    // its request head is complete; past it the connection is closed and counted
    // (reason="header_timeout"), so a client sending heads slowly holds no slot for long.
    std::chrono::milliseconds header_timeout{5'000};
    // A second listener (health_port set; 0: an ephemeral port, see health_port()) that
    // answers only /healthz, /readyz and /metrics, with 128 connection slots of its own (16
    // per client address). HTTP cannot tell a probe from an API request before its head is
    // read, and a flood holds slots without ever sending one, so slots reserved on the API
    // listener cannot be kept for probes; a listener of their own can. Unset: none (the API
    // listener answers probes too).
    std::string health_host = "127.0.0.1";
    std::optional<std::uint16_t> health_port;
    // How long a command may wait for its verdict before the answer is 504.
    std::chrono::milliseconds command_timeout{5'000};
    // RESTinio closes a connection whose request is not answered within this; it stays
    // above command_timeout so the 504 is what a client sees.
    std::chrono::milliseconds request_timeout{8'000};
    // An idle keep-alive connection is closed then (and one whose request, head and body,
    // is not received within it).
    std::chrono::milliseconds idle_timeout{30'000};
    std::chrono::milliseconds drain_timeout{10'000};
    // Per-principal token bucket (rate_limiter.hpp), checked right after authentication:
    // requests per second per JWT subject (0: no limit) and the bucket size (nullopt:
    // max(1, 2 × rate)). A refused request is a 429 with Retry-After and does no work.
    double rate_limit = 5000;
    std::optional<double> rate_burst;
    // How long a read with X-Min-Position (or ?minPosition=) waits for the position to be
    // applied before it is answered 503 with Retry-After.
    std::chrono::milliseconds min_position_timeout{2'000};
    // Logs every request at info (request id, method, path, status, time); otherwise only
    // 5xx answers are logged (warn) and the rest at debug.
    bool access_log = false;
    // false (`serve --roles` without api): the API listener answers only /healthz, /readyz
    // and /metrics, like the health listener, and every other request - a route of the API,
    // or none - is a 503 problem (type api-not-served, no Retry-After) saying that this
    // process does not serve the API. 503, not 404: a 404 on GET /v1/orders/{id} would tell
    // a client the order does not exist, and a load balancer takes a 503 from one backend
    // as a reason to try another, which is what a misrouted request needs.
    bool api = true;
};

// One route the server answers: the method and the path template, parameters named as the
// OpenAPI document names them ("/v1/orders/{id}/cancel").
struct route_info {
    std::string method;
    std::string path;

    friend bool operator==(const route_info&, const route_info&) = default;
    friend auto operator<=>(const route_info&, const route_info&) = default;
};

// Every route of the server, in its routing order (the OpenAPI document must list exactly
// these).
[[nodiscard]] std::vector<route_info> route_table();

// Why the process is not ready, for /readyz: nullopt = ready.
using readiness_check = std::function<std::optional<std::string>()>;

// What the routes work with; everything must outlive the server (see the header comment
// for the order of shutdown).
struct server_dependencies {
    const commands::order_handler& orders;
    const commands::review_handler& reviews;
    const eventstore::state_store& store;
    eventstore::tail& tail;
    const auth::jwt_authority& authority;
    readiness_check brokers;   // may be empty
    readiness_check postgres;  // may be empty
    // Answers to commands sent with an Idempotency-Key; null: a key only fixes the command
    // id (a retry is a duplicate the apply rule ignores, answered from the log).
    idempotency_store* idempotency = nullptr;
    // Fed with every answer and served at GET /metrics; null: /metrics answers 404.
    adapters::metrics::service_metrics* metrics = nullptr;
    // The review query routes: the local reviews replica's queries and the projection
    // runtime feeding it (X-Min-Position waits on it); null: those routes answer 503.
    const queries::review_queries* review_queries = nullptr;
    projections::runtime* review_projection = nullptr;
    // The order query routes over the orders model in PostgreSQL (X-Min-Position waits on
    // the checkpoint stored there); null: those routes answer 503.
    queries::order_queries* order_queries = nullptr;
    readiness_check projections;  // the projections feeding this process's reads; may be empty
    // The payment provider's circuit breaker state, shown in /readyz's body and never a
    // reason to be unready (an open breaker would pull every instance at once); may be empty.
    std::function<std::string()> payment_breaker;
};

class server {
public:
    // Binds and starts serving; fails with one sentence: errc::address_in_use when another
    // socket holds the address, errc::listen_failed otherwise.
    [[nodiscard]] static result<std::unique_ptr<server>, error> start(server_options options,
                                                                      server_dependencies deps);

    server(const server&) = delete;
    server& operator=(const server&) = delete;
    ~server();  // shutdown() if not done yet

    // The port actually bound (the ephemeral one for port 0).
    [[nodiscard]] std::uint16_t port() const noexcept;
    // The health listener's port, when there is one.
    [[nodiscard]] std::optional<std::uint16_t> health_port() const noexcept;

    // Stops accepting, drains in-flight requests (bounded), stops the event loop.
    // Returns the number of requests still unanswered at the deadline (0 = clean).
    std::size_t shutdown();

    struct impl;

private:
    explicit server(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::adapters::http
