// The order/payment saga on the real binary (issue 12): `serve` processes on one
// Kafka-protocol cluster of their own process (`shopstream embedded-cluster`; with
// SHOPSTREAM_TEST_KAFKA=real the three-broker Apache Kafka cluster, the kafka label's
// e2e_tests_on_kafka), split with --roles - the API and the gateway worker in one, the saga
// in two others at once, one of which is SIGKILLed mid-run and started again; the saga and
// the gateway worker in a process without the API beside an api,projections one; an
// api-less process's answers; an api process reading its writes from a projections
// process's model - the gateway worker talking to a real `shopstream fake-gateway` that is
// stopped mid-run and started again; a load of orders with a mix of tokens; and the saga
// alone in a test process killed at exact points (serve_saga_crash). Checked: every
// order's terminal state in the read model (GET /v1/orders/{id}), its order stream (GET
// /v1/orders/{id}/events) and its payment stream as the apply rule judges the log (read
// with a plain consumer), each step exactly once.
#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/aggregates.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/commit.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_call.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/postgres_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/serve_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using names = std::vector<std::string>;

const std::string secret = "e2e-saga-secret-0123456789abcdef-0123456789";
constexpr int partitions = 4;

// The shopstream binary run here (serve, embedded-cluster, fake-gateway): this build's, or
// SHOPSTREAM_TEST_SERVE_BINARY's - the release build's for the 10 000-order load
// (tests/README.md), which the sanitized debug binary serves too slowly.
std::string serve_binary() {
    const char* other = std::getenv("SHOPSTREAM_TEST_SERVE_BINARY");
    return other != nullptr && *other != '\0' ? std::string(other) : std::string(SHOPSTREAM_BINARY);
}

std::string admin() { return mint_token(secret, "admin-1", domain::role::admin); }

std::string order_body(const std::string& token, int unit_price = 1250) {
    return R"({"paymentMethod":{"token":")" + token + R"("},"lines":[{"sku":"sku-1","quantity":2,"unitPrice":{"amount":)" +
           std::to_string(unit_price) + R"(,"currency":"EUR"}}]})";
}

struct gateway_process {
    process child;
    std::string url;
};

gateway_process start_fake_gateway(const std::string& listen = "127.0.0.1:0", const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {serve_binary(), "fake-gateway", "--listen", listen};
    argv.insert(argv.end(), extra.begin(), extra.end());
    spawn_options options(argv);
    options.standard_error = output::null();
    auto child = process::spawn(options);
    if (!child) throw std::runtime_error("cannot start fake-gateway: " + child.error().message);
    auto line = child->read_line(20s);
    if (!line || !line->starts_with("listening on ")) throw std::runtime_error("fake-gateway printed no address");
    return {std::move(*child), line->substr(std::string_view("listening on ").size())};
}

// The applied events of each aggregate of a context, as every reader judges its log: the
// apply rule over the whole topic in order (a step taken twice is in the log twice,
// applied once).
template <class Aggregate>
std::map<std::string, names> log_streams(const std::string& bootstrap, const std::string& topic) {
    std::map<std::string, names> out;
    auto records = consume_all(bootstrap, topic, 120s);
    EXPECT_TRUE(records.has_value()) << records.error();
    if (!records) return out;
    std::map<std::string, eventstore::aggregate_head> heads;
    for (const auto& r : *records) {
        if (!r.key || !r.value) continue;
        const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(r.value->data()), r.value->size());
        auto c = eventstore::decode_commit(bytes);
        if (!c) continue;
        auto& head = heads[c->aggregate_id];
        if (eventstore::judge(head, c->command_id, c->expected_version).verdict != eventstore::verdict::applied) continue;
        eventstore::record_applied(head, c->command_id, c->events.size(),
                                   {eventstore::partition_id(r.partition), eventstore::log_offset(r.offset)});
        for (const auto& e : c->events) {
            auto ev = Aggregate::decode_event(e.type, e.schema_version, e.payload);
            if (ev) out[c->aggregate_id].emplace_back(Aggregate::event_name(*ev));
        }
    }
    return out;
}

std::map<std::string, names> payment_streams(const std::string& bootstrap) {
    return log_streams<eventstore::payment_aggregate>(bootstrap, "payments.events");
}

names order_stream(const std::string& base, const std::string& id) {
    names out;
    auto r = try_call(base, "GET", "/v1/orders/" + id + "/events", bearer(admin()));
    if (!r || r->status != 200) return out;
    const json body = r->body_json();
    for (const auto& e : body.at("events")) out.push_back(e.at("type").get<std::string>());
    return out;
}

// GET /v1/orders/{id} from the read model; null when not there (yet).
json read_order(const std::string& base, const std::string& id) {
    auto r = try_call(base, "GET", "/v1/orders/" + id, bearer(admin()));
    if (!r || r->status != 200) return nullptr;
    return r->body_json();
}

