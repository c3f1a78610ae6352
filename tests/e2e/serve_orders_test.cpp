// The orders read side over HTTP (issue 11), on the real binary: `serve` runs the orders
// projection into its PostgreSQL (a consumer group on the mock cluster, or the real
// cluster with SHOPSTREAM_TEST_KAFKA=real), and GET /v1/orders/{id}, GET /v1/orders and
// GET /v1/admin/orders/summary read it: read-your-writes with the command's position for
// hundreds of commands in a row, paging and the status filter, ownership, forged cursors
// and bad parameters named in their 400s, the summary, and a cancel seen in the model.
#include <gtest/gtest.h>

#include <signal.h>

#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http/json_mapping.hpp"
#include "adapters/postgres/local_cluster.hpp"
#include "tests/support/http_call.hpp"
#include "tests/support/kafka_cluster.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/postgres_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/serve_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string secret = "e2e-orders-secret-0123456789abcdef-0123456";

std::string token_of(const std::string& sub, domain::role role = domain::role::customer) {
    return mint_token(secret, sub, role);
}

const std::string order_body =
    R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"sku-1","quantity":2,"unitPrice":{"amount":1250,"currency":"EUR"}}]})";

// A command's answer: the order id and the position token it carried.
struct written {
    std::string id;
    std::string position;
};

class serve_orders_e2e : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new temp_dir();
        // serve's local PostgreSQL runs as `nobody` under root: it must get through.
        std::filesystem::permissions(dir_->path(), std::filesystem::perms::others_exec,
                                     std::filesystem::perm_options::add);
        // Read-your-writes is what these tests check, not how fast the projection is (that is
        // benchmarks/projection_bench): on a loaded CI machine a debug build's projection has
        // been seen to need more than the default 2 s. Below the server's 8 s request timeout
        // and the tests' curl --max-time (a position the log never had waits it out, then 400).
        // No saga (tests/e2e/serve_saga_test.cpp has it): these orders stay as their commands left them.
        std::vector<std::string> args = {"--partitions", "4", "--data-dir", (dir_->path() / "data").string(),
                                         "--min-position-timeout-ms", "6000", "--roles", "api,projections"};
        if (real_kafka_requested()) {
            auto kafka = test_kafka::start_with_event_topics(4);
            if (!kafka) throw std::runtime_error(kafka.error());
            args.insert(args.end(), {"--brokers", kafka->bootstrap(), "--postgres",
                                     shared_postgres().connection_string(shared_postgres().create_database())});
        }
        server_ = new serve_process(
            spawn_serve(SHOPSTREAM_BINARY, args, dir_->path() / "serve.log", {{"SHOPSTREAM_JWT_SECRET", secret}}));
        // The projection takes its partitions once the consumer group has formed (a few
        // seconds on the mock): until then a read-your-writes read would time out.
        const auto first = place("warm-up");
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (get_order(first, token_of("warm-up")).status != 200) {
            if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("the orders projection never applied the first order\n" +
                                         read_file(dir_->path() / "serve.log"));
            }
            std::this_thread::sleep_for(100ms);
        }
    }
    static void TearDownTestSuite() {
        auto status = stop_serve(*server_);
        EXPECT_TRUE(status.has_value() && status->success()) << read_file(dir_->path() / "serve.log");
        delete server_;
        delete dir_;
    }
    static const std::string& base() { return server_->base; }

    static written place(const std::string& customer) {
        auto r = call(base(), "POST", "/v1/orders", with_body(order_body, token_of(customer)));
        if (r.status != 201) throw std::runtime_error("place: " + std::to_string(r.status) + " " + r.body);
        return {r.body_json().at("orderId").get<std::string>(), r.header("x-position")};
    }
    static written cancel(const std::string& customer, const std::string& id) {
        auto r = call(base(), "POST", "/v1/orders/" + id + "/cancel", bearer(token_of(customer)));
        if (r.status != 200) throw std::runtime_error("cancel: " + std::to_string(r.status) + " " + r.body);
        return {id, r.header("x-position")};
    }
    // GET /v1/orders/{id}, waiting for the command's position when one is given.
    static http_response get_order(const written& w, const std::string& token, bool wait = false) {
        auto o = bearer(token);
        if (wait) o.headers.push_back("X-Min-Position: " + w.position);
        return call(base(), "GET", "/v1/orders/" + w.id, o);
    }
    static http_response list(const std::string& query, const std::string& token) {
        return call(base(), "GET", "/v1/orders" + query, bearer(token));
    }
    static std::vector<std::string> ids_of(const http_response& page) {
        std::vector<std::string> out;
        const auto body = page.body_json();
        for (const auto& item : body.at("items")) out.push_back(item.at("orderId").get<std::string>());
        return out;
    }

    static temp_dir* dir_;
    static serve_process* server_;
};
temp_dir* serve_orders_e2e::dir_ = nullptr;
serve_process* serve_orders_e2e::server_ = nullptr;

