// The only translation unit that includes RESTinio (and with it asio and http_parser): the
// listeners, the connection edge, the route table and the shared request pipeline
// (server.hpp). The routes' own code is in order_routes.cpp and review_routes.cpp, which
// see a request through request.hpp. Routing is a small table here rather than RESTinio's
// express router, because a 405 must name the methods the path allows (Allow) and the
// router cannot tell a wrong method from an unknown path.
#include "adapters/http/server.hpp"

#include <restinio/all.hpp>
#include <restinio/utils/percent_encoding.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cctype>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "adapters/http/json_mapping.hpp"
#include "adapters/http/openapi.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/http/order_routes.hpp"
#include "adapters/http/rate_limiter.hpp"
#include "adapters/http/request.hpp"
#include "adapters/http/review_routes.hpp"
#include "domain/review/review.hpp"

namespace shopstream::adapters::http {
namespace {

using namespace std::string_view_literals;

// RESTinio drops the connection (no response) past this; bodies between max_body_bytes
// and this get a 413 problem instead.
constexpr std::size_t hard_body_limit = 1024 * 1024;

// The health listener's connection slots, in all and per client address.
constexpr std::size_t health_connections = 128;
constexpr std::size_t health_connections_per_client = 16;

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
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
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

// ---- the connection edge ---------------------------------------------------------------
//
// RESTinio 0.6 closes a connection without a word when its parser refuses a request (a
// header or target past `incoming_http_msg_limits`, or past http_parser's 80 KiB head),
// and it has one timer from "waiting for a request" to "request complete", the same for an
// idle keep-alive connection and for a head that trickles in. So every connection's bytes
// pass through `edge_socket` (RESTinio's stream_socket_t trait, as its TLS socket does)
// before RESTinio parses them. It holds each request head until it is complete and checks
// it against the limits below, which sit under RESTinio's own: a head past them never
// reaches RESTinio; it is replaced by a one-line request carrying a refusal that only this
// process can write (it names a random per-process secret), which the server answers 414
// or 431 as a problem, in order after any answers still due on the connection, and then
// closes the connection after reading (and discarding) what the client still sends for a
// moment, so the client reads the answer instead of a reset. It also bounds the time from
// connecting (or from a later request's first byte) to a complete head (header_timeout),
// and closes a connection at its first read, before a byte is read, when its client
// address already holds its share of the listener's connections (client_table).
//
// It does not follow a chunked body (Transfer-Encoding), an Upgrade or a CONNECT: after one,
// the rest of the connection passes through unchecked and RESTinio's limits alone apply
// (a head past them closes the connection, as before).

constexpr std::size_t max_target_bytes = 8 * 1024;       // 414 beyond
constexpr std::size_t max_field_line_bytes = 16 * 1024;  // one "Name: value" line; 431 beyond
constexpr std::size_t max_field_count = 100;             // 431 beyond
constexpr std::size_t max_head_bytes = 64 * 1024;        // request line and header fields; 431 beyond

// The refusal a replaced head carries: "<secret> <reason> <field or ->".
constexpr std::string_view refusal_header = "Shopstream-Edge-Refusal";

enum class refusal_reason : std::uint8_t { uri_too_long, field_too_large, too_many_fields, head_too_large };

constexpr std::string_view name_of(refusal_reason r) {
    switch (r) {
        case refusal_reason::uri_too_long: return "uri_too_long";
        case refusal_reason::field_too_large: return "field_too_large";
        case refusal_reason::too_many_fields: return "too_many_fields";
        case refusal_reason::head_too_large: return "head_too_large";
    }
    return "unknown";
}

// Open connections per client address and listener. Kept by edge_socket, not with
// RESTinio's IP blocker: RESTinio 0.6.16 never gives back the connection-count slot of a
// connection its blocker denies (connection_count_limiter's active accepts grow by one per
// denial), so a few thousand denials stop the server from accepting at all.
class client_table {
public:
    // False when `key` holds `limit` connections already.
    [[nodiscard]] bool try_acquire(const std::string& key, std::size_t limit) {
        std::lock_guard lock(mu_);
        auto& open = open_[key];
        if (open >= limit) return false;
        ++open;
        return true;
    }

    void release(const std::string& key) noexcept {
        std::lock_guard lock(mu_);
        if (const auto it = open_.find(key); it != open_.end() && --it->second == 0) open_.erase(it);
    }

private:
    std::mutex mu_;
    std::unordered_map<std::string, std::size_t> open_;
};

// What each connection's socket needs from its server, reached through the io_context
// the server owns (RESTinio constructs sockets from the io_context alone).
struct edge_hooks {
    std::string secret = random_hex(16);
    std::chrono::milliseconds header_timeout{5'000};
    adapters::metrics::service_metrics* metrics = nullptr;
    std::size_t per_client = 0;         // on the API listener; 0: no limit
    std::size_t health_per_client = 0;  // on the health listener
    std::uint16_t health_port = 0;      // set before the event loop runs
    client_table clients;

    void count(std::string_view reason) const {
        if (metrics != nullptr) metrics->record_connection_refused(reason);
    }
};

// An io_context whose pending work can be destroyed (connections still waiting for a
// next request on keep-alive) while the RESTinio server that owns their acceptor still
// exists; asio keeps execution_context::shutdown() protected.
class owned_io_context : public restinio::asio_ns::io_context {
public:
    explicit owned_io_context(edge_hooks& hooks) : hooks_(&hooks) {}
    void destroy_pending_work() { shutdown(); }
    [[nodiscard]] edge_hooks* hooks() const noexcept { return hooks_; }

private:
    edge_hooks* hooks_;
};

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Follows one connection's request heads and bodies (Content-Length) and decides what
// RESTinio may see: a complete head within the limits, a body, or a refusal instead.
class head_scanner {
public:
    enum class phase : std::uint8_t { head, body, passthrough, refused };