bool terminal(const json& o) {
    if (o.is_null()) return false;
    const auto status = o.at("status").get<std::string>();
    if (status == "confirmed") return o.at("paymentCaptured").get<bool>();
    if (status != "cancelled") return false;
    // Cancelled: terminal once the provider holds nothing (no authorization left to void).
    return o.at("payment").is_null() || o.at("payment").at("status") != "authorized";
}

std::string place(const std::string& base, const std::string& token, int unit_price = 1250) {
    auto r = call(base, "POST", "/v1/orders", with_body(order_body(token, unit_price), mint_token(secret, "c-1", domain::role::customer)));
    if (r.status != 201) throw std::runtime_error("place: " + std::to_string(r.status) + " " + r.body);
    return r.body_json().at("orderId").get<std::string>();
}

const names happy_orders{"order_placed", "order_confirmed", "order_payment_captured"};
const names happy_payments{"payment_requested", "payment_authorized", "payment_captured"};
const names declined_orders{"order_placed", "order_cancelled"};
const names declined_payments{"payment_requested", "payment_declined"};

class serve_saga : public ::testing::Test {
protected:
    void SetUp() override {
        std::filesystem::permissions(dir_.path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
        if (real_kafka_requested()) {  // the kafka label's e2e_tests_on_kafka (tests/CMakeLists.txt)
            auto kafka = test_kafka::start_with_event_topics(partitions);
            ASSERT_TRUE(kafka.has_value()) << kafka.error();
            real_.emplace(std::move(*kafka));
        } else {
            cluster_.emplace(spawn_cluster(serve_binary(), partitions));
        }
        database_ = shared_postgres().create_database();
    }

    serve_process serve(const std::string& name, const std::string& roles, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"--partitions", std::to_string(partitions), "--brokers", bootstrap(),
                                         "--data-dir", (dir_.path() / name).string(), "--postgres",
                                         shared_postgres().connection_string(database_), "--cursor-key",
                                         "e2e-saga-cursor-key-0123456789", "--roles", roles};
        args.insert(args.end(), extra.begin(), extra.end());
        return spawn_serve(serve_binary(), args, dir_.path() / (name + ".log"), {{"SHOPSTREAM_JWT_SECRET", secret}});
    }

    // Places tok_visa orders one after another until one is confirmed (within a minute).
    static bool confirms_eventually(const std::string& base) {
        return eventually(
            [&] {
                const auto id = place(base, "tok_visa");
                return eventually([&] { return terminal(read_order(base, id)); }, 10s, 100ms) &&
                       read_order(base, id).at("status") == "confirmed";
            },
            60s, 100ms);
    }

    std::string log(const std::string& name) { return read_file(dir_.path() / (name + ".log")); }

    void await_terminal(const std::string& base, const std::vector<std::string>& ids, std::chrono::milliseconds within) {
        for (const auto& id : ids) {
            ASSERT_TRUE(eventually([&] { return terminal(read_order(base, id)); }, within, 100ms))
                << id << ": " << read_order(base, id).dump();
        }
    }

    temp_dir dir_;
    [[nodiscard]] const std::string& bootstrap() const { return real_ ? real_->bootstrap() : cluster_->bootstrap(); }

    std::optional<cluster_process> cluster_;  // a Kafka-protocol cluster of its own process,
    std::optional<test_kafka> real_;          // or the real three-broker one
    std::string database_;
};

