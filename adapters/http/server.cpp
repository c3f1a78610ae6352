// The only translation unit that includes RESTinio (and with it asio and http_parser).
// Routing is a small table here rather than RESTinio's express router, because a 405 must
// name the methods the path allows (Allow) and the router cannot tell a wrong method from
// an unknown path.
#include "adapters/http/server.hpp"

#include <restinio/all.hpp>
#include <restinio/utils/percent_encoding.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "adapters/http/json_mapping.hpp"
#include "adapters/http/openapi.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/http/rate_limiter.hpp"
#include "domain/review/review.hpp"

namespace shopstream::adapters::http {
namespace {

using namespace std::string_view_literals;

struct traits : restinio::default_traits_t {
    static constexpr bool use_connection_count_limiter = true;
};
using restinio_server = restinio::http_server_t<traits>;

// RESTinio drops the connection (no response) past this; bodies between max_body_bytes
// and this get a 413 problem instead.
constexpr std::size_t hard_body_limit = 1024 * 1024;

// ---- in-flight accounting --------------------------------------------------------------

struct flight_state {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t in_flight = 0;
    std::atomic<bool> draining{false};
    // Responses are handed to RESTinio under a shared lock; shutdown takes it exclusively
    // to set `stopped` before it destroys the event loop's pending work, so no response
    // is queued on a loop that will never run it (a queued write would outlive the
    // server's acceptor, whose connection count limiter the connection unregisters from).
    std::shared_mutex send_mu;
    bool stopped = false;
};

// An io_context whose pending work can be destroyed (connections still waiting for a
// next request on keep-alive) while the RESTinio server that owns their acceptor still
// exists; asio keeps execution_context::shutdown() protected.
class owned_io_context : public restinio::asio_ns::io_context {
public:
    void destroy_pending_work() { shutdown(); }
};

// A thread pool that takes no work once closed. Callbacks of the tail and the producer
// hand their work here; one that fires after shutdown() closed the pool (a drain that
// timed out) must not queue work no thread will ever run, so the caller learns it was
// refused and decides what to do on its own thread.
class work_pool {
public:
    explicit work_pool(unsigned threads) : pool_(std::max(1U, threads)) {}

    // False (and `job` untouched) once closed.
    template <class Job>
    [[nodiscard]] bool post(Job& job) {
        std::shared_lock lock(mu_);
        if (closed_) return false;
        restinio::asio_ns::post(pool_, std::move(job));
        return true;
    }

