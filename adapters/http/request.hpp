#pragma once
// What a route sees of one request, and how it answers (server.cpp implements it; nothing
// here includes RESTinio or asio). server.cpp runs the shared pipeline - routing, 404/405,
// authentication, the rate limit, traceparent, the checks of a command request (413, 415,
// If-Match, Idempotency-Key), in-flight accounting, problem rendering and sending - and
// hands each request it routed to its context's routes (order_routes.hpp,
// review_routes.hpp) as a `request`: its method and path, the path parameter, the query
// parameters, the body, the authenticated actor, the X-Min-Position token, and the ways to
// answer it (now, or later from any thread), to run blocking work off the event loop, and
// to run a command with the pipeline's Idempotency-Key handling.
//
// Also here, shared by both contexts' routes: the reading of X-Min-Position against the log
// (read_min_position) and the answer to a position not applied in time
// (answer_unapplied_position).
//
// Thread-safety: a request is a cheap copy of a shared, immutable view; every member is
// safe to call from any thread concurrently. It is answered once: the first answer is
// sent, and the request's in-flight slot ends when the last copy is gone and the answer is
// written (a copy dropped unanswered leaves the connection to RESTinio's request timeout,
// or to the shutdown that refused the work).

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/problem.hpp"
#include "base/result.hpp"
#include "commands/command_handler.hpp"
#include "domain/common.hpp"
#include "eventstore/context.hpp"
#include "eventstore/log_ports.hpp"
#include "eventstore/position.hpp"

namespace shopstream::adapters::http {

struct response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool close = false;  // Connection: close
};

// The query string's parameters, percent-decoded, in their order.
class query_parameters {
public:
    void add(std::string name, std::string value) { all_.emplace_back(std::move(name), std::move(value)); }
    // The first parameter of that name; nullopt when absent.
    [[nodiscard]] std::optional<std::string> get(std::string_view name) const;

private:
    std::vector<std::pair<std::string, std::string>> all_;
};

// X-Min-Position, or else ?minPosition=, as the request carried it.
struct min_position_token {
    std::string text;
    bool from_header = true;  // which of the two named it, for a 400
};

// Where blocking work runs: history reads, review answers after a wait and readiness
// checks on `reads`; order queries and their PostgreSQL polls on `order_reads`.
enum class work_pool_id : std::uint8_t { reads, order_reads };

// What the pipeline settled of a command request before its route decodes the body: the
// command id (from the Idempotency-Key, scoped to the caller, or a fresh one), correlation
// and traceparent; the timeout and If-Match's expected version; the request time.
struct command_call {
    commands::command_metadata meta;
    commands::command_options options;
    domain::timestamp_ms at = 0;
};

// What a context renders of a successful command: the body, and the path where the
// aggregate lives (a creation's Location).
struct command_rendering {
    std::string body;
    std::string location;
};

// Starts the command on its handler with the callback it is given (called once).
using command_start = std::function<void(commands::command_callback)>;
// Renders a command's outcome; called on the completion pool, so it may read the store.
using command_renderer = std::function<command_rendering(const commands::command_outcome&)>;

// The pipeline's side of one request; server.cpp fills the view and implements the rest.
class request_port {
public:
    request_port() = default;
    request_port(const request_port&) = delete;
    request_port& operator=(const request_port&) = delete;
    virtual ~request_port() = default;

    std::string method;
    std::string path;        // as the request named it, the problems' `instance`
    std::string param;       // the route's path parameter ({id}, {sku}); "" for none
    std::string request_id;  // X-Request-Id as answered, for the log
    std::optional<domain::actor> actor;  // nullopt: an anonymous read of a public route

    [[nodiscard]] virtual std::string_view body() const = 0;
    // A query string that cannot be read is a 400 problem naming `query`.
    [[nodiscard]] virtual result<query_parameters, problem> query() const = 0;
    // nullopt when neither names one; a query string that cannot be read (when there is
    // no header) is a 400 problem.
    [[nodiscard]] virtual result<std::optional<min_position_token>, problem> min_position() const = 0;