    [[nodiscard]] phase at() const noexcept { return at_; }
    [[nodiscard]] bool mid_head() const noexcept { return at_ == phase::head && !hold_.empty(); }

    // Appends to `out` what RESTinio may parse now.
    void feed(std::string_view in, std::string& out, const edge_hooks& hooks) {
        while (!in.empty()) {
            switch (at_) {
                case phase::passthrough: out.append(in); return;
                case phase::refused: return;  // read and dropped until the connection closes
                case phase::body: {
                    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), body_left_));
                    out.append(in.substr(0, n));
                    in.remove_prefix(n);
                    if ((body_left_ -= n) == 0) at_ = phase::head;
                    continue;
                }
                case phase::head: break;
            }
            // http_parser skips empty lines before a request line; so does the scanner.
            if (hold_.empty() && (in.front() == '\r' || in.front() == '\n')) {
                in.remove_prefix(1);
                continue;
            }
            const auto lf = in.find('\n');
            const auto take = lf == std::string_view::npos ? in.size() : lf + 1;
            hold_.append(in.substr(0, take));
            in.remove_prefix(take);
            const bool complete = lf != std::string_view::npos;
            if (auto refused = check_line(complete)) return refuse(*refused, out, hooks);
            if (!complete) continue;
            const std::string_view line = std::string_view(hold_).substr(line_start_);
            if (request_line_) {
                request_line_ = false;
                if (!plausible_request_line(line)) {
                    // Not a request: http_parser refuses it and RESTinio closes, as before.
                    at_ = phase::passthrough;
                    out.append(hold_);
                    std::string().swap(hold_);
                    out.append(in);
                    return;
                }
            } else if (line == "\r\n" || line == "\n") {
                finish_head(out);
                continue;
            } else if (++fields_ > max_field_count) {
                return refuse(refusal_reason::too_many_fields, out, hooks);
            }
            line_start_ = hold_.size();
        }
    }

private:
    // "METHOD SP target SP HTTP/1.x" with a token for a method.
    static bool plausible_request_line(std::string_view line) {
        if (line.ends_with('\n')) line.remove_suffix(1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        const auto sp = line.find(' ');
        const auto last = line.rfind(' ');
        if (sp == 0 || sp == std::string_view::npos || last == sp) return false;
        const auto method = line.substr(0, sp);
        return std::all_of(method.begin(), method.end(), is_token_char) && line.substr(last + 1).starts_with("HTTP/1.");
    }

    [[nodiscard]] std::optional<refusal_reason> check_line(bool complete) const {
        const std::string_view line = std::string_view(hold_).substr(line_start_);
        if (request_line_) {
            const auto sp = line.find(' ');
            if (sp == std::string_view::npos) {
                return line.size() > max_target_bytes ? std::optional(refusal_reason::uri_too_long) : std::nullopt;
            }
            // A partial line may end in part of " HTTP/1.1\r".
            const auto end = complete ? line.rfind(' ') : line.size();
            const auto target = end > sp ? end - sp - 1 : 0;
            if (target > max_target_bytes + (complete ? 0 : 10)) return refusal_reason::uri_too_long;
        } else if (line.size() > max_field_line_bytes) {
            return refusal_reason::field_too_large;
        }
        if (hold_.size() > max_head_bytes) return refusal_reason::head_too_large;
        return std::nullopt;
    }

    // The request target of a complete request line, when it can be repeated as it is.
    [[nodiscard]] std::string_view target() const {
        if (request_line_) return "/";
        const auto line = std::string_view(hold_).substr(0, hold_.find('\n'));
        const auto sp = line.find(' ');
        const auto last = line.rfind(' ');
        if (sp == std::string_view::npos || last <= sp) return "/";
        const auto t = line.substr(sp + 1, last - sp - 1);
        const bool plain = !t.empty() && t.size() <= max_target_bytes &&
                           std::all_of(t.begin(), t.end(), [](char c) { return c > 0x20 && c < 0x7f; });
        return plain ? t : "/";
    }

    [[nodiscard]] std::string_view method() const {
        const auto m = std::string_view(hold_).substr(0, hold_.find(' '));
        for (const auto known : {"GET"sv, "POST"sv, "PUT"sv, "DELETE"sv, "PATCH"sv}) {
            if (m == known) return known;
        }
        return "GET";
    }

    // The name of the field being read, as far as it goes (at most 64 token characters).
    [[nodiscard]] std::string field_name() const {
        if (request_line_) return "-";
        const std::string_view line = std::string_view(hold_).substr(line_start_);
        std::string name;
        for (const char c : line.substr(0, line.find(':'))) {
            if (!is_token_char(c) || name.size() == 64) break;
            name.push_back(c);
        }
        return name.empty() ? "-" : name;
    }

    void refuse(refusal_reason reason, std::string& out, const edge_hooks& hooks) {
        const std::string field =
            reason == refusal_reason::field_too_large || reason == refusal_reason::head_too_large ? field_name() : "-";
        out.append(method()).append(" ").append(target()).append(" HTTP/1.1\r\nHost: edge\r\n");
        out.append(refusal_header).append(": ").append(hooks.secret).append(" ");
        out.append(name_of(reason)).append(" ").append(field).append("\r\n\r\n");
        std::string().swap(hold_);
        at_ = phase::refused;
    }

    void finish_head(std::string& out) {
        const std::string_view head = hold_;
        bool framed = head.substr(0, head.find(' ')) != "CONNECT";
        std::optional<std::uint64_t> length;
        std::size_t start = head.find('\n') + 1;
        while (framed && start < head.size()) {
            const auto end = head.find('\n', start);
            if (end == std::string_view::npos) break;
            const auto line = head.substr(start, end - start);
            start = end + 1;
            const auto colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            const auto name = trim(line.substr(0, colon));
            auto value = trim(line.substr(colon + 1));
            if (value.ends_with('\r')) value = trim(value.substr(0, value.size() - 1));
            if (iequals(name, "transfer-encoding") || iequals(name, "upgrade")) {
                framed = false;
            } else if (iequals(name, "content-length")) {
                std::uint64_t n = 0;
                const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
                framed = ec == std::errc{} && p == value.data() + value.size() && !value.empty() &&
                         (!length || *length == n);
                length = n;
            }
        }
        out.append(hold_);
        hold_.clear();
        line_start_ = 0;
        request_line_ = true;
        fields_ = 0;
        if (!framed) {
            at_ = phase::passthrough;
        } else if (length && *length > 0) {
            at_ = phase::body;
            body_left_ = *length;
        }
    }

    phase at_ = phase::head;
    std::string hold_;  // the head so far
    std::size_t line_start_ = 0;
    bool request_line_ = true;
    std::size_t fields_ = 0;
    std::uint64_t body_left_ = 0;
};

// A refused connection's socket after its answer: reads and drops what the client still
// sends, for a moment and a bounded number of bytes, then closes. Closing at once, with
// the client's bytes unread, would reset the connection, and a reset can destroy the
// answer before the client reads it.
class lingering_close : public std::enable_shared_from_this<lingering_close> {
public:
    static void start(restinio::asio_ns::ip::tcp::socket socket) {
        if (lingering.load() >= 256) {  // a bound on sockets held outside every connection limit
            restinio::asio_ns::error_code ignored;
            socket.close(ignored);
            return;
        }
        auto self = std::make_shared<lingering_close>(std::move(socket));
        self->timer_.expires_after(std::chrono::seconds(2));
        self->timer_.async_wait(restinio::asio_ns::bind_executor(
            self->strand_, [self](const restinio::asio_ns::error_code& ec) {
                if (ec) return;
                restinio::asio_ns::error_code ignored;
                self->socket_.close(ignored);
            }));
        self->read();
    }