    // Runs what was posted, then joins the threads.
    void close() {
        {
            std::unique_lock lock(mu_);
            closed_ = true;
        }
        pool_.join();
    }

private:
    std::shared_mutex mu_;
    bool closed_ = false;
    restinio::asio_ns::thread_pool pool_;
};

// One request taken and not yet answered and written. Released when the write completes,
// fails, or is dropped, whichever happens: the destructor is the one place it ends.
class flight {
public:
    explicit flight(std::shared_ptr<flight_state> s) : state_(std::move(s)) {
        std::lock_guard lock(state_->mu);
        ++state_->in_flight;
    }
    flight(const flight&) = delete;
    flight& operator=(const flight&) = delete;
    ~flight() {
        std::lock_guard lock(state_->mu);
        --state_->in_flight;
        state_->cv.notify_all();
    }

private:
    std::shared_ptr<flight_state> state_;
};

// ---- small helpers ---------------------------------------------------------------------

std::string random_hex(std::size_t bytes) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes * 2);
    for (std::size_t i = 0; i < bytes; i += 8) {
        std::uint64_t v = rng();
        for (std::size_t j = 0; j < 8 && i + j < bytes; ++j) {
            out.push_back(digits[(v >> 4) & 0xF]);
            out.push_back(digits[v & 0xF]);
            v >>= 8;
        }
    }
    return out;
}

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// W3C trace context: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, ids not all zero.
bool valid_traceparent(std::string_view t) {
    if (t.size() != 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return false;
    const auto version = t.substr(0, 2), trace = t.substr(3, 32), parent = t.substr(36, 16), flags = t.substr(53, 2);
    if (!is_hex(version) || version == "ff" || !is_hex(trace) || !is_hex(parent) || !is_hex(flags)) return false;
    return trace != std::string(32, '0') && parent != std::string(16, '0');
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_json_media_type(std::string_view content_type) {
    return iequals(trim(content_type.substr(0, content_type.find(';'))), "application/json");
}

bool blank(std::string_view body) {
    return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "Status";
    }
}

domain::timestamp_ms now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- routes ----------------------------------------------------------------------------

enum class route_id : std::uint8_t {
    healthz,
    readyz,
    openapi,
    metrics,
    place_order,
    cancel_order,
    ship_order,
    order_events,
    submit_review,
    edit_review,
    retract_review,
    vote_helpful,
    moderate_review,
    review_events,
};

struct route_pattern {
    std::string_view method;
    // "" ends the pattern; "{name}" is a parameter (named as in the OpenAPI document)
    std::array<std::string_view, 4> segments;
    route_id id;
};

constexpr bool is_parameter(std::string_view segment) { return segment.starts_with('{'); }

constexpr std::array<route_pattern, 14> routes = {{
    {"GET", {"healthz"}, route_id::healthz},
    {"GET", {"readyz"}, route_id::readyz},
    {"GET", {"v1", "openapi.json"}, route_id::openapi},
    {"GET", {"metrics"}, route_id::metrics},
    {"POST", {"v1", "orders"}, route_id::place_order},
    {"POST", {"v1", "orders", "{id}", "cancel"}, route_id::cancel_order},
    {"POST", {"v1", "orders", "{id}", "ship"}, route_id::ship_order},
    {"GET", {"v1", "orders", "{id}", "events"}, route_id::order_events},
    {"POST", {"v1", "products", "{sku}", "reviews"}, route_id::submit_review},
    {"PUT", {"v1", "reviews", "{id}"}, route_id::edit_review},
    {"DELETE", {"v1", "reviews", "{id}"}, route_id::retract_review},
    {"POST", {"v1", "reviews", "{id}", "helpful"}, route_id::vote_helpful},
    {"POST", {"v1", "reviews", "{id}", "moderation"}, route_id::moderate_review},
    {"GET", {"v1", "reviews", "{id}", "events"}, route_id::review_events},
}};

// Splits "/a/b/c" into its (percent-decoded) segments; nullopt for a path that is not
// one (no leading '/', an empty segment, bad percent-encoding, more than 4 segments).
std::optional<std::vector<std::string>> split_path(std::string_view path) {
    if (path.empty() || path.front() != '/') return std::nullopt;
    path.remove_prefix(1);
    std::vector<std::string> out;
    while (true) {
        const auto slash = path.find('/');
        const auto raw = path.substr(0, slash);
        if (raw.empty() || out.size() == 4) return std::nullopt;
        auto decoded = restinio::utils::try_unescape_percent_encoding(restinio::string_view_t(raw.data(), raw.size()));
        if (!decoded) return std::nullopt;
        out.push_back(std::move(*decoded));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

struct matched_route {
    route_id id;
    std::string param;  // the parameter segment, if any
};

struct route_match {
    std::optional<matched_route> route;
    std::vector<std::string> allowed;  // methods of the path, when the method is wrong
    std::optional<route_id> path_route;  // a route of the path, when the method is wrong
};

route_match match(std::string_view method, std::string_view path) {
    route_match out;
    auto segments = split_path(path);
    if (!segments) return out;
    for (const auto& r : routes) {
        const auto length = static_cast<std::size_t>(
            std::find(r.segments.begin(), r.segments.end(), ""sv) - r.segments.begin());
        if (length != segments->size()) continue;
        std::string param;
        bool ok = true;
        for (std::size_t i = 0; i < length && ok; ++i) {
            if (is_parameter(r.segments[i])) {
                param = (*segments)[i];
            } else {
                ok = r.segments[i] == (*segments)[i];
            }
        }
        if (!ok) continue;
        if (r.method == method) {
            out.route = matched_route{r.id, std::move(param)};
            return out;
        }
        out.allowed.emplace_back(r.method);
        if (!out.path_route) out.path_route = r.id;
    }
    return out;
}

std::optional<command_route> command_route_of(route_id id) {
    switch (id) {
        case route_id::place_order: return command_route::place_order;
        case route_id::cancel_order: return command_route::cancel_order;
        case route_id::ship_order: return command_route::ship_order;
        case route_id::submit_review: return command_route::submit_review;
        case route_id::edit_review: return command_route::edit_review;
        case route_id::retract_review: return command_route::retract_review;
        case route_id::vote_helpful: return command_route::vote_helpful;
        case route_id::moderate_review: return command_route::moderate_review;
        default: return std::nullopt;
    }
}

// ---- responses -------------------------------------------------------------------------

struct response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool close = false;
};

response from_problem(problem p, std::string_view path) {
    if (p.instance.empty()) p.instance = std::string(path);
    response r;
    r.status = p.status;
    r.content_type = std::string(problem_content_type);
    r.headers = p.headers;
    r.body = render(p);
    return r;
}

// What every response of one request carries, and what the log line names.
struct exchange {
    std::shared_ptr<flight_state> flights;
    restinio::request_handle_t req;
    std::shared_ptr<flight> in_flight;
    std::string request_id;
    std::string traceparent;
    std::string method;
    std::string path;
    // For the metrics: when the request was taken, and its route's template.
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::string_view route = "unmatched";
    adapters::metrics::service_metrics* metrics = nullptr;
    bool access_log = false;  // one info line per answered request
};

// The template of a route ("/v1/orders/{id}/cancel"), a metrics label.
std::string_view route_template(route_id id) {
    static const std::vector<route_info> table = route_table();
    for (std::size_t i = 0; i < routes.size(); ++i) {
        if (routes[i].id == id) return table[i].path;
    }
    return "unmatched";
}

void send(const exchange& x, response r) {
    if (x.metrics != nullptr) {
        x.metrics->record_request(x.route, x.method, r.status, std::chrono::steady_clock::now() - x.started);
    }
    if (r.status >= 500) {
        spdlog::warn("request {} {} {} -> {}", x.request_id, x.method, x.path, r.status);
    } else if (x.access_log) {
        spdlog::info("request {} {} {} -> {} in {:.3f} ms", x.request_id, x.method, x.path, r.status,
                     std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - x.started).count());
    } else {
        spdlog::debug("request {} {} {} -> {}", x.request_id, x.method, x.path, r.status);
    }
    std::shared_lock lock(x.flights->send_mu);
    if (x.flights->stopped) return;  // the event loop is gone: the connection just closes
    try {
        auto rb = x.req->create_response(
            restinio::http_status_line_t{restinio::http_status_code_t{static_cast<std::uint16_t>(r.status)},
                                         reason_phrase(r.status)});
        rb.append_header("X-Request-Id", x.request_id);
        rb.append_header("traceparent", x.traceparent);
        rb.append_header(restinio::http_field::content_type, r.content_type);
        for (auto& [name, value] : r.headers) rb.append_header(name, value);
        if (r.close) rb.connection_close();
        rb.set_body(std::move(r.body));
        // The flight ends when the write is done (or fails, or is dropped).
        rb.done([held = x.in_flight](const restinio::asio_ns::error_code&) {});
    } catch (const std::exception& e) {
        spdlog::warn("request {}: cannot respond: {}", x.request_id, e.what());
    }
}

void send_problem(const exchange& x, problem p) { send(x, from_problem(std::move(p), x.path)); }

// A command request that carries an Idempotency-Key: the scoped key (= the command id) and
// what makes a retry "the same request".
struct keyed_request {
    std::string key;
    std::string digest;
};

response from_stored(const stored_answer& a) {
    response r{a.status, a.content_type, a.body, a.headers, false};
    r.headers.emplace_back("Idempotent-Replayed", "true");
    return r;
}

// Whether an answer may be given again to a retry: answers the command itself decided.
// "Try again" answers (timeouts, unavailability, losing every round to concurrent writers,
// internal failures) are not: the retry must run the command.
bool replayable(const commands::command_result& r) {
    if (r) return true;
    const auto code = r.error().code;
    // The decider's "invalid" is a validation error (422): the client fixes the request and
    // may send it under the same key.
    if (code == commands::command_errc::rejected) return r.error().rejection.code != domain::rejection_code::invalid;
    return code == commands::command_errc::precondition_failed;
}

// The answer to a finished command: the outcome, or the problem it ran into.
template <class Aggregate>
response render_command_result(const exchange& x, const commands::command_handler<Aggregate>& handler,
                       command_route route, bool creation, const commands::command_result& r) {
    if (!r) {
        if (r.error().code == commands::command_errc::internal) {
            spdlog::error("request {}: command failed: {}", x.request_id, r.error().message);
        }
        return from_problem(from_command_error(r.error(), route), x.path);
    }
    const auto& outcome = *r;
    response resp;
    resp.status = creation && outcome.kind != commands::outcome_kind::unchanged ? 201 : 200;
    // The status as of this version, when the store has not moved past it yet.
    auto current = handler.current(outcome.aggregate_id);
    const bool same = current && *current && (**current).version == outcome.version;
    if constexpr (std::is_same_v<Aggregate, eventstore::order_aggregate>) {
        resp.body = render_order_command_response(
            outcome, same ? std::optional((**current).state.status) : std::nullopt);
        if (creation) resp.headers.emplace_back("Location", "/v1/orders/" + outcome.aggregate_id);
    } else {
        resp.body = render_review_command_response(
            outcome, same ? std::optional((**current).state.status) : std::nullopt);
        if (creation) resp.headers.emplace_back("Location", "/v1/reviews/" + outcome.aggregate_id);
    }
    resp.headers.emplace_back("ETag", etag(outcome.version));
    if (outcome.at) resp.headers.emplace_back("X-Position", eventstore::to_string(*outcome.at));
    return resp;
}

}  // namespace