TEST_F(serve_saga, two_saga_processes_and_a_sigkill_take_every_step_of_every_path_exactly_once) {
    auto api = serve("api", "api,projections,gateway", {"--payment-timeout", "20s"});
    auto saga_a = serve("saga-a", "api,projections,saga", {"--payment-timeout", "20s"});
    auto saga_b = serve("saga-b", "api,projections,saga", {"--payment-timeout", "20s"});

    // Tokens the provider answers at once, so that every approved order can complete before
    // its deadline (timeouts and flaky tokens are the load test's business).
    const std::vector<std::pair<std::string, int>> mix = {
        {"tok_visa", 1250}, {"tok_declined", 1250}, {"tok_insufficient_funds", 9000}, {"tok_insufficient_funds", 100}};
    std::map<std::string, std::pair<std::string, int>> placed;  // id → (token, unit price)
    for (int i = 0; i < 36; ++i) {
        const auto& [token, price] = mix[static_cast<std::size_t>(i) % mix.size()];
        placed[place(api.base, token, price)] = {token, price};
        if (i == 17) {
            // Mid-run: steps of one member are in flight, its checkpoint behind them.
            ASSERT_TRUE(saga_a.child.send_signal(SIGKILL).has_value());
            (void)saga_a.child.wait_for(10s);
        }
    }
    auto saga_a2 = serve("saga-a", "api,projections,saga", {"--payment-timeout", "20s"});
    std::vector<std::string> ids;
    for (const auto& [id, t] : placed) ids.push_back(id);
    await_terminal(api.base, ids, 60s);
    if (HasFailure()) std::cerr << log("saga-a") << log("saga-b") << log("api");

    const auto payments = payment_streams(bootstrap());
    int happy = 0;
    int approving = 0;
    for (const auto& [id, t] : placed) {
        const auto& [token, price] = t;
        const json o = read_order(api.base, id);
        const names orders = order_stream(api.base, id);
        const names pays = payments.contains(id) ? payments.at(id) : names{};
        const std::string payment = o.at("payment").is_null() ? "none" : o.at("payment").at("status").get<std::string>();
        const bool approves = token == "tok_visa" || (token == "tok_insufficient_funds" && price * 2 <= 10'000);
        const bool declines = token == "tok_declined" || token == "tok_insufficient_funds";
        approving += approves ? 1 : 0;
        if (approves && orders == happy_orders) {
            ++happy;
            EXPECT_EQ(pays, happy_payments) << id << " " << token;
            EXPECT_EQ(payment, "captured") << o.dump();
        } else if (!approves && declines && o.at("cancelReason") == "payment_declined") {
            EXPECT_EQ(orders, declined_orders) << id << " " << token;
            EXPECT_EQ(pays, declined_payments) << id << " " << token;
        } else {
            // Timed out: an order whose saga member was killed and whose partition came
            // back to a member after its deadline. Never a second event.
            EXPECT_EQ(orders, declined_orders) << id << " " << token;
            EXPECT_EQ(o.at("cancelReason"), "payment_timeout") << o.dump();
            EXPECT_TRUE(pays == names{} || pays == names{"payment_requested"} ||
                        pays == (names{"payment_requested", "payment_declined"}) ||
                        pays == (names{"payment_requested", "payment_authorized", "payment_voided"}))
                << id << " " << token << ": " << ::testing::PrintToString(pays);
        }
    }
    EXPECT_GT(happy, approving / 2) << "most approved orders completed before their deadline";
    if (HasFailure()) std::cerr << "---- saga-a\n" << log("saga-a") << "---- saga-b\n" << log("saga-b") << "---- api\n" << log("api");
    // Both saga processes took steps (the group split the partitions between them).
    for (const std::string name : {"saga-b"}) EXPECT_NE(log(name).find("-> "), std::string::npos) << name;
    for (auto* p : {&api, &saga_b, &saga_a2}) {
        auto stopped = stop_serve(*p);
        EXPECT_TRUE(stopped.has_value() && stopped->success());
    }
}

TEST_F(serve_saga, a_gateway_outage_opens_the_breaker_times_orders_out_and_new_orders_succeed_once_it_returns) {
    auto gateway = start_fake_gateway();
    const std::string listen = gateway.url.substr(std::string_view("http://").size());
    auto server = serve("all", "api,saga,gateway,projections",
                        {"--payment-gateway", gateway.url, "--payment-timeout", "3s"});
    // Once the saga's and the worker's groups formed (the mock's join delay exceeds the 3 s
    // deadline), orders are confirmed.
    ASSERT_TRUE(confirms_eventually(server.base)) << log("all");

    ASSERT_TRUE(gateway.child.send_signal(SIGTERM).has_value());
    ASSERT_TRUE(gateway.child.wait_for(10s).has_value());
    std::vector<std::string> during;
    for (int i = 0; i < 6; ++i) during.push_back(place(server.base, "tok_visa"));
    await_terminal(server.base, during, 30s);
    for (const auto& id : during) {
        EXPECT_EQ(order_stream(server.base, id), declined_orders) << id;
        EXPECT_EQ(read_order(server.base, id).at("cancelReason"), "payment_timeout") << id;
    }
    const auto readiness = [&] { return call(server.base, "GET", "/readyz"); };
    auto ready = readiness();
    EXPECT_EQ(ready.status, 200) << "an open breaker does not make the instance unready: " << ready.body;
    EXPECT_NE(ready.body_json().at("paymentGateway").at("breaker"), "closed") << ready.body;
    const std::string metrics = call(server.base, "GET", "/metrics").body;
    EXPECT_NE(metrics.find("shopstream_payment_breaker_opened_total "), std::string::npos);
    EXPECT_EQ(metrics.find("shopstream_payment_breaker_opened_total 0\n"), std::string::npos) << "it opened";

    auto back = start_fake_gateway(listen);
    // New orders succeed once the breaker's probe got through.
    ASSERT_TRUE(confirms_eventually(server.base)) << log("all");
    EXPECT_EQ(readiness().body_json().at("paymentGateway").at("breaker"), "closed");
    const auto last = place(server.base, "tok_visa");
    await_terminal(server.base, {last}, 30s);
    EXPECT_EQ(order_stream(server.base, last), happy_orders);
    auto stopped = stop_serve(server);
    EXPECT_TRUE(stopped.has_value() && stopped->success());
}

// --roles split the other way: the saga and the gateway worker in a process without the
// API or a read model, the API and the orders projection in another.
TEST_F(serve_saga, a_saga_gateway_process_and_an_api_projections_process_take_orders_to_their_terminal_states) {
    auto worker = serve("worker", "saga,gateway", {"--payment-timeout", "20s"});
    auto front = serve("front", "api,projections", {"--payment-timeout", "20s"});
    ASSERT_TRUE(confirms_eventually(front.base)) << log("worker") << log("front");
    const auto visa = place(front.base, "tok_visa");
    const auto declined = place(front.base, "tok_declined");
    await_terminal(front.base, {visa, declined}, 30s);
    const auto payments = payment_streams(bootstrap());
    EXPECT_EQ(order_stream(front.base, visa), happy_orders);
    EXPECT_EQ(payments.at(visa), happy_payments);
    EXPECT_EQ(read_order(front.base, visa).at("status"), "confirmed");
    EXPECT_EQ(order_stream(front.base, declined), declined_orders);
    EXPECT_EQ(payments.at(declined), declined_payments);
    EXPECT_EQ(read_order(front.base, declined).at("cancelReason"), "payment_declined");
    // Each process's /readyz checks what it runs: the worker has no PostgreSQL and no projection.
    const json worker_ready = call(worker.base, "GET", "/readyz").body_json();
    EXPECT_EQ(worker_ready.at("ready"), true) << worker_ready.dump();
    EXPECT_FALSE(worker_ready.at("checks").contains("postgres")) << worker_ready.dump();
    // Given --postgres like every process here, it says that it has no use for it.
    EXPECT_NE(log("worker").find("--postgres is not used by --roles saga,gateway"), std::string::npos);
    EXPECT_EQ(log("front").find("--postgres is not used"), std::string::npos);
    EXPECT_FALSE(worker_ready.at("checks").contains("projections")) << worker_ready.dump();
    EXPECT_EQ(worker_ready.at("paymentGateway").at("breaker"), "closed");
    const json front_ready = call(front.base, "GET", "/readyz").body_json();
    EXPECT_EQ(front_ready.at("checks").at("postgres"), "ok") << front_ready.dump();
    EXPECT_EQ(front_ready.at("checks").at("projections"), "ok") << front_ready.dump();
    EXPECT_EQ(front_ready.at("paymentGateway").at("breaker"), "not running");
    // The saga's steps were taken in the worker, and counted there.
    EXPECT_NE(log("worker").find("-> confirm_order applied"), std::string::npos) << log("worker");
    EXPECT_NE(call(worker.base, "GET", "/metrics").body.find(R"(shopstream_saga_steps_total{outcome="applied",step="confirm_order"})"),
              std::string::npos);
    for (auto* p : {&worker, &front}) {
        auto stopped = stop_serve(*p);
        EXPECT_TRUE(stopped.has_value() && stopped->success());
    }
}

TEST_F(serve_saga, a_process_without_the_api_answers_health_readiness_and_metrics_and_refuses_every_other_request) {
    auto worker = serve("worker", "gateway");
    EXPECT_EQ(call(worker.base, "GET", "/healthz").status, 200);
    EXPECT_TRUE(eventually([&] { return call(worker.base, "GET", "/readyz").status == 200; }, 30s, 100ms))
        << call(worker.base, "GET", "/readyz").body;
    const auto metrics = call(worker.base, "GET", "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("shopstream_payment_breaker_state"), std::string::npos);
    for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
             {"POST", "/v1/orders"}, {"GET", "/v1/orders/o-1"}, {"GET", "/v1/products/sku-1/reviews"},
             {"GET", "/v1/openapi.json"}, {"GET", "/no/such/route"}}) {
        auto o = method == "POST" ? with_body(order_body("tok_visa"), mint_token(secret, "c-1", domain::role::customer))
                                  : bearer(admin());
        const auto r = call(worker.base, method, path, o);
        EXPECT_EQ(r.status, 503) << method << " " << path << ": " << r.body;
        const json problem = r.body_json();
        EXPECT_EQ(problem.at("type"), "https://shopstream.dev/problems/api-not-served") << r.body;
        EXPECT_NE(problem.at("detail").get<std::string>().find("without the api role"), std::string::npos) << r.body;
        EXPECT_EQ(r.header("retry-after"), "") << "retrying this process would not help";
    }
    // Nothing was appended: the refused POST never reached a handler.
    auto orders = consume_all(bootstrap(), "orders.events");
    ASSERT_TRUE(orders.has_value()) << orders.error();
    EXPECT_TRUE(orders->empty());
    auto stopped = stop_serve(worker);
    EXPECT_TRUE(stopped.has_value() && stopped->success());
}