    explicit lingering_close(restinio::asio_ns::ip::tcp::socket socket)
        : socket_(std::move(socket)), strand_(restinio::asio_ns::make_strand(socket_.get_executor())),
          timer_(socket_.get_executor()) {
        ++lingering;
    }
    lingering_close(const lingering_close&) = delete;
    lingering_close& operator=(const lingering_close&) = delete;
    ~lingering_close() { --lingering; }

private:
    void read() {
        socket_.async_read_some(
            restinio::asio_ns::buffer(buffer_),
            restinio::asio_ns::bind_executor(strand_, [self = shared_from_this()](
                                                          const restinio::asio_ns::error_code& ec, std::size_t n) {
                if (ec || n >= self->budget_) {
                    restinio::asio_ns::error_code ignored;
                    self->timer_.cancel();
                    self->socket_.close(ignored);
                    return;
                }
                self->budget_ -= n;
                self->read();
            }));
    }

    static inline std::atomic<int> lingering{0};
    restinio::asio_ns::ip::tcp::socket socket_;
    restinio::asio_ns::strand<restinio::asio_ns::any_io_executor> strand_;
    restinio::asio_ns::steady_timer timer_;
    std::array<char, 4096> buffer_{};
    std::size_t budget_ = 4 * 1024 * 1024;
};

// What an edge_socket keeps across its reads. Shared with the header timer's handler,
// which may run after the socket is gone; `socket` (under `mu`) says whether it is.
struct edge_state {
    explicit edge_state(restinio::asio_ns::ip::tcp::socket& s) : socket(&s), timer(s.get_executor()), park(s.get_executor()) {}

    std::mutex mu;
    restinio::asio_ns::ip::tcp::socket* socket;
    head_scanner scanner;
    std::string ready;  // bytes RESTinio may parse now
    std::size_t ready_from = 0;
    std::vector<char> buffer = std::vector<char>(16 * 1024);
    restinio::asio_ns::steady_timer timer;  // the header timeout
    bool timing = false;  // under `mu`, as timer_generation
    std::uint64_t timer_generation = 0;
    bool timed_out = false;
    bool requests_started = false;  // a head was awaited before (the first one is timed from the start)
    std::string client;             // the client_table key this connection holds; "" for none
    restinio::asio_ns::steady_timer park;  // holds RESTinio's read after a refused client closed its side
};

// RESTinio's stream_socket_t: a TCP socket whose reads go through head_scanner (see the
// section comment). RESTinio calls it from the connection's strand only; the acceptor
// reuses a moved-from one for the next accept, so it must stay a usable socket.
class edge_socket {
public:
    using executor_type = restinio::asio_ns::ip::tcp::socket::executor_type;

    // RESTinio constructs sockets only from the io_context it was given: always the
    // server's owned_io_context (asio's io_context is not polymorphic, so no dynamic_cast).
    explicit edge_socket(restinio::asio_ns::io_context& io)
        : socket_(io), hooks_(static_cast<owned_io_context&>(io).hooks()) {}
    edge_socket(edge_socket&& other) noexcept = default;
    edge_socket& operator=(edge_socket&& other) noexcept = default;
    edge_socket(const edge_socket&) = delete;
    edge_socket& operator=(const edge_socket&) = delete;
    ~edge_socket() { forget(); }

    restinio::asio_ns::ip::tcp::socket& lowest_layer() { return socket_; }
    const restinio::asio_ns::ip::tcp::socket& lowest_layer() const { return socket_; }
    executor_type get_executor() { return socket_.get_executor(); }
    auto remote_endpoint() const { return socket_.remote_endpoint(); }
    bool is_open() const { return socket_.is_open(); }

    void cancel(restinio::asio_ns::error_code& ec) {
        socket_.cancel(ec);
        if (state_) state_->park.cancel();
    }

    void shutdown(restinio::asio_ns::ip::tcp::socket::shutdown_type what, restinio::asio_ns::error_code& ec) {
        // A refused connection keeps reading until lingering_close is done with it.
        if (refused()) what = restinio::asio_ns::ip::tcp::socket::shutdown_send;
        socket_.shutdown(what, ec);
    }