// ---- the server ------------------------------------------------------------------------

struct server::impl {
    impl(server_options o, server_dependencies d)
        : options(std::move(o)),
          deps(std::move(d)),
          limiter(rate_limit_options{.rate = options.rate_limit, .burst = options.rate_burst}) {}

    server_options options;
    server_dependencies deps;
    rate_limiter limiter;
    std::shared_ptr<flight_state> flights = std::make_shared<flight_state>();
    std::unique_ptr<owned_io_context> io = std::make_unique<owned_io_context>();  // outlives `http`
    std::unique_ptr<restinio_server> http;
    std::vector<std::thread> io_threads;
    std::unique_ptr<work_pool> readers;      // history reads and readiness checks (they block)
    std::unique_ptr<work_pool> completions;  // command answers: off the tail's thread
    std::atomic<std::uint16_t> bound_port{0};
    bool stopped = false;
    // Keyed commands running now: key -> (digest, how many requests run with it), so the
    // same key with a different body is refused while the first is still in flight.
    struct running_key {
        std::string digest;
        int count = 0;
    };
    std::mutex keys_mu;
    std::unordered_map<std::string, running_key> running_keys;

    // Answers a keyed request from the idempotency store when it holds an answer for the
    // key (the same request: that answer; another request: 422); false when it holds none.
    bool answer_from_store(const exchange& x, const keyed_request& k);
    // Registers a keyed request as running; false (after answering 422) when the key runs
    // now with a different request.
    bool enter_key(const exchange& x, const keyed_request& k);
    void leave_key(const std::string& key);