TEST_F(serve_saga, an_api_process_without_projections_reads_its_writes_from_the_model_a_projections_process_feeds) {
    auto projector = serve("projector", "projections");
    auto front = serve("front", "api", {"--min-position-timeout-ms", "6000"});
    // The projector's group formed (its /readyz waits for the assignment).
    ASSERT_TRUE(eventually([&] { return call(projector.base, "GET", "/readyz").status == 200; }, 60s, 100ms))
        << call(projector.base, "GET", "/readyz").body << log("projector");
    const std::string customer = mint_token(secret, "c-1", domain::role::customer);
    for (int i = 0; i < 5; ++i) {
        auto placed = call(front.base, "POST", "/v1/orders", with_body(order_body("tok_visa"), customer));
        ASSERT_EQ(placed.status, 201) << placed.body;
        const auto id = placed.body_json().at("orderId").get<std::string>();
        auto o = bearer(customer);
        o.headers.push_back("X-Min-Position: " + placed.header("x-position"));
        const auto read = call(front.base, "GET", "/v1/orders/" + id, o);
        ASSERT_EQ(read.status, 200) << read.body << log("front") << log("projector");
        EXPECT_EQ(read.body_json().at("orderId"), id);
        EXPECT_EQ(read.body_json().at("status"), "pending") << "no saga runs here";
    }
    // The front runs no orders projection of its own: the model it read is the projector's.
    EXPECT_EQ(call(front.base, "GET", "/metrics").body.find(R"(model="orders")"), std::string::npos);
    EXPECT_NE(call(projector.base, "GET", "/metrics").body.find(R"(model="orders")"), std::string::npos);
    const json front_ready = call(front.base, "GET", "/readyz").body_json();
    EXPECT_EQ(front_ready.at("checks").at("projections"), "ok") << "the reviews replica: " << front_ready.dump();
    for (auto* p : {&front, &projector}) {
        auto stopped = stop_serve(*p);
        EXPECT_TRUE(stopped.has_value() && stopped->success());
    }
}