    void close() {
        const bool linger = refused();
        forget();
        if (linger) return lingering_close::start(std::move(socket_));
        restinio::asio_ns::error_code ignored;
        socket_.close(ignored);
    }

    template <class Buffers, class Handler>
    void async_read_some(const Buffers& buffers, Handler&& handler) {
        if (!state_) state_ = std::make_shared<edge_state>(socket_);
        auto ex = restinio::asio_ns::get_associated_executor(handler, socket_.get_executor());
        read_step(ex, *restinio::asio_ns::buffer_sequence_begin(buffers), std::forward<Handler>(handler));
    }

    template <class Buffers, class Handler>
    auto async_write_some(const Buffers& buffers, Handler&& handler) {
        return socket_.async_write_some(buffers, std::forward<Handler>(handler));
    }

private:
    [[nodiscard]] bool refused() const noexcept {
        return state_ && state_->scanner.at() == head_scanner::phase::refused;
    }

    // Whether the client's address may hold one more connection on this listener; it
    // holds it until forget().
    bool admit() {
        restinio::asio_ns::error_code ec;
        const auto remote = socket_.remote_endpoint(ec);
        const auto local = ec ? restinio::endpoint_t{} : socket_.local_endpoint(ec);
        if (ec) return true;  // the peer is gone already: its read fails
        const bool health = hooks_->health_port != 0 && local.port() == hooks_->health_port;
        const auto limit = health ? hooks_->health_per_client : hooks_->per_client;
        if (limit == 0) return true;
        auto address = remote.address();
        if (address.is_v6() && address.to_v6().is_v4_mapped()) {
            address = restinio::asio_ns::ip::make_address_v4(restinio::asio_ns::ip::v4_mapped, address.to_v6());
        }
        auto key = address.to_string() + (health ? " health" : " api");
        if (!hooks_->clients.try_acquire(key, limit)) return false;
        state_->client = std::move(key);
        return true;
    }

    // Gives back the client's slot and stops the header timer from touching the socket.
    void forget() noexcept {
        if (!state_) return;
        if (!state_->client.empty()) {
            hooks_->clients.release(state_->client);
            state_->client.clear();
        }
        std::lock_guard lock(state_->mu);
        state_->socket = nullptr;
        state_->timing = false;
        state_->timer.cancel();
        state_->park.cancel();
    }

    template <class Executor, class Handler>
    void read_step(Executor ex, restinio::asio_ns::mutable_buffer target, Handler handler) {
        auto& s = *state_;
        if (s.ready_from < s.ready.size()) {
            const auto n = std::min(target.size(), s.ready.size() - s.ready_from);
            std::memcpy(target.data(), s.ready.data() + s.ready_from, n);
            s.ready_from += n;
            if (s.ready_from == s.ready.size()) {
                s.ready.clear();
                s.ready_from = 0;
            }
            restinio::asio_ns::post(ex, [h = std::move(handler), n]() mutable { h(restinio::asio_ns::error_code{}, n); });
            return;
        }
        if (!s.requests_started && !admit()) {
            // Closed before a byte is read: RESTinio closes a connection whose read fails.
            hooks_->count("per_client_limit");
            restinio::asio_ns::post(ex, [h = std::move(handler)]() mutable {
                h(restinio::asio_ns::error::connection_refused, 0);
            });
            return;
        }
        if (s.scanner.at() == head_scanner::phase::head && !s.timing && (!s.requests_started || s.scanner.mid_head())) {
            arm_header_timer(ex);
        }
        s.requests_started = true;
        socket_.async_read_some(
            restinio::asio_ns::buffer(s.buffer),
            restinio::asio_ns::bind_executor(ex, [this, ex, target, h = std::move(handler)](
                                                     const restinio::asio_ns::error_code& ec, std::size_t n) mutable {
                after_read(ec, n, ex, target, std::move(h));
            }));
    }

    template <class Executor, class Handler>
    void after_read(const restinio::asio_ns::error_code& ec, std::size_t n, Executor ex,
                    restinio::asio_ns::mutable_buffer target, Handler handler) {
        auto& s = *state_;
        if (s.timed_out) {  // whatever the read brought: the head came too late
            s.timed_out = false;
            hooks_->count("header_timeout");
            return handler(restinio::asio_ns::error::timed_out, 0);
        }
        if (ec) {
            if (ec == restinio::asio_ns::error::eof && refused()) {
                // The client closed its side before the refusal was answered: RESTinio
                // must not take that for the end of the connection before it answers.
                s.park.expires_at(restinio::asio_ns::steady_timer::time_point::max());
                s.park.async_wait(restinio::asio_ns::bind_executor(
                    ex, [h = std::move(handler)](const restinio::asio_ns::error_code&) mutable {
                        h(restinio::asio_ns::error::operation_aborted, 0);
                    }));
                return;
            }
            return handler(ec, 0);
        }
        s.scanner.feed(std::string_view(s.buffer.data(), n), s.ready, *hooks_);
        // A head completed (or was refused); empty lines before one do not count.
        if (s.timing && (s.ready_from < s.ready.size() || s.scanner.at() != head_scanner::phase::head)) {
            std::lock_guard lock(s.mu);
            s.timing = false;
            s.timer.cancel();
        }
        read_step(ex, target, std::move(handler));
    }

    template <class Executor>
    void arm_header_timer(Executor ex) {
        auto& s = *state_;
        std::lock_guard guard(s.mu);
        s.timing = true;
        const auto generation = ++s.timer_generation;
        s.timer.expires_after(hooks_->header_timeout);
        s.timer.async_wait(
            restinio::asio_ns::bind_executor(ex, [st = state_, generation](const restinio::asio_ns::error_code& ec) {
                if (ec) return;
                std::lock_guard lock(st->mu);
                // An expiry already on its way when its head completed is not this head's.
                if (!st->timing || st->timer_generation != generation || st->socket == nullptr) return;
                st->timed_out = true;
                restinio::asio_ns::error_code ignored;
                st->socket->cancel(ignored);
            }));
    }