// Read-your-writes on the orders model in PostgreSQL: the position a command answer
// carries, passed to the query, returns data that includes the command's effect - every
// time. 300 commands in the e2e label: in the debug build with sanitizers one round (two
// curl processes) takes ~80 ms on the shared 2-core machine, so ~25 s; the kafka label's
// e2e_tests_on_kafka runs the issue's 1 000 on the real cluster (SHOPSTREAM_TEST_RYW_ROUNDS,
// tests/CMakeLists.txt, tests/README.md).
TEST_F(serve_orders_e2e, a_placed_order_is_read_back_with_its_commands_position_every_time) {
    const char* asked = std::getenv("SHOPSTREAM_TEST_RYW_ROUNDS");
    const int rounds = asked != nullptr ? std::atoi(asked) : 300;
    ASSERT_GT(rounds, 0) << "SHOPSTREAM_TEST_RYW_ROUNDS=" << asked;
    for (int i = 0; i < rounds; ++i) {
        const std::string customer = "ryw-" + std::to_string(i % 7);
        const auto w = place(customer);
        ASSERT_FALSE(w.position.empty());
        // In turn: the header with the token as answered, the query parameter with it,
        // and the query parameter with the bare partition:offset.
        request_options read = bearer(token_of(customer));
        std::string query;
        switch (i % 3) {
            case 0: read.headers.push_back("X-Min-Position: " + w.position); break;
            case 1: query = "?minPosition=" + w.position; break;
            default: query = "?minPosition=" + w.position.substr(w.position.find(':') + 1); break;
        }
        auto got = call(base(), "GET", "/v1/orders/" + w.id + query, read);
        ASSERT_EQ(got.status, 200) << i << ": " << got.body;
        const auto body = got.body_json();
        EXPECT_EQ(body.at("orderId"), w.id);
        EXPECT_EQ(body.at("customerId"), customer);
        EXPECT_EQ(body.at("status"), "pending");
        EXPECT_EQ(got.header("etag"), "\"1\"");
    }
    // The projection that applied them shows in /metrics as the reviews one does, and in /readyz.
    const std::string metrics = call(base(), "GET", "/metrics").body;
    for (const std::string family : {"shopstream_projection_lag_records{model=\"orders\",context=\"orders\"",
                                     "shopstream_projection_applied_offset{model=\"orders\",context=\"payments\"",
                                     "shopstream_projection_events_applied_total{model=\"orders\"}",
                                     "shopstream_projection_dead_letters_total{model=\"orders\"} 0",
                                     "shopstream_projection_batch_records_count{model=\"orders\"}"}) {
        EXPECT_NE(metrics.find(family), std::string::npos) << family;
    }
    auto ready = call(base(), "GET", "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(ready.body_json().at("checks").at("projections"), "ok") << ready.body;
}

TEST_F(serve_orders_e2e, an_order_has_its_lines_money_and_times_and_only_its_owner_or_an_admin_reads_it) {
    const auto w = place("owner-1");
    auto got = get_order(w, token_of("owner-1"), true);
    ASSERT_EQ(got.status, 200) << got.body;
    const auto o = got.body_json();
    EXPECT_EQ(o.at("total"), json::parse(R"({"amount":2500,"currency":"EUR"})"));
    EXPECT_EQ(o.at("lines"), json::parse(R"([{"sku":"sku-1","quantity":2,"unitPrice":{"amount":1250,"currency":"EUR"}}])"));
    EXPECT_EQ(o.at("version"), 1);
    EXPECT_EQ(o.at("payment"), nullptr);
    EXPECT_EQ(o.at("cancelReason"), nullptr);
    const auto placed = adapters::http::format_rfc3339(0);
    ASSERT_TRUE(placed.has_value());
    EXPECT_EQ(o.at("placedAt").get<std::string>().size(), placed->size()) << o.dump();
    EXPECT_EQ(o.at("placedAt").get<std::string>().back(), 'Z');

    EXPECT_EQ(get_order(w, token_of("admin-1", domain::role::admin)).status, 200);
    expect_problem(get_order(w, token_of("owner-2")), 403, "forbidden");
    expect_problem(get_order({"o-no-such-order", ""}, token_of("owner-1")), 404, "not-found");
    expect_problem(call(base(), "GET", "/v1/orders/%C2%B5%5C", bearer(token_of("owner-1"))), 404, "not-found");
    expect_problem(call(base(), "GET", "/v1/orders/" + w.id), 401, "unauthorized");
}

TEST_F(serve_orders_e2e, a_cancel_is_in_the_model_when_read_with_its_position) {
    const auto placed = place("canceller");
    const auto cancelled = cancel("canceller", placed.id);
    auto got = get_order(cancelled, token_of("canceller"), true);
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(got.body_json().at("status"), "cancelled");
    EXPECT_EQ(got.body_json().at("cancelReason"), "customer_request");
    EXPECT_EQ(got.body_json().at("version"), 2);
    EXPECT_EQ(got.header("etag"), "\"2\"");
}

TEST_F(serve_orders_e2e, a_customers_list_pages_newest_first_and_filters_by_status) {
    const std::string customer = "pager";
    const std::string token = token_of(customer);
    std::vector<written> orders;
    for (int i = 0; i < 5; ++i) orders.push_back(place(customer));
    for (const int i : {1, 3}) orders[static_cast<std::size_t>(i)] = cancel(customer, orders[static_cast<std::size_t>(i)].id);
    // Each order is in the model once its own command's position is (they lie in
    // different partitions: one position says nothing of another's).
    for (const auto& w : orders) ASSERT_EQ(get_order(w, token, true).status, 200);

    std::vector<std::string> seen;
    std::string query = "?limit=2";
    for (int page = 0; page < 3; ++page) {
        auto r = list(query, token);
        ASSERT_EQ(r.status, 200) << r.body;
        const auto ids = ids_of(r);
        EXPECT_EQ(ids.size(), page < 2 ? 2U : 1U) << r.body;
        seen.insert(seen.end(), ids.begin(), ids.end());
        const auto next = r.body_json().at("next");
        if (page < 2) {
            ASSERT_TRUE(next.is_string()) << r.body;
            query = "?limit=2&after=" + next.get<std::string>();
        } else {
            EXPECT_TRUE(next.is_null()) << r.body;
        }
    }
    // Newest first: the reverse of the order they were placed in.
    std::vector<std::string> expected;
    for (auto it = orders.rbegin(); it != orders.rend(); ++it) expected.push_back(it->id);
    EXPECT_EQ(seen, expected);

    auto cancelled = list("?status=cancelled", token);
    ASSERT_EQ(cancelled.status, 200) << cancelled.body;
    EXPECT_EQ(ids_of(cancelled), (std::vector<std::string>{orders[3].id, orders[1].id}));
    const auto cancelled_body = cancelled.body_json();
    for (const auto& item : cancelled_body.at("items")) EXPECT_EQ(item.at("status"), "cancelled");
    auto pending = list("?status=pending&customerId=" + customer, token);
    ASSERT_EQ(pending.status, 200) << pending.body;
    EXPECT_EQ(ids_of(pending), (std::vector<std::string>{orders[4].id, orders[2].id, orders[0].id}));
    EXPECT_TRUE(pending.body_json().at("next").is_null());

    // An admin lists any customer's orders, and must say whose.
    auto by_admin = list("?customerId=" + customer, token_of("admin-1", domain::role::admin));
    ASSERT_EQ(by_admin.status, 200) << by_admin.body;
    EXPECT_EQ(ids_of(by_admin), expected);
    auto nobody = list("", token_of("admin-1", domain::role::admin));
    expect_problem(nobody, 400, "bad-query-parameter");
    EXPECT_EQ(nobody.body_json().value("parameter", ""), "customerId");
}

TEST_F(serve_orders_e2e, another_customers_list_is_403_and_forged_or_foreign_cursors_and_bad_parameters_are_400) {
    const auto mine = place("lister-a");
    place("lister-a");
    const auto theirs = place("lister-b");
    ASSERT_EQ(get_order(theirs, token_of("lister-b"), true).status, 200);
    ASSERT_EQ(get_order(mine, token_of("lister-a"), true).status, 200);
    const std::string a = token_of("lister-a");

    expect_problem(list("?customerId=lister-b", a), 403, "forbidden");

    auto first = list("?limit=1", a);
    ASSERT_EQ(first.status, 200) << first.body;
    const std::string cursor = first.body_json().at("next").get<std::string>();
    ASSERT_EQ(list("?limit=1&after=" + cursor, a).status, 200);
    auto named = [&](const http_response& r, const std::string& parameter) {
        expect_problem(r, 400, "bad-query-parameter");
        EXPECT_EQ(r.body_json().value("parameter", ""), parameter) << r.body;
    };
    // One character changed (to another of base64url's), the cursor of another list,
    // and something that is no cursor at all.
    std::string forged = cursor;
    forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
    named(list("?after=" + forged, a), "after");
    named(list("?after=" + cursor, token_of("lister-b")), "after");
    named(list("?after=not-a-cursor", a), "after");
    named(list("?limit=0", a), "limit");
    named(list("?limit=101", a), "limit");
    named(list("?limit=ten", a), "limit");
    named(list("?status=lost", a), "status");
    EXPECT_EQ(list("?limit=100", a).status, 200);
    EXPECT_EQ(list("?limit=1", a).status, 200);
}

TEST_F(serve_orders_e2e, the_admin_summary_counts_orders_and_revenue_per_day_and_status) {
    const std::string admin = token_of("admin-1", domain::role::admin);
    const auto now = std::chrono::system_clock::now();
    const auto from = adapters::http::format_rfc3339(
        std::chrono::duration_cast<std::chrono::milliseconds>((now - 1h).time_since_epoch()).count());
    const auto to = adapters::http::format_rfc3339(
        std::chrono::duration_cast<std::chrono::milliseconds>((now + 1h).time_since_epoch()).count());
    ASSERT_TRUE(from && to);
    const std::string range = "?from=" + *from + "&to=" + *to;
    // Counts per status and EUR revenue over the range.
    auto totals = [&] {
        auto r = call(base(), "GET", "/v1/admin/orders/summary" + range, bearer(admin));
        EXPECT_EQ(r.status, 200) << r.body;
        std::map<std::string, std::int64_t> counts;
        const auto body = r.body_json();
        for (const auto& day : body.at("days")) counts[day.at("status")] += day.at("count").get<std::int64_t>();
        for (const auto& m : body.at("revenue")) {
            if (m.at("currency") == "EUR") counts["revenue"] = m.at("amount").get<std::int64_t>();
        }
        return counts;
    };
    auto before = totals();
    std::vector<written> orders;
    for (int i = 0; i < 3; ++i) orders.push_back(place("summarised"));
    orders[0] = cancel("summarised", orders[0].id);
    for (const auto& w : orders) ASSERT_EQ(get_order(w, admin, true).status, 200);
    auto after = totals();
    EXPECT_EQ(after["pending"] - before["pending"], 2);
    EXPECT_EQ(after["cancelled"] - before["cancelled"], 1);
    EXPECT_EQ(after["revenue"] - before["revenue"], 3 * 2500);

    expect_problem(call(base(), "GET", "/v1/admin/orders/summary" + range, bearer(token_of("summarised"))), 403,
                   "forbidden");
    auto named = [&](const std::string& query, const std::string& parameter) {
        auto r = call(base(), "GET", "/v1/admin/orders/summary" + query, bearer(admin));
        expect_problem(r, 400, "bad-query-parameter");
        EXPECT_EQ(r.body_json().value("parameter", ""), parameter) << r.body;
    };
    named("?to=2026-12-02", "from");
    named("?from=2026-12-01", "to");
    named("?from=yesterday&to=2026-12-02", "from");
    named("?from=2026-02-30&to=2026-12-02", "from");
    named("?from=2026-12-01T10:00:00&to=2026-12-02", "from");  // no offset
    named("?from=2026-12-02&to=2026-12-01", "to");
    named("?from=2024-01-01&to=2026-01-01", "to");  // more than 366 days
    EXPECT_EQ(call(base(), "GET", "/v1/admin/orders/summary?from=2026-12-01T00:00:00%2B01:00&to=2026-12-02",
                   bearer(admin)).status,
              200);
}

TEST_F(serve_orders_e2e, a_min_position_of_another_context_is_ignored_and_bad_ones_are_400) {
    const auto w = place("positions");
    const std::string token = token_of("positions");
    ASSERT_EQ(get_order(w, token, true).status, 200);
    // A reviews token names another log: no wait, even for an offset far ahead.
    auto other = bearer(token);
    other.headers = {"X-Min-Position: reviews:0:100000000"};
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(call(base(), "GET", "/v1/orders/" + w.id, other).status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
    EXPECT_EQ(call(base(), "GET", "/v1/orders?minPosition=reviews:0:100000000", bearer(token)).status, 200);

    auto bad = bearer(token);
    bad.headers = {"X-Min-Position: soon"};
    expect_problem(call(base(), "GET", "/v1/orders/" + w.id, bad), 400, "bad-header");
    bad.headers = {"X-Min-Position: orders:99:0"};  // the test server has 4 partitions
    expect_problem(call(base(), "GET", "/v1/orders", bad), 400, "bad-header");
    expect_problem(call(base(), "GET", "/v1/orders/" + w.id + "?minPosition=1:-3", bearer(token)), 400,
                   "bad-query-parameter");
    // A position the log has never had: the bounded wait, then 400 naming the partition's end.
    auto future = call(base(), "GET", "/v1/orders/" + w.id + "?minPosition=orders:0:100000000", bearer(token));
    expect_problem(future, 400, "bad-query-parameter");
    EXPECT_NE(future.body.find("which ends at offset"), std::string::npos) << future.body;
}

}  // namespace
}  // namespace shopstream::testing