// SHOPSTREAM_SAGA_LOAD_ORDERS orders (default 200 in CI; the issue's 10 000 by hand) from
// four clients at once, with a mix of tokens: afterwards every order is terminal and
// consistent with its payment (confirmed ⇔ captured; cancelled ⇔ voided, declined,
// refunded or never authorized), in the read model and in the log.
// The load: orders placed by four clients at once with a mix of tokens. Afterwards every
// order is terminal and consistent with its payment - confirmed ⇔ captured (of the
// order's total); cancelled ⇔ voided, declined, refunded in full or never authorized -
// checked by one query over the read model (PostgreSQL), then row by row against both
// logs as the apply rule judges them, and by token against what the provider answers;
// and 1 in 6 never answering holds none of the others back.
// SHOPSTREAM_SAGA_LOAD_ORDERS sets the count (200 here; the issue's 10 000 with the
// release binary, tests/README.md).
TEST_F(serve_saga, a_load_of_orders_with_a_mix_of_tokens_ends_with_every_order_consistent_with_its_payment) {
    const char* configured = std::getenv("SHOPSTREAM_SAGA_LOAD_ORDERS");
    const int total = configured != nullptr ? std::atoi(configured) : 200;
    ASSERT_GT(total, 0);
    auto server = serve("all", "api,saga,gateway,projections", {"--payment-timeout", "5s"});
    // Placed once the saga's and the worker's groups own their partitions (the mock's join
    // takes seconds; an order placed before would meet its deadline there).
    ASSERT_TRUE(eventually(
        [&] {
            const auto text = log("all");
            return text.find("consumer group shopstream-saga: assigned") != std::string::npos &&
                   text.find("consumer group shopstream-payment-gateway: assigned") != std::string::npos;
        },
        90s, 100ms))
        << log("all");
    const std::vector<std::string> tokens = {"tok_visa", "tok_visa", "tok_declined", "tok_flaky_1",
                                             "tok_insufficient_funds", "tok_timeout"};
    struct placed_order {
        std::string token;
        std::int64_t total = 0;
    };
    std::vector<std::map<std::string, placed_order>> by_client(4);
    std::vector<std::thread> clients;
    const auto started = std::chrono::steady_clock::now();
    for (int c = 0; c < 4; ++c) {
        clients.emplace_back([&, c] {
            // In this process over one kept-alive connection: a curl process per order
            // would be what is measured (41 orders/s with the four of them).
            http_session session(server.base);
            const std::string customer = mint_token(secret, "c-" + std::to_string(c), domain::role::customer);
            for (int i = c; i < total; i += 4) {
                const auto& token = tokens[static_cast<std::size_t>(i) % tokens.size()];
                const int unit_price = 1250 + i % 5000;
                const auto r = session.call("POST", "/v1/orders", with_body(order_body(token, unit_price), customer));
                if (r.status != 201) {
                    ADD_FAILURE() << "place: " << r.status << " " << r.body;
                    return;
                }
                by_client[static_cast<std::size_t>(c)][r.body_json().at("orderId").get<std::string>()] = {token, 2 * unit_price};
            }
        });
    }
    for (auto& t : clients) t.join();
    const auto placed_in = std::chrono::steady_clock::now() - started;
    std::map<std::string, placed_order> placed;
    for (const auto& m : by_client) placed.insert(m.begin(), m.end());
    ASSERT_EQ(placed.size(), static_cast<std::size_t>(total));

    // Terminal in the read model: confirmed with the capture recorded, or cancelled with no
    // authorization left to void.
    pqxx::connection db(shared_postgres().connection_string(database_));
    const std::string from = " FROM shopstream.orders o LEFT JOIN shopstream.payments p ON p.order_id = o.id ";
    const std::string is_terminal =
        "((o.status = 'confirmed' AND o.payment_captured) OR "
        " (o.status = 'cancelled' AND (p.status IS NULL OR p.status <> 'authorized')))";
    const auto count = [&](const std::string& where) {
        pqxx::work txn(db);
        return txn.exec1("SELECT count(*)" + from + "WHERE " + where)[0].as<std::int64_t>();
    };
    // A cancelled order whose authorization is still on its way is not done yet (the
    // saga voids it once it comes): the saga's and the gateway worker's checkpoints at the
    // logs' ends say that nothing is in flight or held any more.
    std::int64_t terminal_rows = 0;
    std::string behind;
    const bool all_terminal = eventually(
        [&] {
            terminal_rows = count(is_terminal);
            if (terminal_rows != total) return false;
            behind.clear();
            for (const auto& [group, topic] : {std::pair{"shopstream-saga", "orders.events"},
                                               std::pair{"shopstream-saga", "payments.events"},
                                               std::pair{"shopstream-payment-gateway", "payments.events"}}) {
                auto lag = group_lag(bootstrap(), group, topic);
                if (!lag || *lag != 0) behind += std::string(group) + " on " + topic + ": " + (lag ? std::to_string(*lag) : lag.error()) + "; ";
            }
            return behind.empty() && count(is_terminal) == total;
        },
        120s + std::chrono::milliseconds(20 * total), 200ms);
    const auto terminal_in = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(all_terminal) << terminal_rows << " of " << total << " orders terminal; behind: " << behind << "\n"
                              << log("all");
    EXPECT_EQ(count("true"), total) << "one row per order, at most one payment each";

    // The query over the read model: no order inconsistent with its payment.
    const std::string consistent =
        "((o.status = 'confirmed' AND o.payment_captured AND p.status = 'captured' AND p.captured = o.total "
        "  AND p.refunded = 0) OR "
        " (o.status = 'cancelled' AND (p.status IS NULL OR p.status IN ('requested', 'declined', 'voided') OR "
        "  (p.status = 'captured' AND p.refunded = p.captured))))";
    EXPECT_EQ(count("NOT " + consistent), 0);

    // Row by row against the logs and the provider's rules.
    const auto order_log = log_streams<eventstore::order_aggregate>(bootstrap(), "orders.events");
    const auto payment_log = payment_streams(bootstrap());
    pqxx::work txn(db);
    const auto rows = txn.exec(
        "SELECT o.id, o.status, coalesce(o.cancel_reason, ''), o.total, coalesce(p.status, 'none'), "
        "coalesce(p.captured, 0)" + from);
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(total));
    std::map<std::string, int> by_outcome;
    int approvable = 0;
    int confirmed = 0;
    for (const auto& row : rows) {
        const auto id = row[0].as<std::string>();
        const auto status = row[1].as<std::string>();
        const auto reason = row[2].as<std::string>();
        const auto payment = row[4].as<std::string>();
        ASSERT_TRUE(placed.contains(id)) << id;
        const auto& [token, order_total] = placed.at(id);
        EXPECT_EQ(row[3].as<std::int64_t>(), order_total) << id;
        const names orders = order_log.contains(id) ? order_log.at(id) : names{};
        const names pays = payment_log.contains(id) ? payment_log.at(id) : names{};
        const auto has = [&](const std::string& e) { return std::find(pays.begin(), pays.end(), e) != pays.end(); };
        const bool approves = token == "tok_visa" || token == "tok_flaky_1" ||
                              (token == "tok_insufficient_funds" && order_total <= 10'000);
        approvable += approves ? 1 : 0;
        ++by_outcome[token + " " + status + (reason.empty() ? "" : "/" + reason) + " payment " + payment];
        if (status == "confirmed") {
            ++confirmed;
            EXPECT_TRUE(approves) << id << " " << token;
            EXPECT_EQ(orders, happy_orders) << id;
            EXPECT_EQ(pays, happy_payments) << id;
            EXPECT_EQ(row[5].as<std::int64_t>(), order_total) << id;
            continue;
        }
        // Cancelled by the saga (nothing here cancels as a customer): placed, cancelled.
        EXPECT_EQ(orders, declined_orders) << id << " " << token;
        EXPECT_FALSE(has("payment_captured")) << id;
        if (token == "tok_timeout") {
            EXPECT_EQ(reason, "payment_timeout") << id;
        }
        if (reason == "payment_declined") {
            EXPECT_FALSE(approves) << id << " " << token;
            EXPECT_EQ(pays, declined_payments) << id;
            EXPECT_EQ(payment, "declined") << id;
        } else {
            EXPECT_EQ(reason, "payment_timeout") << id;
            // Never answered, answered no after the deadline, or authorized after it and voided.
            EXPECT_TRUE(pays == names{} || pays == names{"payment_requested"} || pays == declined_payments ||
                        pays == (names{"payment_requested", "payment_authorized", "payment_voided"}))
                << id << " " << token << ": " << ::testing::PrintToString(pays);
            const std::string last = pays.empty() ? "none" : pays.back().substr(std::string_view("payment_").size());
            EXPECT_EQ(payment, last) << id;
        }
    }
    std::cerr << total << " orders placed in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(placed_in).count() << " ms, all terminal after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(terminal_in).count() << " ms; confirmed "
              << confirmed << " of " << approvable << " approvable\n";
    for (const auto& [outcome, n] : by_outcome) std::cerr << "  " << n << " " << outcome << "\n";
    // No payment waits for another's answer (a never-answering provider call holds no
    // thread): the approvable orders are confirmed before their deadline, all but a few
    // on a loaded machine. With 8 blocking calls at once, 31 of 6 251 were.
    EXPECT_GE(confirmed * 100, approvable * 95) << confirmed << " of " << approvable << " approvable confirmed";
    auto stopped = stop_serve(server);
    EXPECT_TRUE(stopped.has_value() && stopped->success());
}