    restinio::request_handling_status_t on_request(restinio::request_handle_t req);
    void dispatch(exchange x, const matched_route& route);
    void readyz(exchange x);
    void history(exchange x, const domain::actor& who, route_id route, const std::string& id);
    void read_history(exchange x, const domain::actor& who, route_id route, const std::string& id);
    template <class Aggregate, class Command>
    void command(exchange x, const commands::command_handler<Aggregate>& handler, command_route route,
                 Command cmd, commands::command_metadata meta, commands::command_options opts,
                 std::optional<keyed_request> keyed);
    template <class Aggregate>
    void finish_command(const exchange& x, const commands::command_handler<Aggregate>& handler,
                        command_route route, bool creation, const std::optional<keyed_request>& keyed,
                        const commands::command_result& r);
    std::size_t shutdown();
};

restinio::request_handling_status_t server::impl::on_request(restinio::request_handle_t req) {
    exchange x;
    x.metrics = deps.metrics;
    x.access_log = options.access_log;
    x.flights = flights;
    x.in_flight = std::make_shared<flight>(flights);
    const auto& h = req->header();
    x.method = std::string(h.method().c_str());
    x.path = std::string(h.path());
    const auto rid = h.get_field_or("X-Request-Id", "");
    x.request_id = domain::is_valid_id(rid) ? std::string(rid) : random_hex(16);
    const auto tp = h.get_field_or("traceparent", "");
    x.traceparent = valid_traceparent(tp) ? std::string(tp) : "00-" + random_hex(16) + "-" + random_hex(8) + "-01";
    x.req = std::move(req);

    if (flights->draining.load()) {
        auto r = from_problem(unavailable("the server is shutting down", 1), x.path);
        r.close = true;
        send(x, std::move(r));
        return restinio::request_accepted();
    }
    auto m = match(x.method, x.path);
    if (!m.route) {
        if (!m.allowed.empty()) {
            x.route = route_template(*m.path_route);  // the path's template, as a metrics label
            send_problem(x, method_not_allowed(x.method, m.allowed));
        } else {
            send_problem(x, route_not_found(x.method, x.path));
        }
        return restinio::request_accepted();
    }
    x.route = route_template(m.route->id);
    try {
        dispatch(std::move(x), *m.route);
    } catch (const std::exception& e) {
        // dispatch() answers every path itself; this is for a bug or bad_alloc, and x
        // was moved from, so the connection is left to RESTinio's request timeout.
        spdlog::error("request handling failed: {}", e.what());
    }
    return restinio::request_accepted();
}