    restinio::asio_ns::ip::tcp::socket socket_;
    edge_hooks* hooks_;
    std::shared_ptr<edge_state> state_;
};

// RESTinio's connection finds these by argument-dependent lookup; for a plain TCP socket it
// has its own (nothing to prepare, no TLS to show the state listener).
template <class Connection, class Start_read, class Failed>
void prepare_connection_and_start_read(edge_socket&, Connection&, Start_read start_read, Failed) {
    start_read();
}

restinio::tls_socket_t* make_tls_socket_pointer_for_state_listener(edge_socket&) noexcept { return nullptr; }

struct traits : restinio::default_traits_t {
    static constexpr bool use_connection_count_limiter = true;
    using stream_socket_t = edge_socket;
};
using restinio_server = restinio::http_server_t<traits>;

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
    get_review,
    product_reviews,
    product_rating,
    customer_reviews,
    get_order,
    list_orders,
    order_summary,
};

struct route_pattern {
    std::string_view method;
    // "" ends the pattern; "{name}" is a parameter (named as in the OpenAPI document)
    std::array<std::string_view, 4> segments;
    route_id id;
};

constexpr bool is_parameter(std::string_view segment) { return segment.starts_with('{'); }

constexpr std::array<route_pattern, 21> routes = {{
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
    {"GET", {"v1", "reviews", "{id}"}, route_id::get_review},
    {"GET", {"v1", "products", "{sku}", "reviews"}, route_id::product_reviews},
    {"GET", {"v1", "products", "{sku}", "rating"}, route_id::product_rating},
    {"GET", {"v1", "customers", "{id}", "reviews"}, route_id::customer_reviews},
    {"GET", {"v1", "orders", "{id}"}, route_id::get_order},
    {"GET", {"v1", "orders"}, route_id::list_orders},
    {"GET", {"v1", "admin", "orders", "summary"}, route_id::order_summary},
}};

std::optional<review_query_route> review_query_of(route_id id) {
    switch (id) {
        case route_id::get_review: return review_query_route::get_review;
        case route_id::product_reviews: return review_query_route::product_reviews;
        case route_id::product_rating: return review_query_route::product_rating;
        case route_id::customer_reviews: return review_query_route::customer_reviews;
        default: return std::nullopt;
    }
}

std::optional<order_query_route> order_query_of(route_id id) {
    switch (id) {
        case route_id::get_order: return order_query_route::get_order;
        case route_id::list_orders: return order_query_route::list_orders;
        case route_id::order_summary: return order_query_route::summary;
        default: return std::nullopt;
    }
}

// Routes anyone may read without a token (a token, when sent, is still checked).
constexpr bool is_public(route_id id) { return id == route_id::product_reviews || id == route_id::product_rating; }

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

// A command request that carries an Idempotency-Key: the scoped key (= the command id) and
// what makes a retry "the same request".
struct keyed_request {
    std::string key;
    std::string digest;
};

// One request: what every response of it carries and what the log line names, and what the
// routes see of it (request.hpp). Shared by the copies of the `request` handed to the
// routes; the pipeline fills it in before it hands one out, and nothing changes it after.
class exchange final : public request_port, public std::enable_shared_from_this<exchange> {
public:
    explicit exchange(server::impl& s) : owner(&s) {}

    server::impl* owner;
    std::shared_ptr<flight_state> flights;
    restinio::request_handle_t req;
    std::shared_ptr<flight> in_flight;
    std::string traceparent;
    // For the metrics: when the request was taken, and its route's template.
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::string_view route = "unmatched";
    adapters::metrics::service_metrics* metrics = nullptr;
    bool access_log = false;  // one info line per answered request
    std::optional<keyed_request> keyed;

    [[nodiscard]] std::string_view body() const override { return req->body(); }
    [[nodiscard]] result<query_parameters, problem> query() const override;
    [[nodiscard]] result<std::optional<min_position_token>, problem> min_position() const override;
    void answer(response r) const override;
    [[nodiscard]] bool post(work_pool_id pool, std::function<void()>& job) const override;
    void post_after(std::chrono::milliseconds delay, work_pool_id pool, std::function<void()> job) const override;
    void run_command(command_route command, eventstore::context ctx, command_start start,
                     command_renderer render) const override;
};

problem unreadable_query() { return bad_query_parameter("query", "the query string is not valid"); }

result<query_parameters, problem> exchange::query() const {
    try {
        const auto query = restinio::parse_query<restinio::parse_query_traits::relaxed>(req->header().query());
        query_parameters out;
        for (const auto& [name, value] : query) {
            out.add(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
        }
        return out;
    } catch (const std::exception&) {
        return fail(unreadable_query());
    }
}

result<std::optional<min_position_token>, problem> exchange::min_position() const {
    if (const auto h = req->header().opt_value_of("X-Min-Position")) {
        return min_position_token{std::string(h->data(), h->size()), true};
    }
    try {
        const auto query = restinio::parse_query<restinio::parse_query_traits::relaxed>(req->header().query());
        if (const auto v = query.get_param("minPosition")) return min_position_token{std::string(v->data(), v->size()), false};
    } catch (const std::exception&) {
        return fail(unreadable_query());
    }
    return std::nullopt;
}

// A path id that breaks the id syntax names no aggregate: such a request is a 404 before
// anything looks the id up, so an If-Match on it is not judged against an aggregate that
// cannot exist (schemathesis found DELETE /v1/reviews/<not an id> answered 412).
std::optional<problem> unknown_aggregate(route_id id, const std::string& param) {
    switch (id) {
        case route_id::cancel_order:
        case route_id::ship_order:
        case route_id::order_events:
        case route_id::get_order:
            if (domain::is_valid_id(param)) return std::nullopt;
            return not_found("no order '" + param + "': not an order id");
        case route_id::edit_review:
        case route_id::retract_review:
        case route_id::vote_helpful:
        case route_id::moderate_review:
        case route_id::review_events:
        case route_id::get_review:
            if (domain::review::parse_review_id(param)) return std::nullopt;
            return not_found("no review '" + param + "': a review id is <sku>~<author id>");
        default:
            return std::nullopt;
    }
}

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
response render_command_result(const exchange& x, command_route route, eventstore::context ctx, bool creation,
                               const command_renderer& render, const commands::command_result& r) {
    if (!r) {
        if (r.error().code == commands::command_errc::internal) {
            spdlog::error("request {}: command failed: {}", x.request_id, r.error().message);
        }
        return from_problem(from_command_error(r.error(), route), x.path);
    }
    const auto& outcome = *r;
    response resp;
    resp.status = creation && outcome.kind != commands::outcome_kind::unchanged ? 201 : 200;
    auto rendered = render(outcome);
    resp.body = std::move(rendered.body);
    if (creation) resp.headers.emplace_back("Location", std::move(rendered.location));
    resp.headers.emplace_back("ETag", etag(outcome.version));
    // Named by its context (issue 11): a read of a model fed by several logs can tell which.
    if (outcome.at) resp.headers.emplace_back("X-Position", eventstore::to_token(ctx, *outcome.at));
    return resp;
}


}  // namespace