// ---- deterministic crash points -----------------------------------------------------
// The saga alone in a process of its own (tests/support/saga_main.cpp), SIGKILLed at an
// exact point of one step: right after the step's command was applied, before the
// checkpoint moved past the record that triggered it; or right after the first checkpoint
// that moved past the step. Started again, it takes every remaining step once: the streams
// hold each step's event exactly once, the process took no step twice, none is missing,
// and the order ends as it does without the crash. The API, the orders projection and the
// gateway worker run in one `serve` beside it.
class serve_saga_crash : public serve_saga {
protected:
    struct run_lines {
        std::vector<std::string> lines;
        [[nodiscard]] std::set<std::string> applied(const std::string& order) const {
            std::set<std::string> out;
            for (const auto& l : lines) {
                const std::string prefix = "STEP " + order + " ";
                if (!l.starts_with(prefix) || !l.ends_with(" applied")) continue;
                out.insert(l.substr(prefix.size(), l.size() - prefix.size() - std::string_view(" applied").size()));
            }
            return out;
        }
        [[nodiscard]] std::string dump() const {
            std::string out;
            for (const auto& l : lines) out += l + "\n";
            return out;
        }
    };

    // Starts the test saga and waits until it owns its partitions. A saga started again
    // over orders already placed may take steps before it says ASSIGNED (its owned() is
    // polled): those lines go to `early`.
    process start_saga(const std::string& crash, std::int64_t payment_timeout_ms, run_lines* early = nullptr) {
        std::vector<std::string> argv = {SHOPSTREAM_TEST_SAGA, "--brokers", bootstrap(), "--data-dir",
                                         (dir_.path() / "saga").string(), "--payment-timeout-ms",
                                         std::to_string(payment_timeout_ms)};
        if (!crash.empty()) argv.insert(argv.end(), {"--crash", crash});
        spawn_options options(argv);
        options.standard_error = output::append_to_file(dir_.path() / "saga.log");
        auto child = process::spawn(options);
        if (!child) throw std::runtime_error("cannot start the test saga: " + child.error().message);
        auto line = child->read_line(30s);
        if (!line || *line != "READY") throw std::runtime_error("the test saga did not start:\n" + log("saga"));
        // Orders are placed once it owns its partitions (the mock's join takes seconds).
        run_lines before_assigned;
        if (!read_until(*child, "ASSIGNED", 70s, before_assigned)) {
            throw std::runtime_error("the test saga got no partitions:\n" + before_assigned.dump() + log("saga"));
        }
        before_assigned.lines.pop_back();  // ASSIGNED
        if (early != nullptr) {
            early->lines.insert(early->lines.end(), before_assigned.lines.begin(), before_assigned.lines.end());
        } else if (!before_assigned.lines.empty()) {
            throw std::runtime_error("the test saga took steps before any order was placed:\n" + before_assigned.dump());
        }
        return std::move(*child);
    }

