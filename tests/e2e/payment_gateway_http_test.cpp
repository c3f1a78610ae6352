// The HTTP payment client (adapters/payment/http_gateway.hpp) against `shopstream
// fake-gateway` started as a real process on a free port: every outcome, the same
// idempotency key twice, a stopped gateway (transient), a slow one (unknown at the
// timeout), never-answering calls holding back no other one, the bound on transfers at
// once, the destructor answering what is pending, and the command line's refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adapters/payment/http_gateway.hpp"
#include "adapters/payment/resilient_gateway.hpp"
#include "adapters/payment/simulator.hpp"
#include "tests/adapters/payment_requests.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"

namespace shopstream::adapters::payment {
namespace {

using namespace std::chrono_literals;
using testing::process;
using testing::spawn_options;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct fake_gateway_process {
    process child;
    std::string url;
};

fake_gateway_process start_fake_gateway(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {SHOPSTREAM_BINARY, "fake-gateway", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    spawn_options options(argv);
    options.standard_error = testing::output::null();
    auto child = process::spawn(options);
    if (!child) throw std::runtime_error("cannot start fake-gateway: " + child.error().message);
    auto line = child->read_line(20s);
    if (!line) throw std::runtime_error("fake-gateway printed no address: " + line.error().message);
    constexpr std::string_view prefix = "listening on ";
    if (!line->starts_with(prefix)) throw std::runtime_error("unexpected first line: " + *line);
    return {std::move(*child), line->substr(prefix.size())};
}

using test_requests::eur;
using test_requests::request;

// What the fake holds for a payment (GET /v1/payments/<id>), through curl the program.
std::optional<nlohmann::json> ledger(const std::string& url, const std::string& payment) {
    auto got = testing::run({"curl", "-sf", url + "/v1/payments/" + payment}, 10s);
    if (!got || !got->status.success()) return std::nullopt;
    return nlohmann::json::parse(got->standard_output);
}

class payment_http_gateway : public ::testing::Test {
protected:
    static void SetUpTestSuite() { fake_ = new fake_gateway_process(start_fake_gateway()); }
    static void TearDownTestSuite() {
        delete fake_;
        fake_ = nullptr;
    }
    static fake_gateway_process* fake_;
};
fake_gateway_process* payment_http_gateway::fake_ = nullptr;

TEST_F(payment_http_gateway, every_outcome_of_the_simulator_arrives_over_http) {
    http_gateway g(fake_->url + "/");
    const outcome visa = g.authorize(request("h-visa", "tok_visa", 5000, operation::authorize), 5s);
    EXPECT_EQ(visa.kind, outcome_kind::approved) << visa.reason;
    EXPECT_THAT(visa.reference, ::testing::MatchesRegex("sim-[0-9a-f]{16}"));
    simulator in_process;
    EXPECT_EQ(visa, in_process.authorize(request("h-visa", "tok_visa", 5000, operation::authorize), 5s))
        << "the same rules in and out of process";

    EXPECT_EQ(g.authorize(request("h-declined", "tok_declined", 5000, operation::authorize), 5s),
              declined("card_declined"));
    EXPECT_EQ(g.authorize(request("h-funds", "tok_insufficient_funds", 10'001, operation::authorize), 5s),
              declined("insufficient_funds"));
    EXPECT_TRUE(g.authorize(request("h-funds-ok", "tok_insufficient_funds", 10'000, operation::authorize), 5s)
                    .approved());
    const outcome flaky = g.authorize(request("h-flaky", "tok_flaky_1", 100, operation::authorize), 5s);
    EXPECT_EQ(flaky.kind, outcome_kind::transient_failure) << flaky.reason;
    EXPECT_TRUE(g.authorize(request("h-flaky", "tok_flaky_1", 100, operation::authorize), 5s).approved());

    ASSERT_TRUE(g.capture(request("h-visa", "", 5000, operation::capture), 5s).approved());
    ASSERT_TRUE(g.refund(request("h-visa", "", 1200, operation::refund, "r-1"), 5s).approved());
    EXPECT_EQ(g.refund(request("h-visa", "", 5000, operation::refund, "r-2"), 5s), declined("exceeds_captured"));
    ASSERT_TRUE(g.void_payment(request("h-funds-ok", "", 0, operation::void_payment), 5s).approved());
    const auto held = ledger(fake_->url, "h-visa");
    ASSERT_TRUE(held.has_value());
    EXPECT_EQ(*held, nlohmann::json::parse(
                         R"({"authorized":5000,"captured":5000,"refunded":1200,"voided":false,"currency":"EUR"})"));
    EXPECT_EQ(ledger(fake_->url, "h-funds-ok")->at("voided"), true);
}

TEST_F(payment_http_gateway, tok_timeout_is_unknown_at_the_per_call_timeout) {
    http_gateway g(fake_->url);
    const auto started = std::chrono::steady_clock::now();
    const outcome o = g.authorize(request("h-timeout", "tok_timeout", 100, operation::authorize), 300ms);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(o.kind, outcome_kind::unknown) << o.reason;
    EXPECT_THAT(o.reason, HasSubstr("imeout"));
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 10s) << "bounded by the timeout, not by the server";
}

TEST_F(payment_http_gateway, the_same_idempotency_key_twice_is_one_charge) {
    http_gateway g(fake_->url);
    const auto auth = request("h-twice", "tok_visa", 700, operation::authorize);
    const outcome first = g.authorize(auth, 5s);
    ASSERT_TRUE(first.approved()) << first.reason;
    EXPECT_EQ(g.authorize(auth, 5s), first);
    const auto capture = request("h-twice", "", 700, operation::capture);
    const outcome captured = g.capture(capture, 5s);
    ASSERT_TRUE(captured.approved());
    EXPECT_EQ(g.capture(capture, 5s), captured);
    EXPECT_EQ(ledger(fake_->url, "h-twice")->at("captured"), 700) << "captured once";
}

TEST_F(payment_http_gateway, bad_requests_are_refused_as_declines_naming_the_status) {
    http_gateway g(fake_->url);
    auto keyless = request("h-bad", "tok_visa", 100, operation::authorize);
    keyless.idempotency_key.clear();
    const outcome o = g.authorize(keyless, 5s);
    EXPECT_EQ(o.kind, outcome_kind::declined);
    EXPECT_THAT(o.reason, HasSubstr("HTTP 400"));
}

// Issue 12: 200 never-answering calls and 200 answering ones started at once, over one
// client thread: every answer arrives while no never-answering call has ended. Then the
// client is destroyed with the 200 still out: each is answered unknown (it was sent).
TEST_F(payment_http_gateway, never_answering_calls_hold_back_no_other_call_and_the_destructor_answers_them) {
    std::mutex mu;
    int visa = 0;
    int never = 0;
    int never_when_visa_done = -1;
    std::vector<outcome> never_outcomes;
    {
        http_gateway g(fake_->url, 512);
        for (int i = 0; i < 400; ++i) {
            const bool holds = i % 2 == 0;
            g.start(operation::authorize,
                    request("h-many-" + std::to_string(i), holds ? "tok_timeout" : "tok_visa", 100, operation::authorize),
                    60s, [&, holds](outcome o) {
                        std::lock_guard lock(mu);
                        if (holds) {
                            ++never;
                            never_outcomes.push_back(std::move(o));
                        } else {
                            EXPECT_TRUE(o.approved()) << o.reason;
                            if (++visa == 200) never_when_visa_done = never;
                        }
                    });
        }
        ASSERT_TRUE(testing::eventually([&] {
            std::lock_guard lock(mu);
            return visa == 200;
        }, 30s)) << visa << " answered";
        std::lock_guard lock(mu);
        EXPECT_EQ(never_when_visa_done, 0) << "every answer came while all 200 were still out";
    }
    std::lock_guard lock(mu);
    ASSERT_EQ(never, 200) << "the destructor answered every call still out";
    for (const auto& o : never_outcomes) {
        EXPECT_EQ(o.kind, outcome_kind::unknown) << o.reason;
        EXPECT_THAT(o.reason, HasSubstr("shut down while the request was out"));
    }
}

// At most max_transfers on the wire; a call queued beyond them is not sent, and is answered
// transient_failure when its timeout passes in the queue (before the call ahead of it ends).
TEST_F(payment_http_gateway, calls_beyond_the_bound_wait_unsent_and_one_expiring_in_the_queue_is_transient) {
    http_gateway g(fake_->url, 1);
    std::mutex mu;
    std::vector<std::string> order;
    std::optional<outcome> held, expired, later;
    const auto note = [&](const char* name, std::optional<outcome>& into) {
        return [&, name](outcome o) {
            std::lock_guard lock(mu);
            order.emplace_back(name);
            into = std::move(o);
        };
    };
    g.start(operation::authorize, request("h-bound-1", "tok_timeout", 100, operation::authorize), 1500ms,
            note("held", held));
    g.start(operation::authorize, request("h-bound-2", "tok_visa", 100, operation::authorize), 300ms,
            note("expired", expired));
    g.start(operation::authorize, request("h-bound-3", "tok_visa", 100, operation::authorize), 10s, note("later", later));
    ASSERT_TRUE(testing::eventually([&] {
        std::lock_guard lock(mu);
        return order.size() == 3;
    }, 20s));
    std::lock_guard lock(mu);
    EXPECT_EQ(order, (std::vector<std::string>{"expired", "held", "later"}));
    EXPECT_EQ(expired->kind, outcome_kind::transient_failure) << expired->reason;
    EXPECT_THAT(expired->reason, HasSubstr("not sent"));
    EXPECT_FALSE(ledger(fake_->url, "h-bound-2").has_value()) << "the provider never saw it";
    EXPECT_EQ(held->kind, outcome_kind::unknown) << held->reason;
    EXPECT_TRUE(later->approved()) << later->reason << ": sent once the slot was free";
}

TEST(payment_http_gateway_process, a_stopped_gateway_is_a_transient_failure_and_a_slow_one_unknown) {
    auto fake = start_fake_gateway();
    http_gateway g(fake.url);
    ASSERT_TRUE(g.authorize(request("s-1", "tok_visa", 100, operation::authorize), 5s).approved());
    ASSERT_TRUE(fake.child.send_signal(SIGTERM).has_value());
    const auto status = fake.child.wait_for(20s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->success()) << status->describe();
    const outcome down = g.authorize(request("s-2", "tok_visa", 100, operation::authorize), 2s);
    EXPECT_EQ(down.kind, outcome_kind::transient_failure) << down.reason;
    EXPECT_THAT(down.reason, HasSubstr(fake.url));

    // Behind the breaker: failures open it, then calls no longer reach the dead address.
    resilient_gateway guarded(g, {1, 1ms, 1ms}, {0.5, 2, 60s, 60s});
    EXPECT_EQ(guarded.authorize(request("s-3", "tok_visa", 100, operation::authorize), 1s).kind,
              outcome_kind::transient_failure);
    EXPECT_EQ(guarded.authorize(request("s-3", "tok_visa", 100, operation::authorize), 1s).kind,
              outcome_kind::transient_failure);
    EXPECT_EQ(guarded.breaker().state(), breaker_state::open);
    EXPECT_THAT(guarded.authorize(request("s-3", "tok_visa", 100, operation::authorize), 1s).reason,
                HasSubstr("circuit breaker open"));

    auto slow = start_fake_gateway({"--latency", "2s"});
    http_gateway slow_gateway(slow.url);
    const outcome late = slow_gateway.authorize(request("s-4", "tok_visa", 100, operation::authorize), 300ms);
    EXPECT_EQ(late.kind, outcome_kind::unknown) << late.reason;
    // It did act: the retry with the same key, given time, finds the approval.
    const outcome found = slow_gateway.authorize(request("s-4", "tok_visa", 100, operation::authorize), 5s);
    EXPECT_TRUE(found.approved()) << found.reason;
}

TEST(payment_http_gateway_process, the_command_line_refuses_bad_values_and_documents_the_rules) {
    auto bad_latency = testing::run({SHOPSTREAM_BINARY, "fake-gateway", "--latency", "fast"}, 20s);
    ASSERT_TRUE(bad_latency.has_value());
    EXPECT_EQ(bad_latency->status.code, 2);
    EXPECT_THAT(bad_latency->standard_error, HasSubstr("--latency"));
    auto bad_listen = testing::run({SHOPSTREAM_BINARY, "fake-gateway", "--listen", "nowhere"}, 20s);
    ASSERT_TRUE(bad_listen.has_value());
    EXPECT_EQ(bad_listen->status.code, 2);
    EXPECT_THAT(bad_listen->standard_error, HasSubstr("--listen"));
    auto help = testing::run({SHOPSTREAM_BINARY, "fake-gateway", "--help"}, 20s);
    ASSERT_TRUE(help.has_value());
    for (const char* token : {"tok_visa", "tok_declined", "tok_insufficient_funds", "tok_timeout", "tok_flaky_N"}) {
        EXPECT_THAT(help->standard_output, HasSubstr(token));
    }
    EXPECT_THAT(help->standard_output, HasSubstr("--latency"));
}

}  // namespace
}  // namespace shopstream::adapters::payment