// ---- the server ------------------------------------------------------------------------

struct server::impl {
    impl(server_options o, server_dependencies d)
        : options(std::move(o)),
          deps(std::move(d)),
          limiter(rate_limit_options{.rate = options.rate_limit, .burst = options.rate_burst}) {
        hooks.header_timeout = options.header_timeout;
        hooks.metrics = deps.metrics;
        hooks.per_client = options.max_connections_per_client;
    }

    server_options options;
    server_dependencies deps;
    rate_limiter limiter;
    std::shared_ptr<flight_state> flights = std::make_shared<flight_state>();
    edge_hooks hooks;  // outlives `io`; filled in by the constructor
    std::unique_ptr<owned_io_context> io = std::make_unique<owned_io_context>(hooks);     // outlives `http`
    std::unique_ptr<restinio_server> http;
    std::unique_ptr<restinio_server> health;  // options.health_port: probes and metrics only
    std::atomic<std::uint16_t> health_bound{0};
    std::vector<std::thread> io_threads;
    std::unique_ptr<work_pool> readers;      // history reads and readiness checks (they block)
    std::unique_ptr<work_pool> order_readers;  // order queries: PostgreSQL round trips
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
    // The routes of the two contexts (order_routes.hpp, review_routes.hpp).
    order_routes orders{{deps.orders, {deps.tail, deps.store, options.min_position_timeout}, deps.order_queries}};
    review_routes reviews{{deps.reviews, {deps.tail, deps.store, options.min_position_timeout}, deps.review_queries,
                           deps.review_projection}};

    // Answers a keyed request from the idempotency store when it holds an answer for the
    // key (the same request: that answer; another request: 422); false when it holds none.
    bool answer_from_store(const exchange& x, const keyed_request& k);
    // Registers a keyed request as running; false (after answering 422) when the key runs
    // now with a different request.
    bool enter_key(const exchange& x, const keyed_request& k);
    void leave_key(const std::string& key);

    restinio::request_handling_status_t on_request(restinio::request_handle_t req, bool health_only);
    // A head edge_socket refused (its refusal header names this process's secret); false
    // for any other request.
    bool answer_refusal(const exchange& x);
    void dispatch(const std::shared_ptr<exchange>& x, const matched_route& route);
    void readyz(std::shared_ptr<exchange> x);
    [[nodiscard]] work_pool& pool_of(work_pool_id id) const { return id == work_pool_id::reads ? *readers : *order_readers; }
    // exchange::run_command: see request_port::run_command.
    void run_command(std::shared_ptr<const exchange> x, command_route route, eventstore::context ctx,
                     command_start start, command_renderer render);
    void finish_command(const exchange& x, command_route route, eventstore::context ctx, bool creation,
                        const command_renderer& render, const commands::command_result& r);
    std::size_t shutdown();
};

restinio::request_handling_status_t server::impl::on_request(restinio::request_handle_t req, bool health_only) {
    const auto xp = std::make_shared<exchange>(*this);
    auto& x = *xp;
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

    if (answer_refusal(x)) return restinio::request_accepted();
    if (flights->draining.load()) {
        auto r = from_problem(unavailable("the server is shutting down", 1), x.path);
        r.close = true;
        send(x, std::move(r));
        return restinio::request_accepted();
    }
    auto m = match(x.method, x.path);
    const bool probe = m.route && (m.route->id == route_id::healthz || m.route->id == route_id::readyz ||
                                   m.route->id == route_id::metrics);
    if (!options.api && !probe) {  // server_options::api
        problem p;
        p.type = std::string(problem_type_base) + "api-not-served";
        p.title = "This process does not serve the API";
        p.status = 503;
        p.detail = "this shopstream serve process runs without the api role (--roles): it answers only /healthz, "
                   "/readyz and /metrics; send API requests to a process with the api role";
        send_problem(x, std::move(p));
        return restinio::request_accepted();
    }
    if (!m.route) {
        if (!m.allowed.empty()) {
            x.route = route_template(*m.path_route);  // the path's template, as a metrics label
            send_problem(x, method_not_allowed(x.method, m.allowed));
        } else {
            send_problem(x, route_not_found(x.method, x.path));
        }
        return restinio::request_accepted();
    }
    if (health_only && m.route->id != route_id::healthz && m.route->id != route_id::readyz &&
        m.route->id != route_id::metrics) {
        send_problem(x, route_not_found(x.method, x.path));
        return restinio::request_accepted();
    }
    x.route = route_template(m.route->id);
    try {
        dispatch(xp, *m.route);
    } catch (const std::exception& e) {
        // dispatch() answers every path itself; this is for a bug or bad_alloc: the
        // connection is left to RESTinio's request timeout.
        spdlog::error("request handling failed: {}", e.what());
    }
    return restinio::request_accepted();
}