namespace shopstream::testing {
namespace {

// The orders partitions (orders.events and payments.events) a serve process's projection
// holds now, from its /metrics.
int held_partitions(const std::string& base) {
    auto r = try_call(base, "GET", "/metrics");
    if (!r || r->status != 200) return -1;
    int held = 0;
    const std::string family = "shopstream_projection_applied_offset{model=\"orders\"";
    for (auto at = r->body.find(family); at != std::string::npos; at = r->body.find(family, at + 1)) ++held;
    return held;
}

// Prints the serve logs of a test that failed or threw (gtest catches the exception above
// the test body, so they are read while it unwinds, before the temp dir goes).
struct logs_on_failure {
    const temp_dir& dir;
    std::vector<std::string> names;
    ~logs_on_failure() {
        if (!::testing::Test::HasFailure() && std::uncaught_exceptions() == 0) return;
        for (const auto& name : names) {
            std::fprintf(stderr, "---- %s.log ----\n%s\n", name.c_str(), read_file(dir.path() / (name + ".log")).c_str());
        }
    }
};

template <class Predicate>
bool eventually_true(Predicate done, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(100ms);
    }
    return true;
}

// The order cursors' key: kept in the data dir like the JWT secret when not given, and
// a given one too short to sign with is a usage error naming the flag.
TEST_F(serve_orders_e2e, the_cursor_key_is_kept_in_the_data_dir_and_a_short_one_is_refused) {
    const auto key = dir_->path() / "data" / "cursor-key";
    ASSERT_TRUE(std::filesystem::exists(key));
    EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_GE(std::filesystem::file_size(key), 16U);

    auto out = run({SHOPSTREAM_BINARY, "serve", "--listen", "127.0.0.1:0", "--cursor-key", "too-short"}, 30s);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(out->status.code, 2) << out->status.describe();
    EXPECT_NE(out->standard_error.find("--cursor-key: must be at least 16 bytes"), std::string::npos)
        << out->standard_error;
}

// What the commands were answered, order by order, and the checks of a model against it.
struct order_ledger {
    struct expected_order {
        std::string customer;
        std::string status;
        int version = 0;
        std::string position;  // of its last command
    };
    std::map<std::string, expected_order> orders;