void server::impl::dispatch(exchange x, const matched_route& route) {
    if (route.id == route_id::healthz) {
        send(x, response{200, "application/json", R"({"status":"ok"})", {}, false});
        return;
    }
    if (route.id == route_id::readyz) {
        readyz(std::move(x));
        return;
    }
    if (route.id == route_id::openapi) {  // no token, no rate limit
        send(x, response{200, "application/json", std::string(openapi_document()), {}, false});
        return;
    }
    if (route.id == route_id::metrics) {  // no token, no rate limit
        if (deps.metrics == nullptr) return send_problem(x, route_not_found(x.method, x.path));
        send(x, response{200, std::string(metrics::exposition_content_type), deps.metrics->expose(), {}, false});
        return;
    }

    // Every /v1 route needs a bearer token.
    const auto authorization = x.req->header().get_field_or(restinio::http_field::authorization, "");
    auto token = auth::parse_bearer(std::string_view(authorization.data(), authorization.size()));
    result<domain::actor, auth::auth_error> who = fail(auth::auth_error{});
    if (token) {
        who = deps.authority.verify(
            *token, std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
    } else {
        who = fail(token.error());
    }
    if (!who) {
        auto p = unauthorized(std::string(who.error().description),
                              who.error().code != auth::auth_errc::missing_credentials);
        for (auto& [name, value] : p.headers) {
            if (iequals(name, "WWW-Authenticate")) value = auth::www_authenticate(who.error());
        }
        send_problem(x, std::move(p));
        return;
    }
    const domain::actor actor = *who;

    // Per-principal rate limit: before any work, so a refused request appends nothing.
    if (const auto d = limiter.try_acquire(actor.id, std::chrono::steady_clock::now()); !d.allowed) {
        send_problem(x, too_many_requests(d.retry_after_seconds));
        return;
    }

    if (route.id == route_id::order_events || route.id == route_id::review_events) {
        history(std::move(x), actor, route.id, route.param);
        return;
    }

    const auto croute = *command_route_of(route.id);
    const std::string& body = x.req->body();
    if (body.size() > max_body_bytes) {
        send_problem(x, payload_too_large(max_body_bytes));
        return;
    }
    if (!blank(body)) {
        const auto type = x.req->header().get_field_or(restinio::http_field::content_type, "");
        if (!is_json_media_type(std::string_view(type.data(), type.size()))) {
            send_problem(x, unsupported_media_type(std::string_view(type.data(), type.size())));
            return;
        }
    }

    commands::command_options opts;
    opts.timeout = options.command_timeout;
    if (const auto if_match = x.req->header().opt_value_of("If-Match")) {
        auto expected = expected_version_from_if_match(std::string_view(if_match->data(), if_match->size()));
        if (!expected) {
            send_problem(x, std::move(expected.error()));
            return;
        }
        opts.expected_version = *expected;
    }

    // Idempotency-Key: the key, scoped to the caller, is the command id, so a retry that
    // reaches the log is a duplicate the apply rule ignores; the idempotency store gives a
    // retry the first answer byte for byte and refuses the key with another request (422).
    commands::command_metadata meta;
    std::optional<keyed_request> keyed;
    if (const auto key = x.req->header().opt_value_of("Idempotency-Key")) {
        const std::string_view k(key->data(), key->size());
        if (k.size() > 100 || !domain::is_valid_id(k)) {
            send_problem(x, bad_header("Idempotency-Key", "must be 1-100 characters from [A-Za-z0-9._:-]"));
            return;
        }
        meta.command_id = idempotent_command_id(actor.id, k);
        if (deps.idempotency != nullptr) {
            keyed = keyed_request{meta.command_id, request_digest(x.method, x.path, body)};
            if (answer_from_store(x, *keyed)) return;
        }
    } else {
        meta.command_id = "cmd:" + random_hex(16);
    }
    meta.correlation_id = x.request_id;
    meta.traceparent = x.traceparent;

    const request_context ctx{actor, now_ms()};
    const std::string& id = route.param;
    auto bad = [&](problem p) { send_problem(x, std::move(p)); };
    switch (route.id) {
        case route_id::place_order: {
            // With an Idempotency-Key the order id follows from it, so a retry addresses
            // the same order.
            const std::string order_id = order_id_of(meta.command_id);
            auto c = place_order_from_request(body, ctx, order_id);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.orders, croute, domain::order::command(std::move(*c)), std::move(meta),
                           opts, std::move(keyed));
        }
        case route_id::cancel_order: {
            auto c = cancel_order_from_request(id, body, ctx);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.orders, croute, domain::order::command(std::move(*c)), std::move(meta),
                           opts, std::move(keyed));
        }
        case route_id::ship_order: {
            auto c = ship_order_from_request(id, body, ctx);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.orders, croute, domain::order::command(std::move(*c)), std::move(meta),
                           opts, std::move(keyed));
        }
        case route_id::submit_review: {
            auto c = submit_review_from_request(id, body, ctx);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.reviews, croute, domain::review::command(std::move(*c)),
                           std::move(meta), opts, std::move(keyed));
        }
        case route_id::edit_review: {
            auto c = edit_review_from_request(id, body, ctx);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.reviews, croute, domain::review::command(std::move(*c)),
                           std::move(meta), opts, std::move(keyed));
        }
        case route_id::retract_review: {
            auto c = retract_review_from_request(id, body, ctx);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.reviews, croute, domain::review::command(std::move(*c)),
                           std::move(meta), opts, std::move(keyed));
        }
        case route_id::vote_helpful: {
            auto c = vote_helpful_from_request(id, body, ctx);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.reviews, croute, domain::review::command(std::move(*c)),
                           std::move(meta), opts, std::move(keyed));
        }
        case route_id::moderate_review: {
            auto c = moderate_review_from_request(id, body, ctx);
            if (!c) return bad(std::move(c.error()));
            return command(std::move(x), deps.reviews, croute, domain::review::command(std::move(*c)),
                           std::move(meta), opts, std::move(keyed));
        }
        default: return bad(internal_error("unrouted request"));
    }
}