bool server::impl::answer_refusal(const exchange& x) {
    const auto refusal = x.req->header().opt_value_of(refusal_header);
    if (!refusal) return false;
    const std::string_view text(refusal->data(), refusal->size());
    const auto sp = text.find(' ');
    if (text.substr(0, sp) != hooks.secret || sp == std::string_view::npos) return false;
    const auto rest = text.substr(sp + 1);
    const auto reason = rest.substr(0, rest.find(' '));
    const auto field = rest.find(' ') == std::string_view::npos ? "-"sv : rest.substr(rest.find(' ') + 1);
    problem p;
    if (reason == name_of(refusal_reason::uri_too_long)) {
        hooks.count("uri_too_long");
        p = uri_too_long(max_target_bytes);
    } else if (reason == name_of(refusal_reason::too_many_fields)) {
        hooks.count("header_too_large");
        p = header_fields_too_large("", "the request has more than " + std::to_string(max_field_count) +
                                            " header fields");
    } else if (reason == name_of(refusal_reason::field_too_large)) {
        hooks.count("header_too_large");
        p = header_fields_too_large(field, "the header field '" + std::string(field) + "' exceeds " +
                                               std::to_string(max_field_line_bytes) + " bytes");
    } else {
        hooks.count("header_too_large");
        p = header_fields_too_large(field, "the request head exceeds " + std::to_string(max_head_bytes) +
                                               " bytes (at the header field '" + std::string(field) + "')");
    }
    auto r = from_problem(std::move(p), x.path == "/" ? ""sv : std::string_view(x.path));
    r.close = true;  // the rest of what the client sent is not read
    send(x, std::move(r));
    return true;
}