    // Lines until one starts with `prefix` (true) or none comes within `within`.
    static bool read_until(process& p, std::string_view prefix, std::chrono::milliseconds within, run_lines& into) {
        const auto deadline = std::chrono::steady_clock::now() + within;
        while (std::chrono::steady_clock::now() < deadline) {
            auto line = p.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()));
            if (!line) return false;
            into.lines.push_back(*line);
            if (line->starts_with(prefix)) return true;
        }
        return false;
    }

    struct expected {
        std::string status;  // of the order at the end
        names orders;
        names payments;
        std::set<std::string> steps;  // every step taken, once, over both runs
    };

    void crash_and_restart(const std::string& crash, const std::string& token, std::int64_t payment_timeout_ms,
                           const expected& want, const std::vector<std::string>& front_extra = {}) {
        auto front = serve("front", "api,projections,gateway", front_extra);
        auto first = start_saga(crash, payment_timeout_ms);
        const auto id = place(front.base, token);
        run_lines before;
        ASSERT_TRUE(read_until(first, "CRASH ", 90s, before)) << before.dump() << log("saga") << log("front");
        EXPECT_NE(before.lines.back().find(id), std::string::npos) << before.lines.back();
        const auto killed = first.wait_for(10s);
        ASSERT_TRUE(killed.has_value());
        EXPECT_TRUE(killed->signaled && killed->signal == SIGKILL) << killed->describe();
        const auto step = crash.substr(crash.find(':') + 1);
        EXPECT_TRUE(before.applied(id).contains(step)) << before.dump();

        run_lines after;  // the second run's lines, those before its ASSIGNED too
        auto second = start_saga("", payment_timeout_ms, &after);
        ASSERT_TRUE(eventually([&] { return terminal(read_order(front.base, id)); }, 60s, 100ms))
            << read_order(front.base, id).dump() << before.dump() << log("saga");
        const json o = read_order(front.base, id);
        EXPECT_EQ(o.at("status"), want.status) << o.dump();
        EXPECT_TRUE(eventually([&] { return order_stream(front.base, id) == want.orders; }, 10s, 100ms))
            << ::testing::PrintToString(order_stream(front.base, id));
        const auto payments = payment_streams(bootstrap());
        EXPECT_EQ(payments.contains(id) ? payments.at(id) : names{}, want.payments);

        ASSERT_TRUE(second.send_signal(SIGTERM).has_value());
        EXPECT_TRUE(read_until(second, "STOPPED", 30s, after)) << after.dump() << log("saga");
        const auto stopped = second.wait_for(10s);
        EXPECT_TRUE(stopped.has_value() && stopped->success());
        std::set<std::string> twice;
        std::set<std::string> all = before.applied(id);
        for (const auto& s : after.applied(id)) {
            if (!all.insert(s).second) twice.insert(s);
        }
        EXPECT_TRUE(twice.empty()) << "applied again after the restart: " << ::testing::PrintToString(twice)
                                   << "\n" << before.dump() << "----\n" << after.dump();
        EXPECT_EQ(all, want.steps) << before.dump() << "----\n" << after.dump();
        auto front_stopped = stop_serve(front);
        EXPECT_TRUE(front_stopped.has_value() && front_stopped->success());
    }

    const expected happy{"confirmed", happy_orders, happy_payments,
                         {"request_payment", "confirm_order", "capture_payment", "record_capture"}};
    const expected timed_out{"cancelled", declined_orders, {"payment_requested"}, {"request_payment", "reject_timeout"}};
};

