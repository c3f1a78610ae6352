// RESTinio is included here and in adapters/http/server.cpp only (heavy headers).
#include "adapters/payment/fake_gateway.hpp"

#include <restinio/all.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/cli/signals.hpp"

namespace shopstream::adapters::payment {
namespace {

using json = nlohmann::json;
namespace asio = restinio::asio_ns;

constexpr std::size_t max_held_requests = 10'000;  // tok_timeout requests kept unanswered

struct reply {
    std::uint16_t status = 200;
    std::string body;
};

reply problem(std::uint16_t status, std::string detail) {
    return {status, json{{"outcome", "invalid"}, {"detail", std::move(detail)}}.dump()};
}

reply reply_of(const outcome& o) {
    switch (o.kind) {
        case outcome_kind::approved:
            return {200, json{{"outcome", "approved"}, {"reference", o.reference}}.dump()};
        case outcome_kind::declined:
            return {402, json{{"outcome", "declined"}, {"reason", o.reason}}.dump()};
        case outcome_kind::transient_failure:
            return {503, json{{"outcome", "transient_failure"}, {"reason", o.reason}}.dump()};
        case outcome_kind::unknown:
            break;
    }
    return {500, json{{"outcome", "unknown"}, {"reason", o.reason}}.dump()};
}

std::optional<operation> operation_of(std::string_view name) {
    for (const operation op : {operation::authorize, operation::capture, operation::void_payment, operation::refund}) {
        if (operation_name(op) == name) return op;
    }
    return std::nullopt;
}

// The request of "POST /v1/payments/<id>/<op>" with its body, or the 4xx reply.
result<std::pair<operation, gateway_request>, reply> read_call(std::string_view id, std::string_view op_name,
                                                               std::string key, const std::string& body) {
    const auto op = operation_of(op_name);
    if (!op) return fail(problem(404, "no such operation: " + std::string(op_name)));
    if (key.empty()) return fail(problem(400, "the Idempotency-Key header is required"));
    const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return fail(problem(400, "the body is not a JSON object"));
    gateway_request r;
    r.payment = domain::payment_id{std::string(id)};
    r.idempotency_key = std::move(key);
    const auto amount = j.find("amount");
    if (amount == j.end() || !amount->is_object() || !amount->contains("amount") ||
        !(*amount)["amount"].is_number_integer() || !amount->contains("currency") ||
        !(*amount)["currency"].is_string()) {
        return fail(problem(400, "amount must be {\"amount\": <integer>, \"currency\": \"<ISO 4217>\"}"));
    }
    auto currency = domain::currency::parse((*amount)["currency"].get<std::string>());
    if (!currency) return fail(problem(400, "amount.currency: " + currency.error()));
    r.amount = domain::money{(*amount)["amount"].get<std::int64_t>(), *currency};
    if (const auto t = j.find("token"); t != j.end() && t->is_string()) r.method_token = t->get<std::string>();
    if (const auto f = j.find("refundId"); f != j.end() && f->is_string()) r.refund_id = f->get<std::string>();
    return std::pair{*op, std::move(r)};
}

json ledger_json(const ledger_entry& e) {
    return json{{"authorized", e.authorized}, {"captured", e.captured}, {"refunded", e.refunded},
                {"voided", e.voided},         {"currency", e.currency}};
}

}  // namespace

struct fake_gateway::impl {
    fake_gateway_options options;
    simulator rules;
    asio::io_context io;
    std::unique_ptr<restinio::http_server_t<>> server;
    std::vector<std::thread> threads;
    std::atomic<std::uint16_t> bound{0};
    std::mutex held_mutex;
    std::deque<restinio::request_handle_t> held;

    explicit impl(fake_gateway_options o) : options(std::move(o)) {}  // rules: no latency, waited here

    void send(const restinio::request_handle_t& req, const reply& r) {
        req->create_response(restinio::http_status_line_t{restinio::http_status_code_t{r.status}, "Fake gateway"})
            .append_header(restinio::http_field::content_type, "application/json")
            .set_body(r.body)
            .done();
    }

    // After the latency, on a timer: no server thread waits.
    void answer_later(restinio::request_handle_t req, reply r) {
        if (options.latency.count() <= 0) {
            send(req, r);
            return;
        }
        auto timer = std::make_shared<asio::steady_timer>(io, options.latency);
        timer->async_wait([this, timer, req = std::move(req), r = std::move(r)](const asio::error_code&) {
            send(req, r);
        });
    }