bool server::impl::answer_from_store(const exchange& x, const keyed_request& k) {
    auto found = deps.idempotency->find(k.key, now_ms());
    if (!found) {
        spdlog::error("request {}: {}", x.request_id, found.error());
        send_problem(x, internal_error("the idempotency store cannot be read"));
        return true;
    }
    if (!*found) return false;
    if ((**found).request_digest != k.digest) {
        send_problem(x, idempotency_key_reused());
    } else {
        send(x, from_stored(**found));
    }
    return true;
}

bool server::impl::enter_key(const exchange& x, const keyed_request& k) {
    {
        std::lock_guard lock(keys_mu);
        auto& running = running_keys.try_emplace(k.key, running_key{k.digest, 0}).first->second;
        if (running.digest == k.digest) {
            ++running.count;
            return true;
        }
    }
    send_problem(x, idempotency_key_reused());
    return false;
}

void server::impl::leave_key(const std::string& key) {
    std::lock_guard lock(keys_mu);
    if (auto it = running_keys.find(key); it != running_keys.end() && --it->second.count == 0) running_keys.erase(it);
}

template <class Aggregate, class Command>
void server::impl::command(exchange x, const commands::command_handler<Aggregate>& handler, command_route route,
                           Command cmd, commands::command_metadata meta, commands::command_options opts,
                           std::optional<keyed_request> keyed) {
    if (keyed) {
        if (!enter_key(x, *keyed)) return;
        // An answer recorded between dispatch's look-up and the registration.
        if (answer_from_store(x, *keyed)) return leave_key(keyed->key);
    }
    const bool creation = route == command_route::place_order || route == command_route::submit_review;
    // The callback runs on the tail's or the producer's thread, which must stay short
    // (tail.hpp): it only hands the result to the completion pool, where the answer is
    // rendered (a second state decode), a keyed answer recorded (an LMDB write) and the
    // write handed to RESTinio. After shutdown() closed the pool the work runs here: the
    // event loop is gone, but a keyed answer is still recorded for the client's retry.
    handler.handle(std::move(cmd), std::move(meta), opts,
                   [this, x = std::move(x), &handler, route, creation,
                    keyed = std::move(keyed)](commands::command_result r) mutable {
                       auto job = [this, x = std::move(x), &handler, route, creation, keyed = std::move(keyed),
                                   r = std::move(r)] { finish_command(x, handler, route, creation, keyed, r); };
                       if (!completions->post(job)) job();
                   });
}

template <class Aggregate>
void server::impl::finish_command(const exchange& x, const commands::command_handler<Aggregate>& handler,
                                  command_route route, bool creation, const std::optional<keyed_request>& keyed,
                                  const commands::command_result& r) {
    auto resp = render_command_result(x, handler, route, creation, r);
    if (keyed) {
        if (replayable(r)) {
            stored_answer a{keyed->digest, resp.status, resp.content_type, resp.headers, resp.body, now_ms()};
            if (auto first = deps.idempotency->record(keyed->key, std::move(a)); !first) {
                spdlog::error("request {}: {}", x.request_id, first.error());
            } else if (first->request_digest == keyed->digest) {
                // A concurrent request with the key may have recorded first: its
                // answer is the one every retry gets.
                resp = response{first->status, first->content_type, first->body, first->headers, false};
            }
        }
        leave_key(keyed->key);
    }
    send(x, std::move(resp));
}