TEST_F(serve_saga_crash, killed_after_confirming_before_the_checkpoint_the_order_is_confirmed_and_captured_once) {
    crash_and_restart("after_step:confirm_order", "tok_visa", 30'000, happy);
}

// The provider answers in 1 s: the checkpoint passes the placement while the
// authorization is pending, the authorization is recorded while the saga is down, and the
// saga started again confirms and captures once.
TEST_F(serve_saga_crash, killed_right_after_the_checkpoint_past_the_request_an_authorization_meanwhile_is_confirmed_once) {
    auto gateway = start_fake_gateway("127.0.0.1:0", {"--latency", "1s"});
    crash_and_restart("after_checkpoint:request_payment", "tok_visa", 30'000, happy, {"--payment-gateway", gateway.url});
}

TEST_F(serve_saga_crash, killed_after_requesting_a_payment_that_never_answers_the_deadline_fires_once_after_restart) {
    crash_and_restart("after_step:request_payment", "tok_timeout", 3'000, timed_out);
}

TEST_F(serve_saga_crash, killed_right_after_the_checkpoint_past_the_request_the_held_deadline_fires_once) {
    crash_and_restart("after_checkpoint:request_payment", "tok_timeout", 3'000, timed_out);
}

}  // namespace
}  // namespace shopstream::testing