    virtual void answer(response r) const = 0;
    // Runs `job` on the pool; false (and `job` untouched) once the server shut it down.
    [[nodiscard]] virtual bool post(work_pool_id pool, std::function<void()>& job) const = 0;
    // Posts `job` to `pool` after `delay`, no thread waiting meanwhile; dropped when the
    // server stops first.
    virtual void post_after(std::chrono::milliseconds delay, work_pool_id pool, std::function<void()> job) const = 0;
    // Runs a command: a request with an Idempotency-Key is registered as running (a
    // concurrent one with another body is a 422) or answered from the idempotency store;
    // `start` hands the command to its handler; the verdict is answered from the
    // completion pool: the problem it ran into, or 201 (a creation that changed
    // something)/200 with `render`'s body, ETag, X-Position (`ctx`'s token) and Location;
    // a keyed answer the command decided is recorded for the retries.
    virtual void run_command(command_route route, eventstore::context ctx, command_start start,
                             command_renderer render) const = 0;
};

// The view a route works with: a shared, immutable request_port.
class request {
public:
    explicit request(std::shared_ptr<const request_port> port) : port_(std::move(port)) {}

    [[nodiscard]] const std::string& method() const noexcept { return port_->method; }
    [[nodiscard]] const std::string& path() const noexcept { return port_->path; }
    [[nodiscard]] const std::string& param() const noexcept { return port_->param; }
    [[nodiscard]] const std::string& id() const noexcept { return port_->request_id; }
    [[nodiscard]] const std::optional<domain::actor>& actor() const noexcept { return port_->actor; }
    [[nodiscard]] std::string_view body() const { return port_->body(); }
    [[nodiscard]] result<query_parameters, problem> query() const { return port_->query(); }
    [[nodiscard]] result<std::optional<min_position_token>, problem> min_position() const {
        return port_->min_position();
    }

    void answer(response r) const { port_->answer(std::move(r)); }
    // As a problem document; its instance is the path unless set.
    void answer(problem p) const;
    [[nodiscard]] bool post(work_pool_id pool, std::function<void()>& job) const { return port_->post(pool, job); }
    void post_after(std::chrono::milliseconds delay, work_pool_id pool, std::function<void()> job) const {
        port_->post_after(delay, pool, std::move(job));
    }
    void run_command(command_route route, eventstore::context ctx, command_start start,
                     command_renderer render) const {
        port_->run_command(route, ctx, std::move(start), std::move(render));
    }

private:
    std::shared_ptr<const request_port> port_;
};

// The response of a problem document; its instance is `path` unless set.
[[nodiscard]] response from_problem(problem p, std::string_view path);

// ---- read-your-writes --------------------------------------------------------------------

// The position a read waits for.
struct min_position {
    eventstore::context ctx = eventstore::context::orders;
    eventstore::position at;
    bool from_header = true;  // which of X-Min-Position and ?minPosition= named it, for a 400
};

// The one reading of X-Min-Position / ?minPosition= every read route shares. A read
// served from the contexts `served` waits for a token naming one of them, or for a bare
// token (which means `bare`); a token of another context names another log and is
// ignored (nullopt, issue 11), as is a read with neither. A malformed token, or one naming
// a partition the log does not have, is a 400 naming the header or the parameter.
[[nodiscard]] result<std::optional<min_position>, problem> read_min_position(
    const request& rq, const eventstore::commit_tail& tail, std::initializer_list<eventstore::context> served,
    eventstore::context bare);

// Answers a read whose position was not applied within the bounded wait: 503 with
// Retry-After while the position may still come, 400 naming the header or the parameter
// when the partition ends at or before it - a position this log has never had (a token of
// another log, or made up) cannot become readable by waiting. Asks the brokers for the
// partition's end: call it on a read pool.
void answer_unapplied_position(const request& rq, const eventstore::commit_tail& tail, const min_position& wanted,
                               const std::string& why);

}  // namespace shopstream::adapters::http