// X-Min-Position (or ?minPosition=): read-your-writes. The read waits, bounded, until the
// context's tail has applied the position a command answer carried.
void server::impl::history(exchange x, const domain::actor& who, route_id route, const std::string& id) {
    const auto ctx = route == route_id::order_events ? eventstore::context::orders : eventstore::context::reviews;
    std::optional<std::string> token;
    bool from_header = true;
    if (const auto h = x.req->header().opt_value_of("X-Min-Position")) {
        token = std::string(h->data(), h->size());
    } else {
        try {
            const auto query = restinio::parse_query<restinio::parse_query_traits::relaxed>(x.req->header().query());
            if (const auto v = query.get_param("minPosition")) {
                token = std::string(v->data(), v->size());
                from_header = false;
            }
        } catch (const std::exception&) {
            return send_problem(x, bad_query_parameter("query", "the query string is not valid"));
        }
    }
    if (!token) return read_history(std::move(x), who, route, id);
    auto refuse = [&](std::string detail) {
        send_problem(x, from_header ? bad_header("X-Min-Position", std::move(detail))
                                    : bad_query_parameter("minPosition", std::move(detail)));
    };
    const auto p = eventstore::parse_position(*token);
    if (!p) return refuse("must be a position token \"<partition>:<offset>\" as command answers carry it");
    if (const auto n = deps.tail.partition_count(ctx); p->partition >= n) {
        return refuse("names partition " + std::to_string(p->partition) + "; the log has " + std::to_string(n));
    }
    const auto deadline = eventstore::clock::now() + options.min_position_timeout;
    deps.tail.await_position(
        ctx, *p, deadline, [this, x = std::move(x), who, route, id](result<void, eventstore::wait_error> r) {
            if (!r) {
                return send_problem(
                    x, unavailable(r.error().code == eventstore::wait_errc::stopped
                                       ? "the server is shutting down"
                                       : "the position is not applied yet; retry, or read without X-Min-Position",
                                   1));
            }
            // On the tail's thread now: the store read goes to the read pool (closed: the
            // event loop is gone, so the request cannot be answered; dropping the job ends
            // its flight).
            auto job = [this, x, who, route, id]() mutable { read_history(std::move(x), who, route, id); };
            (void)readers->post(job);
        });
}

void server::impl::read_history(exchange x, const domain::actor& who, route_id route, const std::string& id) {
    // Ownership and existence come from the local store; the events from the log, on the
    // read pool (the fetches block).
    std::uint64_t version = 0;
    std::string owner;
    eventstore::context ctx{};
    if (route == route_id::order_events) {
        ctx = eventstore::context::orders;
        auto current = deps.orders.current(id);
        if (!current) {
            spdlog::error("request {}: store read failed: {}", x.request_id, current.error());
            return send_problem(x, internal_error("the state store cannot be read"));
        }
        if (!*current) return send_problem(x, not_found("no order '" + id + "'"));
        version = (**current).version;
        owner = (**current).state.customer.value();
    } else {
        ctx = eventstore::context::reviews;
        auto current = deps.reviews.current(id);
        if (!current) {
            spdlog::error("request {}: store read failed: {}", x.request_id, current.error());
            return send_problem(x, internal_error("the state store cannot be read"));
        }
        if (!*current) return send_problem(x, not_found("no review '" + id + "'"));
        version = (**current).version;
        owner = (**current).state.author.value();
    }
    if (!who.is_admin() && !(who.role == domain::role::customer && who.id == owner)) {
        return send_problem(x, forbidden("only the owner or an admin may read this history"));
    }
    auto job = [this, x = std::move(x), ctx, id, version] {
        auto events = deps.reader.read(deps.store, ctx, id, version);
        if (!events) {
            spdlog::error("request {}: history read failed: {}", x.request_id, events.error());
            return send_problem(x, unavailable("the event log cannot be read right now", 1));
        }
        auto body = render_history(ctx, *events);
        if (!body) return send_problem(x, std::move(body.error()));
        response r;
        r.body = std::move(*body);
        r.headers.emplace_back("ETag", etag(version));
        send(x, std::move(r));
    };
    (void)readers->post(job);  // closed only after the event loop stopped
}