    void place(const std::string& base, const std::string& customer) {
        auto r = call(base, "POST", "/v1/orders", with_body(order_body, token_of(customer)));
        ASSERT_EQ(r.status, 201) << r.body;
        orders[r.body_json().at("orderId")] = {customer, "pending", 1, r.header("x-position")};
    }
    void cancel(const std::string& base, const std::string& id) {
        auto& o = orders.at(id);
        auto r = call(base, "POST", "/v1/orders/" + id + "/cancel", bearer(token_of(o.customer)));
        ASSERT_EQ(r.status, 200) << r.body;
        o = {o.customer, "cancelled", 2, r.header("x-position")};
    }
    // Read from `base` once the model has the order's last command (another process may
    // apply it; after a kill or an outage, only once the partition is taken over or resumed).
    [[nodiscard]] http_response read_back(const std::string& base, const std::string& id) const {
        http_response got;
        auto read = bearer(token_of("admin-1", domain::role::admin));
        read.headers.push_back("X-Min-Position: " + orders.at(id).position);
        EXPECT_TRUE(eventually_true(
            [&] {
                got = call(base, "GET", "/v1/orders/" + id, read);
                return got.status != 503;
            },
            60s));
        return got;
    }
    // Every order as answered (no event applied twice, none missing); the bodies read.
    [[nodiscard]] std::map<std::string, json> expect_all_as_answered(const std::string& base) const {
        std::map<std::string, json> model;
        for (const auto& [id, o] : orders) {
            auto got = read_back(base, id);
            EXPECT_EQ(got.status, 200) << id << ": " << got.body;
            if (got.status != 200) continue;
            model[id] = got.body_json();
            EXPECT_EQ(model[id].at("status"), o.status) << id;
            EXPECT_EQ(model[id].at("version"), o.version) << id;
        }
        return model;
    }
    // The customer's list holds exactly their orders.
    void expect_listed(const std::string& base, const std::string& customer) const {
        auto page = call(base, "GET", "/v1/orders?limit=100&customerId=" + customer,
                         bearer(token_of("admin-1", domain::role::admin)));
        ASSERT_EQ(page.status, 200) << page.body;
        std::set<std::string> listed;
        const auto body = page.body_json();
        for (const auto& item : body.at("items")) listed.insert(item.at("orderId").get<std::string>());
        std::set<std::string> placed;
        for (const auto& [id, o] : orders) {
            if (o.customer == customer) placed.insert(id);
        }
        EXPECT_EQ(listed, placed) << customer;
    }
    // `base` (a fresh replay of the log) serves the same model, order by order.
    void expect_same_model(const std::string& base, const std::map<std::string, json>& model) const {
        for (const auto& [id, o] : orders) {
            auto got = read_back(base, id);
            ASSERT_EQ(got.status, 200) << id << ": " << got.body;
            EXPECT_EQ(got.body_json(), model.at(id)) << id;
        }
    }
};

// Two serve processes on one consumer group and one PostgreSQL split the orders
// partitions and build the model one would; one is SIGKILLed while commands keep coming,
// the other takes its partitions over at the checkpoints in PostgreSQL, and the model
// still holds exactly what the commands were answered - the same, order by order, as a
// third process builds by replaying the log into a fresh database.
// Once disabled after one "no HTTP answer" from process b in a loaded CI run, unexplained
// and not reproduced since (issue 11): a failure now prints every serve log and curl's
// own error, and the order reads it makes are bounded in the product (queries/orders.hpp).
TEST(serve_orders_group, two_processes_split_the_orders_partitions_and_the_survivor_of_a_sigkill_keeps_the_model_exact) {
    constexpr int partitions = 4;  // per topic: orders.events and payments.events are 8 in all
    temp_dir dir;
    const logs_on_failure logs{dir, {"a", "b", "replay"}};
    auto cluster = spawn_cluster(SHOPSTREAM_BINARY, partitions);
    const std::string database = shared_postgres().create_database();
    auto serve_on = [&](const std::string& name, const std::string& db) {
        return spawn_serve(SHOPSTREAM_BINARY,
                           {"--partitions", std::to_string(partitions), "--brokers", cluster.bootstrap(), "--data-dir",
                            (dir.path() / name).string(), "--postgres", shared_postgres().connection_string(db),
                            "--cursor-key", "e2e-orders-cursor-key-0123456789", "--roles", "api,projections"},
                           dir.path() / (name + ".log"), {{"SHOPSTREAM_JWT_SECRET", secret}});
    };
    auto a = serve_on("a", database);
    auto b = serve_on("b", database);
    ASSERT_TRUE(eventually_true(
        [&] {
            const int in_a = held_partitions(a.base), in_b = held_partitions(b.base);
            return in_a > 0 && in_b > 0 && in_a + in_b == 2 * partitions;
        },
        60s))
        << held_partitions(a.base) << " + " << held_partitions(b.base) << "\n" << read_file(dir.path() / "a.log");

    order_ledger ledger;
    for (int i = 0; i < 40; ++i) ledger.place(i % 2 == 0 ? a.base : b.base, "group-" + std::to_string(i % 5));
    int n = 0;
    for (const auto& [id, o] : std::map(ledger.orders)) {
        if (n++ % 3 == 0) ledger.cancel(n % 2 == 0 ? a.base : b.base, id);
    }
    (void)ledger.expect_all_as_answered(b.base);

    // SIGKILL b while a keeps taking commands: a takes every partition over.
    ASSERT_TRUE(b.child.send_signal(SIGKILL).has_value());
    for (int i = 0; i < 30; ++i) ledger.place(a.base, "group-" + std::to_string(i % 5));
    n = 0;
    for (const auto& [id, o] : std::map(ledger.orders)) {
        if (o.status == "pending" && n++ % 4 == 0) ledger.cancel(a.base, id);
    }
    ASSERT_TRUE(eventually_true([&] { return held_partitions(a.base) == 2 * partitions; }, 60s))
        << held_partitions(a.base) << "\n" << read_file(dir.path() / "a.log");
    const auto survivor = ledger.expect_all_as_answered(a.base);
    ASSERT_FALSE(::testing::Test::HasFailure());
    // Each customer's list holds exactly their orders.
    for (int c = 0; c < 5; ++c) ledger.expect_listed(a.base, "group-" + std::to_string(c));

    // A fresh replay of the log into another database builds the same model, order by order.
    auto replay = serve_on("replay", shared_postgres().create_database());
    ledger.expect_same_model(replay.base, survivor);
    for (auto* s : {&a, &replay}) {
        auto stopped = stop_serve(*s);
        EXPECT_TRUE(stopped.has_value() && stopped->success());
    }
}

// PostgreSQL stopped as by a crash (immediate shutdown) under the orders projection while
// commands keep coming: they are still accepted, /readyz and /metrics say the projection
// waits for its model and a read waiting for a position is answered 503, not held; once
// PostgreSQL is back on its address the projection resumes at its checkpoints: every
// order reads back as answered and the model equals, order by order, a fresh replay of
// the log into another database. Before it, /readyz waited for the consumer group.
TEST(serve_orders_outage, a_postgres_outage_is_waited_out_and_the_model_resumes_at_its_checkpoints_exactly) {
    temp_dir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
    const logs_on_failure logs{dir, {"serve", "replay"}};
    adapters::postgres::local_cluster_options pg_options;
    pg_options.directory = dir.path() / "pg";
    auto started = adapters::postgres::local_cluster::start(pg_options);
    ASSERT_TRUE(started.has_value()) << started.error().message;
    std::unique_ptr<adapters::postgres::local_cluster> postgres = std::move(*started);
    ASSERT_TRUE(postgres->ensure_database("model").has_value());
    ASSERT_TRUE(postgres->ensure_database("replay").has_value());
    pg_options.port = postgres->port();  // the restart keeps the URL serve holds

    auto cluster = spawn_cluster(SHOPSTREAM_BINARY, 2);
    // libpqxx 6.4 leaks the libpq result of a statement that finds its connection broken
    // (tests/projections/lsan_libpqxx.cpp): the sanitized serve is told so, as the test
    // binaries are.
    const auto suppressions = dir.path() / "lsan.supp";
    std::ofstream(suppressions) << "leak:libpqxx-6.4.so\n";
    auto serve_on = [&](const std::string& name, const std::string& db) {
        return spawn_serve(SHOPSTREAM_BINARY,
                           {"--partitions", "2", "--brokers", cluster.bootstrap(), "--data-dir",
                            (dir.path() / name).string(), "--postgres", postgres->url(db), "--cursor-key",
                            "e2e-orders-cursor-key-0123456789", "--min-position-timeout-ms", "2000", "--roles",
                            "api,projections"},
                           dir.path() / (name + ".log"),
                           {{"SHOPSTREAM_JWT_SECRET", secret}, {"LSAN_OPTIONS", "suppressions=" + suppressions.string()}});
    };
    auto serve = serve_on("serve", "model");
    const auto readyz = [&] { return call(serve.base, "GET", "/readyz"); };
    const auto metric = [&](const std::string& sample) {
        return call(serve.base, "GET", "/metrics").body.find(sample) != std::string::npos;
    };
    // Ready only once the orders projection has its partitions from the group: on the mock
    // a new member joins after session.timeout.ms - 1 s (5 s), long after `listening on`.
    const auto first = readyz();
    EXPECT_EQ(first.status, 503) << first.body;
    EXPECT_EQ(first.body_json().at("checks").at("projections"),
              "orders projection waiting for its consumer group's assignment") << first.body;
    EXPECT_EQ(held_partitions(serve.base), 0);
    ASSERT_TRUE(eventually_true([&] { return readyz().status == 200; }, 60s)) << readyz().body;
    EXPECT_EQ(held_partitions(serve.base), 4);  // orders.events and payments.events, 2 each

    order_ledger ledger;
    for (int i = 0; i < 10; ++i) ledger.place(serve.base, "outage-" + std::to_string(i % 3));
    (void)ledger.expect_all_as_answered(serve.base);

    // The crash: PostgreSQL's immediate shutdown (pg_ctl stop -m immediate is this signal).
    ASSERT_EQ(::kill(postgres->pid(), SIGQUIT), 0);
    (void)postgres->stop();  // reaps it (its fast-shutdown signal finds it ending already)
    postgres.reset();
    for (int i = 0; i < 10; ++i) ledger.place(serve.base, "outage-" + std::to_string(i % 3));
    int n = 0;
    for (const auto& [id, o] : std::map(ledger.orders)) {
        if (n++ % 4 == 0) ledger.cancel(serve.base, id);
    }
    ASSERT_FALSE(::testing::Test::HasFailure()) << "commands are accepted while PostgreSQL is away";
    http_response away;
    EXPECT_TRUE(eventually_true(
        [&] {
            away = readyz();
            return away.status == 503 && away.body_json().at("checks").at("projections").get<std::string>().starts_with(
                                             "orders projection waiting for its read model (try ");
        },
        30s))
        << away.body;
    EXPECT_TRUE(eventually_true([&] { return metric("shopstream_projection_model_unavailable{model=\"orders\"} 1"); },
                                10s));
    const auto& last = *ledger.orders.rbegin();
    auto waiting = bearer(token_of("admin-1", domain::role::admin));
    waiting.headers.push_back("X-Min-Position: " + last.second.position);
    const auto asked = std::chrono::steady_clock::now();
    expect_problem(call(serve.base, "GET", "/v1/orders/" + last.first, waiting), 503, "unavailable");
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 7s) << "a read is answered within its bounds";