    void hold(restinio::request_handle_t req) {
        std::lock_guard lock(held_mutex);
        if (held.size() >= max_held_requests) held.pop_front();  // its connection closes
        held.push_back(std::move(req));
    }

    restinio::request_handling_status_t on_request(restinio::request_handle_t req) {
        const std::string path(req->header().path());
        constexpr std::string_view prefix = "/v1/payments/";
        if (!std::string_view(path).starts_with(prefix)) {
            send(req, problem(404, "no such route"));
            return restinio::request_accepted();
        }
        const std::string_view rest = std::string_view(path).substr(prefix.size());
        const auto slash = rest.find('/');
        const std::string id = restinio::utils::unescape_percent_encoding(rest.substr(0, slash));
        if (req->header().method() == restinio::http_method_get() && slash == std::string_view::npos) {
            const auto entry = rules.ledger(domain::payment_id{id});
            send(req, entry ? reply{200, ledger_json(*entry).dump()} : problem(404, "no such payment"));
            return restinio::request_accepted();
        }
        if (req->header().method() != restinio::http_method_post() || slash == std::string_view::npos) {
            send(req, problem(405, "POST /v1/payments/<id>/<operation> or GET /v1/payments/<id>"));
            return restinio::request_accepted();
        }
        auto call = read_call(id, rest.substr(slash + 1), req->header().get_field_or("Idempotency-Key", ""),
                              req->body());
        if (!call) {
            send(req, call.error());
            return restinio::request_accepted();
        }
        const auto answer = rules.answer(call->first, call->second);
        if (!answer) {
            hold(std::move(req));
        } else {
            answer_later(std::move(req), reply_of(*answer));
        }
        return restinio::request_accepted();
    }
};

fake_gateway::fake_gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

result<std::unique_ptr<fake_gateway>, std::string> fake_gateway::start(fake_gateway_options options) {
    auto p = std::make_unique<impl>(std::move(options));
    impl* self = p.get();
    try {
        self->server = std::make_unique<restinio::http_server_t<>>(
            restinio::external_io_context(self->io),
            restinio::server_settings_t<>{}
                .address(self->options.host)
                .port(self->options.port)
                .request_handler([self](restinio::request_handle_t req) { return self->on_request(std::move(req)); })
                // RESTinio cuts a request unanswered for 10 s by default; tok_timeout's and a
                // long latency's must be cut by the client's timeout instead.
                .handle_request_timeout(std::chrono::hours(1))
                .acceptor_post_bind_hook(
                    [self](asio::ip::tcp::acceptor& a) { self->bound = a.local_endpoint().port(); }));
        self->server->open_sync();
    } catch (const std::exception& e) {
        return fail("cannot listen on " + self->options.host + ":" + std::to_string(self->options.port) + ": " +
                    e.what());
    }
    for (unsigned i = 0; i < std::max(1U, self->options.threads); ++i) {
        self->threads.emplace_back([self] { self->io.run(); });
    }
    return std::unique_ptr<fake_gateway>(new fake_gateway(std::move(p)));
}

fake_gateway::~fake_gateway() {
    try {
        impl_->server->close_sync();
    } catch (const std::exception& e) {
        spdlog::warn("fake gateway: closing the server: {}", e.what());
    }
    impl_->io.stop();
    for (auto& t : impl_->threads) t.join();
}

std::uint16_t fake_gateway::port() const noexcept { return impl_->bound.load(); }

int run_fake_gateway(const fake_gateway_options& options) {
    const sigset_t signals = block_termination_signals();
    auto gateway = fake_gateway::start(options);
    if (!gateway) {
        spdlog::error("{}", gateway.error());
        return 1;
    }
    std::printf("listening on http://%s:%u\n", options.host.c_str(), static_cast<unsigned>((*gateway)->port()));
    std::fflush(stdout);
    spdlog::info("fake payment gateway (the simulator's rules: tok_visa, tok_declined, tok_insufficient_funds, "
                 "tok_timeout, tok_flaky_N), latency {} ms; SIGINT or SIGTERM stops it",
                 options.latency.count());
    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("signal {} received, stopping the fake gateway", received);
    return 0;
}

}  // namespace shopstream::adapters::payment