void server::impl::readyz(exchange x) {
    auto job = [this, x = std::move(x)] {
        nlohmann::json checks = nlohmann::json::object();
        bool ready = true;
        if (auto failure = deps.tail.failure()) {
            checks["tail"] = "failed: " + *failure;
            ready = false;
        } else if (!deps.tail.caught_up()) {
            checks["tail"] = "catching up with the log";
            ready = false;
        } else {
            checks["tail"] = "ok";
        }
        for (const auto& [name, check] : {std::pair{"brokers", &deps.brokers}, std::pair{"postgres", &deps.postgres}}) {
            if (!*check) continue;
            if (auto down = (*check)()) {
                checks[name] = *down;
                ready = false;
            } else {
                checks[name] = "ok";
            }
        }
        nlohmann::json body = {{"ready", ready}, {"checks", checks}};
        std::vector<std::string> not_ready;
        for (const auto& [name, value] : checks.items()) {
            if (value != "ok") not_ready.push_back(name);
        }
        body["notReady"] = not_ready;
        response r;
        r.status = ready ? 200 : 503;
        r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (!ready) r.headers.emplace_back("Retry-After", "1");
        send(x, std::move(r));
    };
    (void)readers->post(job);  // closed only after the event loop stopped
}

std::size_t server::impl::shutdown() {
    if (stopped) return 0;
    stopped = true;
    flights->draining = true;
    // Stop accepting (on RESTinio's own executor), then wait for what was taken.
    auto closed = std::make_shared<std::promise<void>>();
    auto closed_future = closed->get_future();
    http->close_async([closed] { closed->set_value(); },
                      [closed](std::exception_ptr) { closed->set_value(); });
    closed_future.wait_for(std::chrono::seconds(5));
    std::size_t left = 0;
    {
        std::unique_lock lock(flights->mu);
        flights->cv.wait_for(lock, options.drain_timeout, [&] { return flights->in_flight == 0; });
        left = flights->in_flight;
    }
    {
        std::unique_lock lock(flights->send_mu);
        flights->stopped = true;
    }
    // Completions queued now only record keyed answers (their writes are dropped); those
    // that fire later run on their caller's thread.
    completions->close();
    io->stop();
    for (auto& t : io_threads) t.join();
    io_threads.clear();
    readers->close();
    io->destroy_pending_work();
    return left;
}

std::vector<route_info> route_table() {
    std::vector<route_info> out;
    out.reserve(routes.size());
    for (const auto& r : routes) {
        std::string path;
        for (const auto segment : r.segments) {
            if (segment.empty()) break;
            path += '/';
            path += segment;
        }
        out.push_back({std::string(r.method), std::move(path)});
    }
    return out;
}

server::server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

server::~server() {
    if (impl_) impl_->shutdown();
}

std::uint16_t server::port() const noexcept { return impl_->bound_port.load(); }

std::size_t server::shutdown() { return impl_->shutdown(); }

result<std::unique_ptr<server>, std::string> server::start(server_options options, server_dependencies deps) {
    auto p = std::make_unique<impl>(std::move(options), std::move(deps));
    impl* self = p.get();
    const auto& o = self->options;
    try {
        auto settings = restinio::server_settings_t<traits>{}
                            .address(o.host)
                            .port(o.port)
                            .request_handler([self](restinio::request_handle_t req) {
                                return self->on_request(std::move(req));
                            })
                            .concurrent_accepts_count(std::max(1U, o.io_threads))
                            .max_parallel_connections(o.max_connections)
                            .handle_request_timeout(o.request_timeout)
                            .read_next_http_message_timelimit(o.idle_timeout)
                            .write_http_response_timelimit(std::chrono::seconds(10))
                            .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                                          .max_url_size(8 * 1024)
                                                          .max_field_name_size(1024)
                                                          .max_field_value_size(16 * 1024)
                                                          .max_field_count(100)
                                                          .max_body_size(hard_body_limit))
                            .acceptor_post_bind_hook([self](restinio::asio_ns::ip::tcp::acceptor& a) {
                                self->bound_port = a.local_endpoint().port();
                            });
        self->http = std::make_unique<restinio_server>(restinio::external_io_context(*self->io),
                                                       std::move(settings));
        self->http->open_sync();
    } catch (const std::exception& e) {
        return fail("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + e.what());
    }
    self->readers = std::make_unique<work_pool>(o.read_threads);
    self->completions = std::make_unique<work_pool>(o.completion_threads);
    for (unsigned i = 0; i < std::max(1U, o.io_threads); ++i) {
        self->io_threads.emplace_back([self] {
            while (true) {
                try {
                    self->io->run();
                    return;
                } catch (const std::exception& e) {
                    spdlog::error("HTTP event loop: {}", e.what());
                }
            }
        });
    }
    return std::unique_ptr<server>(new server(std::move(p)));
}

}  // namespace shopstream::adapters::http