    // Back on the same address: the projection resumes at the checkpoints by itself.
    started = adapters::postgres::local_cluster::start(pg_options);
    ASSERT_TRUE(started.has_value()) << started.error().message;
    postgres = std::move(*started);
    const auto model = ledger.expect_all_as_answered(serve.base);
    ASSERT_FALSE(::testing::Test::HasFailure());
    for (int c = 0; c < 3; ++c) ledger.expect_listed(serve.base, "outage-" + std::to_string(c));
    EXPECT_TRUE(eventually_true([&] { return readyz().status == 200; }, 30s)) << readyz().body;
    EXPECT_TRUE(metric("shopstream_projection_model_unavailable{model=\"orders\"} 0"));
    EXPECT_FALSE(metric("shopstream_projection_model_retries_total{model=\"orders\"} 0"));
    const std::string log = read_file(dir.path() / "serve.log");
    EXPECT_NE(log.find("retrying with backoff"), std::string::npos);
    EXPECT_NE(log.find("answers again after"), std::string::npos);
    EXPECT_EQ(log.find("projection orders stopped"), std::string::npos);

    auto replay = serve_on("replay", "replay");
    ledger.expect_same_model(replay.base, model);
    for (auto* s : {&serve, &replay}) {
        auto stopped = stop_serve(*s);
        EXPECT_TRUE(stopped.has_value() && stopped->success());
    }
}

}  // namespace
}  // namespace shopstream::testing