void server::impl::dispatch(const std::shared_ptr<exchange>& xp, const matched_route& route) {
    auto& x = *xp;
    if (route.id == route_id::healthz) {
        send(x, response{200, "application/json", R"({"status":"ok"})", {}, false});
        return;
    }
    if (route.id == route_id::readyz) {
        readyz(xp);
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
    x.param = route.param;

    // Every /v1 route needs a bearer token, but the public reads.
    const auto authorization = x.req->header().get_field_or(restinio::http_field::authorization, "");
    if (authorization.empty() && is_public(route.id)) {
        // Anonymous readers share one bucket per client address.
        const auto client = "anonymous@" + x.req->remote_endpoint().address().to_string();
        if (const auto d = limiter.try_acquire(client, std::chrono::steady_clock::now()); !d.allowed) {
            send_problem(x, too_many_requests(d.retry_after_seconds));
            return;
        }
        reviews.query(request(xp), *review_query_of(route.id));
        return;
    }
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
    x.actor = *who;
    const domain::actor& actor = *x.actor;

    // Per-principal rate limit: before any work, so a refused request appends nothing.
    if (const auto d = limiter.try_acquire(actor.id, std::chrono::steady_clock::now()); !d.allowed) {
        send_problem(x, too_many_requests(d.retry_after_seconds));
        return;
    }

    if (auto unknown = unknown_aggregate(route.id, route.param)) {
        send_problem(x, std::move(*unknown));
        return;
    }

    if (route.id == route_id::order_events) return orders.history(request(xp));
    if (route.id == route_id::review_events) return reviews.history(request(xp));
    if (const auto q = review_query_of(route.id)) return reviews.query(request(xp), *q);
    if (const auto q = order_query_of(route.id)) return orders.query(request(xp), *q);

    const auto croute = command_route_of(route.id);
    if (!croute) return send_problem(x, internal_error("unrouted request"));
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

    command_call call;
    call.options.timeout = options.command_timeout;
    if (const auto if_match = x.req->header().opt_value_of("If-Match")) {
        auto expected = expected_version_from_if_match(std::string_view(if_match->data(), if_match->size()));
        if (!expected) {
            send_problem(x, std::move(expected.error()));
            return;
        }
        call.options.expected_version = *expected;
    }

    // Idempotency-Key: the key, scoped to the caller, is the command id, so a retry that
    // reaches the log is a duplicate the apply rule ignores; the idempotency store gives a
    // retry the first answer byte for byte and refuses the key with another request (422).
    auto& meta = call.meta;
    if (const auto key = x.req->header().opt_value_of("Idempotency-Key")) {
        const std::string_view k(key->data(), key->size());
        if (k.size() > 100 || !domain::is_valid_id(k)) {
            send_problem(x, bad_header("Idempotency-Key", "must be 1-100 characters from [A-Za-z0-9._:-]"));
            return;
        }
        meta.command_id = idempotent_command_id(actor.id, k);
        if (deps.idempotency != nullptr) {
            x.keyed = keyed_request{meta.command_id, request_digest(x.method, x.path, body)};
            if (answer_from_store(x, *x.keyed)) return;
        }
    } else {
        meta.command_id = "cmd:" + random_hex(16);
    }
    meta.correlation_id = x.request_id;
    meta.traceparent = x.traceparent;
    call.at = now_ms();

    switch (*croute) {
        case command_route::place_order:
        case command_route::cancel_order:
        case command_route::ship_order: return orders.command(request(xp), *croute, std::move(call));
        default: return reviews.command(request(xp), *croute, std::move(call));
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

void server::impl::run_command(std::shared_ptr<const exchange> x, command_route route, eventstore::context ctx,
                               command_start start, command_renderer render) {
    if (x->keyed) {
        if (!enter_key(*x, *x->keyed)) return;
        // An answer recorded between dispatch's look-up and the registration.
        if (answer_from_store(*x, *x->keyed)) return leave_key(x->keyed->key);
    }
    const bool creation = route == command_route::place_order || route == command_route::submit_review;
    // The callback runs on the handler's executor, which must stay short
    // (command_handler.hpp): it only hands the result to the completion pool, where the
    // answer is rendered (a second state decode), a keyed answer recorded (an LMDB write)
    // and the write handed to RESTinio. After shutdown() closed the pool the work runs
    // here: the event loop is gone, but a keyed answer is still recorded for the client's
    // retry.
    start([this, x = std::move(x), route, ctx, creation, render = std::move(render)](commands::command_result r) {
        auto job = [this, x, route, ctx, creation, render, r = std::move(r)] {
            finish_command(*x, route, ctx, creation, render, r);
        };
        if (!completions->post(job)) job();
    });
}

void server::impl::finish_command(const exchange& x, command_route route, eventstore::context ctx, bool creation,
                                  const command_renderer& render, const commands::command_result& r) {
    auto resp = render_command_result(x, route, ctx, creation, render, r);
    if (const auto& keyed = x.keyed) {
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

namespace {

void exchange::answer(response r) const { send(*this, std::move(r)); }

bool exchange::post(work_pool_id pool, std::function<void()>& job) const { return owner->pool_of(pool).post(job); }

void exchange::post_after(std::chrono::milliseconds delay, work_pool_id pool, std::function<void()> job) const {
    auto timer = std::make_shared<restinio::asio_ns::steady_timer>(*owner->io, delay);
    timer->async_wait([s = owner, timer, pool, job = std::move(job)](const restinio::asio_ns::error_code& ec) mutable {
        if (ec) return;  // the event loop stops: the connection closes with it
        (void)s->pool_of(pool).post(job);  // closed only after the event loop stopped
    });
}

void exchange::run_command(command_route command, eventstore::context ctx, command_start start,
                           command_renderer render) const {
    owner->run_command(shared_from_this(), command, ctx, std::move(start), std::move(render));
}

}  // namespace

void server::impl::readyz(std::shared_ptr<exchange> x) {
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
        for (const auto& [name, check] : {std::pair{"brokers", &deps.brokers}, std::pair{"postgres", &deps.postgres},
                                          std::pair{"projections", &deps.projections}}) {
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
        if (deps.payment_breaker) body["paymentGateway"] = {{"breaker", deps.payment_breaker()}};
        response r;
        r.status = ready ? 200 : 503;
        r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (!ready) r.headers.emplace_back("Retry-After", "1");
        send(*x, std::move(r));
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
    if (health) {
        auto health_closed = std::make_shared<std::promise<void>>();
        auto health_future = health_closed->get_future();
        health->close_async([health_closed] { health_closed->set_value(); },
                            [health_closed](std::exception_ptr) { health_closed->set_value(); });
        health_future.wait_for(std::chrono::seconds(5));
    }
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
    order_readers->close();
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

std::optional<std::uint16_t> server::health_port() const noexcept {
    if (!impl_->health) return std::nullopt;
    return impl_->health_bound.load();
}

std::size_t server::shutdown() { return impl_->shutdown(); }

namespace {

// Why a listener could not open: asio reports a bind failure as a std::system_error.
error listen_failure(const std::exception& e, const std::string& where) {
    errc code = errc::listen_failed;
    if (const auto* system = dynamic_cast<const std::system_error*>(&e);
        system != nullptr && system->code() == std::errc::address_in_use) {
        code = errc::address_in_use;
    }
    return {code, "cannot listen on " + where + ": " + e.what()};
}

}  // namespace

result<std::unique_ptr<server>, error> server::start(server_options options, server_dependencies deps) {
    auto p = std::make_unique<impl>(std::move(options), std::move(deps));
    impl* self = p.get();
    const auto& o = self->options;
    // RESTinio's own head limits sit above edge_socket's (which answers 414/431 first), so
    // they only act on what edge_socket does not follow (see the edge's comment).
    auto settings_for = [self, &o](const std::string& host, std::uint16_t port, bool health_only,
                                   std::size_t max_connections, std::atomic<std::uint16_t>& bound) {
        return restinio::server_settings_t<traits>{}
            .address(host)
            .port(port)
            .request_handler([self, health_only](restinio::request_handle_t req) {
                return self->on_request(std::move(req), health_only);
            })
            .concurrent_accepts_count(std::max(1U, o.io_threads))
            .max_parallel_connections(max_connections)
            .handle_request_timeout(o.request_timeout)
            .read_next_http_message_timelimit(o.idle_timeout)
            .write_http_response_timelimit(std::chrono::seconds(10))
            .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                          .max_url_size(2 * max_target_bytes)
                                          .max_field_name_size(2 * max_field_line_bytes)
                                          .max_field_value_size(2 * max_field_line_bytes)
                                          .max_field_count(2 * max_field_count)
                                          .max_body_size(hard_body_limit))
            .acceptor_post_bind_hook([&bound](restinio::asio_ns::ip::tcp::acceptor& a) {
                bound = a.local_endpoint().port();
            });
    };
    try {
        self->http = std::make_unique<restinio_server>(
            restinio::external_io_context(*self->io),
            settings_for(o.host, o.port, !o.api, o.max_connections, self->bound_port));
        self->http->open_sync();
    } catch (const std::exception& e) {
        return fail(listen_failure(e, o.host + ":" + std::to_string(o.port)));
    }
    if (o.health_port) {
        // Few probes come, each from few addresses: a small share of slots of its own.
        self->hooks.health_per_client = o.max_connections_per_client == 0 ? 0 : health_connections_per_client;
        try {
            self->health = std::make_unique<restinio_server>(
                restinio::external_io_context(*self->io),
                settings_for(o.health_host, *o.health_port, true, health_connections, self->health_bound));
            self->health->open_sync();
            self->hooks.health_port = self->health_bound.load();
        } catch (const std::exception& e) {
            return fail(listen_failure(e, o.health_host + ":" + std::to_string(*o.health_port) + " (health)"));
        }
    }
    self->readers = std::make_unique<work_pool>(o.read_threads);
    self->order_readers = std::make_unique<work_pool>(o.order_query_threads);
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
