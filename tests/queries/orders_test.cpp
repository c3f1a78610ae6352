// The order queries (queries/orders.hpp) against a real PostgreSQL, over rows the orders
// read model wrote (projections/orders_model.hpp): one order, a customer's pages, the
// admin summary per UTC day, read-your-writes, and every bad parameter named.

#include <cstdlib>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "projections/orders_model.hpp"
#include "queries/orders.hpp"
#include "tests/projections/orders_batches.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
using eventstore::context;
namespace order = domain::order;
namespace payment = domain::payment;
using domain::money;
using domain::order_id;
using domain::payment_id;
using queries::errc;

constexpr std::int64_t dec_1 = 1'764'547'200'000;  // 2025-12-01T00:00:00Z
constexpr std::int64_t day = 86'400'000;

class order_queries_test : public ::testing::Test {
protected:
    void SetUp() override {
        url_.emplace(fresh_database());
        auto opened = projections::orders_model::open(*url_);
        ASSERT_TRUE(opened.has_value()) << opened.error();
        model_ = std::move(*opened);
        queries_ = open_queries();
    }
    std::unique_ptr<queries::order_queries> open_queries(std::string key = "a key of sixteen bytes or more") {
        auto q = queries::order_queries::open({*url_, "shopstream", std::move(key), 4});
        EXPECT_TRUE(q.has_value()) << q.error();
        return q ? std::move(*q) : nullptr;
    }
    void write(const projections::batch& b) {
        auto written = model_->write_batch(b);
        ASSERT_TRUE(written.has_value()) << written.error();
        ASSERT_TRUE(written->empty()) << written->front().reason;
    }
    std::vector<std::string> ids_of(const queries::order_page& page) {
        std::vector<std::string> out;
        for (const auto& item : page.items) out.push_back(item.id);
        return out;
    }
    // Every page of a list, following `next`, and what to do between pages.
    std::vector<std::string> all_pages(queries::list_orders_request request, const std::function<void(int)>& between = {}) {
        std::vector<std::string> out;
        for (int page = 0; page < 100; ++page) {
            auto answer = queries_->list_orders(request);
            EXPECT_TRUE(answer.has_value()) << answer.error();
            if (!answer) return out;
            EXPECT_LE(answer->items.size(), static_cast<std::size_t>(request.limit));
            for (auto& id : ids_of(*answer)) out.push_back(id);
            if (!answer->next) return out;
            request.after = answer->next;
            if (between) between(page);
        }
        ADD_FAILURE() << "the list does not end";
        return out;
    }

    std::optional<postgres::database_url> url_;
    std::unique_ptr<projections::orders_model> model_;
    std::unique_ptr<queries::order_queries> queries_;
    batch_builder log_;
};

// ---- one order ---------------------------------------------------------------------------------

TEST_F(order_queries_test, gets_an_order_with_its_lines_payment_and_version) {
    write(log_.order("o-1", placed("o-1", "c-1", dec_1 + 5, {{"sku-a", 2, 1250}, {"sku-b", 3, 7}}))
              .payment("p-1", payment::payment_requested{payment_id("p-1"), order_id("o-1"), money{2521, currency_of("EUR")}, "t", dec_1 + 6})
              .take());
    write(log_.payment("p-1", payment::payment_authorized{payment_id("p-1"), "a", dec_1 + 7})
              .order("o-1", order::order_confirmed{order_id("o-1"), payment_id("p-1"), dec_1 + 8})
              .take());
    auto got = queries_->get_order("o-1");
    ASSERT_TRUE(got.has_value()) << got.error();
    EXPECT_EQ(got->id, "o-1");
    EXPECT_EQ(got->customer, "c-1");
    EXPECT_EQ(got->status, order::order_status::confirmed);
    EXPECT_EQ(got->total, (money{2521, currency_of("EUR")}));
    EXPECT_EQ(got->version, 2U);
    EXPECT_EQ(got->placed_at_ms, dec_1 + 5);
    EXPECT_EQ(got->updated_at_ms, dec_1 + 8);
    EXPECT_FALSE(got->cancel_reason.has_value());
    EXPECT_EQ(got->lines, (std::vector<queries::order_line_view>{{"sku-a", 2, 1250}, {"sku-b", 3, 7}}));
    ASSERT_TRUE(got->payment.has_value());
    EXPECT_EQ(got->payment->id, "p-1");
    EXPECT_EQ(got->payment->status, payment::payment_status::authorized);
    EXPECT_EQ(got->payment->amount, (money{2521, currency_of("EUR")}));

    auto missing = queries_->get_order("o-404");
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().code, errc::not_found);
}

TEST_F(order_queries_test, the_payment_shows_whichever_topic_arrived_first) {
    // The payments topic's commits are applied before the order's.
    write(log_.payment("p-9", payment::payment_requested{payment_id("p-9"), order_id("o-9"), money{2500, currency_of("EUR")}, "t", dec_1},
                       payment::payment_authorized{payment_id("p-9"), "a", dec_1 + 1})
              .take());
    auto early = queries_->get_order("o-9");
    ASSERT_FALSE(early.has_value());
    EXPECT_EQ(early.error().code, errc::not_found);
    write(log_.order("o-9", placed("o-9", "c-1", dec_1)).take());
    auto got = queries_->get_order("o-9");
    ASSERT_TRUE(got.has_value()) << got.error();
    ASSERT_TRUE(got->payment.has_value());
    EXPECT_EQ(got->payment->status, payment::payment_status::authorized);
    write(log_.order("o-10", placed("o-10", "c-1", dec_1)).take());
    auto unpaid = queries_->get_order("o-10");
    ASSERT_TRUE(unpaid.has_value());
    EXPECT_FALSE(unpaid->payment.has_value());
}

TEST_F(order_queries_test, the_cancel_reason_and_capture_are_shown) {
    write(log_.order("o-1", placed("o-1", "c-1", dec_1),
                     order::order_cancelled{order_id("o-1"), order::cancel_reason::payment_declined, {}, dec_1 + 1})
              .take());
    auto got = queries_->get_order("o-1");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->status, order::order_status::cancelled);
    EXPECT_EQ(got->cancel_reason, order::cancel_reason::payment_declined);
    EXPECT_FALSE(got->payment_captured);
}

// ---- a customer's list -------------------------------------------------------------------------------

TEST_F(order_queries_test, pages_through_a_customers_orders_newest_first_with_inserts_in_between) {
    std::vector<std::string> expected;  // newest first; ties on placed_at by id, descending
    for (int i = 0; i < 25; ++i) {
        const std::string id = "o-" + std::to_string(100 + i);
        log_.order(id, placed(id, "c-1", dec_1 + (i / 2) * 1000));  // pairs placed in the same ms
        log_.order("x-" + std::to_string(i), placed("x-" + std::to_string(i), "c-2", dec_1 + i * 1000));
    }
    write(log_.take());
    for (int i = 24; i >= 0; i -= 2) {
        if (i + 1 < 25) expected.push_back("o-" + std::to_string(100 + i + 1));
        expected.push_back("o-" + std::to_string(100 + i));
    }
    // Between pages: newer orders (not shown to a reader already past them), older ones
    // (shown at the end), and another customer's.
    const auto insert = [&](int page) {
        const std::string n = std::to_string(page);
        write(log_.order("new-" + n, placed("new-" + n, "c-1", dec_1 + 100'000))
                  .order("old-" + n, placed("old-" + n, "c-1", dec_1 - 1000 - page))
                  .order("y-" + n, placed("y-" + n, "c-2", dec_1 - 1000))
                  .take());
    };
    const auto seen = all_pages({"c-1", std::nullopt, 10, std::nullopt}, insert);
    auto want = expected;
    want.insert(want.end(), {"old-0", "old-1"});  // inserted after pages 1 and 2 of 3
    EXPECT_EQ(seen, want);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size()) << "an order shown twice";
}

TEST_F(order_queries_test, filters_by_status_across_pages) {
    for (int i = 0; i < 12; ++i) {
        const std::string id = "o-" + std::to_string(10 + i);
        log_.order(id, placed(id, "c-1", dec_1 + i));
        if (i % 3 == 0) log_.order(id, order::order_cancelled{order_id(id), order::cancel_reason::customer_request, {}, dec_1 + 100});
    }
    log_.order("other", placed("other", "c-2", dec_1 + 50), order::order_cancelled{order_id("other"), {}, {}, dec_1 + 60});
    write(log_.take());
    EXPECT_EQ(all_pages({"c-1", order::order_status::cancelled, 2, std::nullopt}),
              (std::vector<std::string>{"o-19", "o-16", "o-13", "o-10"}));
    const auto pending = all_pages({"c-1", order::order_status::pending, 3, std::nullopt});
    EXPECT_EQ(pending.size(), 8U);
    EXPECT_EQ(pending.front(), "o-21");
    EXPECT_TRUE(all_pages({"c-1", order::order_status::shipped, 5, std::nullopt}).empty());

    auto first = queries_->list_orders({"c-1", std::nullopt, 1, std::nullopt});
    ASSERT_TRUE(first.has_value());
    ASSERT_EQ(first->items.size(), 1U);
    EXPECT_EQ(first->items[0].id, "o-21");
    EXPECT_EQ(first->items[0].status, order::order_status::pending);
    EXPECT_EQ(first->items[0].total, (money{2500, currency_of("EUR")}));
    EXPECT_EQ(first->items[0].placed_at_ms, dec_1 + 11);
    EXPECT_TRUE(first->next.has_value());
    auto exact = queries_->list_orders({"c-1", std::nullopt, 12, std::nullopt});
    ASSERT_TRUE(exact.has_value());
    EXPECT_EQ(exact->items.size(), 12U);
    EXPECT_FALSE(exact->next.has_value()) << "a full last page says there is no next";
}

TEST_F(order_queries_test, a_cursor_cannot_be_forged_into_another_customers_list) {
    for (int i = 0; i < 3; ++i) {
        log_.order("a-" + std::to_string(i), placed("a-" + std::to_string(i), "c-1", dec_1 + i));
        log_.order("b-" + std::to_string(i), placed("b-" + std::to_string(i), "c-2", dec_1 + i));
    }
    write(log_.take());
    auto page = queries_->list_orders({"c-1", std::nullopt, 1, std::nullopt});
    ASSERT_TRUE(page.has_value() && page->next.has_value());
    const auto refused = [](const result<queries::order_page, queries::error>& r) {
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, errc::invalid_argument);
        EXPECT_EQ(r.error().message.rfind("after: ", 0), 0U) << r.error();
    };
    refused(queries_->list_orders({"c-2", std::nullopt, 1, page->next}));
    std::string edited = *page->next;
    edited[3] = edited[3] == 'A' ? 'B' : 'A';
    refused(queries_->list_orders({"c-1", std::nullopt, 1, edited}));
    refused(queries_->list_orders({"c-1", std::nullopt, 1, std::string("garbage")}));
    // Another server's key: its cursors are not ours.
    auto other = open_queries("another key, also long enough");
    refused(other->list_orders({"c-1", std::nullopt, 1, page->next}));
    // The right customer goes on.
    auto next = queries_->list_orders({"c-1", std::nullopt, 1, page->next});
    ASSERT_TRUE(next.has_value()) << next.error();
    EXPECT_EQ(ids_of(*next), std::vector<std::string>{"a-1"});
}

TEST_F(order_queries_test, bad_list_parameters_are_named) {
    for (const int limit : {0, -1, 101}) {
        auto r = queries_->list_orders({"c-1", std::nullopt, limit, std::nullopt});
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, errc::invalid_argument);
        EXPECT_EQ(r.error().message.rfind("limit: ", 0), 0U) << r.error();
    }
    EXPECT_TRUE(queries_->list_orders({"c-1", std::nullopt, 100, std::nullopt}).has_value());
    auto status = queries::parse_order_status("paid");
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message.rfind("status: ", 0), 0U) << status.error();
    EXPECT_EQ(queries::parse_order_status("shipped").value_or(order::order_status::none), order::order_status::shipped);
    auto short_key = queries::order_queries::open({*url_, "shopstream", "short", 1});
    ASSERT_FALSE(short_key.has_value());
    EXPECT_EQ(short_key.error().code, errc::invalid_argument);
}

// ---- the admin summary --------------------------------------------------------------------------------

TEST_F(order_queries_test, summarises_per_utc_day_and_status_with_revenue_per_currency) {
    // Whatever the session's time zone, days are UTC days.
    auto in_kiritimati = open_queries();
    const std::int64_t dec_2 = dec_1 + day;
    write(log_.order("o-1", placed("o-1", "c-1", dec_2 - 1))                                        // Dec 1, last ms
              .order("o-2", placed("o-2", "c-1", dec_2, {{"s", 1, 100}}))                             // Dec 2, first ms
              .order("o-3", placed("o-3", "c-2", dec_2 + 5, {{"s", 1, 7}}, "USD"))
              .order("o-4", placed("o-4", "c-2", dec_2 + 6, {{"s", 1, 9'000'000'000'000'000}}))     // large, exact
              .order("o-5", placed("o-5", "c-2", dec_2 + 7, {{"s", 3, 1}}),
                     order::order_cancelled{order_id("o-5"), {}, {}, dec_2 + 8})
              .order("o-6", placed("o-6", "c-2", dec_1 - 1))                                        // before the range
              .order("o-7", placed("o-7", "c-2", dec_2 + day))                                      // at `to`: out
              .take());
    ::setenv("PGTZ", "Pacific/Kiritimati", 1);  // UTC+14: libpq sets it as the session's TimeZone on connecting
    auto s = in_kiritimati->summary(dec_1, dec_2 + day);
    ::unsetenv("PGTZ");
    ASSERT_TRUE(s.has_value()) << s.error();
    ASSERT_EQ(s->rows.size(), 3U);
    EXPECT_EQ(s->rows[0].day, "2025-12-01");
    EXPECT_EQ(s->rows[0].status, order::order_status::pending);
    EXPECT_EQ(s->rows[0].count, 1);
    EXPECT_EQ(s->rows[0].revenue, (std::vector<money>{{2500, currency_of("EUR")}}));
    EXPECT_EQ(s->rows[1].day, "2025-12-02");
    EXPECT_EQ(s->rows[1].status, order::order_status::cancelled);
    EXPECT_EQ(s->rows[1].count, 1);
    EXPECT_EQ(s->rows[1].revenue, (std::vector<money>{{3, currency_of("EUR")}}));
    EXPECT_EQ(s->rows[2].day, "2025-12-02");
    EXPECT_EQ(s->rows[2].status, order::order_status::pending);
    EXPECT_EQ(s->rows[2].count, 3);
    EXPECT_EQ(s->rows[2].revenue,
              (std::vector<money>{{9'000'000'000'000'100, currency_of("EUR")}, {7, currency_of("USD")}}));
    EXPECT_EQ(s->revenue,
              (std::vector<money>{{9'000'000'000'002'603, currency_of("EUR")}, {7, currency_of("USD")}}));

    auto one_day = queries_->summary(dec_2, dec_2 + 1);
    ASSERT_TRUE(one_day.has_value());
    ASSERT_EQ(one_day->rows.size(), 1U);
    EXPECT_EQ(one_day->rows[0].count, 1);
}

TEST_F(order_queries_test, bad_summary_ranges_are_named) {
    const auto named = [&](std::int64_t from, std::int64_t to, std::string_view parameter) {
        auto s = queries_->summary(from, to);
        ASSERT_FALSE(s.has_value());
        EXPECT_EQ(s.error().code, errc::invalid_argument);
        EXPECT_EQ(s.error().message.rfind(std::string(parameter) + ": ", 0), 0U) << s.error();
    };
    named(dec_1, dec_1, "to");
    named(dec_1, dec_1 - 1, "to");
    named(dec_1, dec_1 + 367 * day, "to");
    named(-1, dec_1, "from");
    named(dec_1, 253'402'300'800'000, "to");
    EXPECT_TRUE(queries_->summary(dec_1, dec_1 + 366 * day).has_value());
}

// ---- read-your-writes -----------------------------------------------------------------------------------

TEST_F(order_queries_test, the_applied_position_is_the_stored_checkpoint_and_the_wait_is_bounded) {
    const int p = batch_builder::partition_of("o-1");
    const auto partition = eventstore::partition_id(p);
    auto none = queries_->applied_offset(context::orders, partition);
    ASSERT_TRUE(none.has_value()) << none.error();
    EXPECT_EQ(none->value(), 0);
    write(log_.order("o-1", placed("o-1", "c-1", dec_1)).skipped(context::orders, p).take());  // offsets 0, 1
    auto applied = queries_->applied_offset(context::orders, partition);
    ASSERT_TRUE(applied.has_value());
    EXPECT_EQ(applied->value(), 2);

    EXPECT_TRUE(queries_->wait_until_applied(context::orders, {partition, eventstore::log_offset(1)}, 0ms).has_value());
    auto late = queries_->wait_until_applied(context::orders, {partition, eventstore::log_offset(2)}, 50ms);
    ASSERT_FALSE(late.has_value());
    EXPECT_EQ(late.error().code, errc::not_yet_applied);
    EXPECT_NE(late.error().message.find("below offset 2"), std::string::npos) << late.error();

    // A waiter sees the batch another writer (here: another connection) commits.
    result<void, queries::error> waited = fail(queries::error{});
    std::thread waiter([&] {
        waited = queries_->wait_until_applied(context::orders, {partition, eventstore::log_offset(2)}, 30s);
    });
    write(log_.order("o-1", order::order_shipped{order_id("o-1"), {}, dec_1 + 1}).take());
    waiter.join();
    EXPECT_TRUE(waited.has_value()) << waited.error();

    auto reviews = queries_->applied_offset(context::reviews, partition);
    ASSERT_FALSE(reviews.has_value());
    EXPECT_EQ(reviews.error().code, errc::invalid_argument);
}

TEST_F(order_queries_test, an_unreachable_database_is_unavailable_with_a_clear_message) {
    auto nowhere = postgres::database_url::parse("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2");
    ASSERT_TRUE(nowhere.has_value());
    auto q = queries::order_queries::open({*nowhere, "shopstream", "a key of sixteen bytes or more", 2});
    ASSERT_TRUE(q.has_value());
    auto got = (*q)->get_order("o-1");
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code, errc::unavailable);
    EXPECT_NE(got.error().message.find("cannot connect to PostgreSQL at nobody@127.0.0.1:1/none"), std::string::npos)
        << got.error();
}

}  // namespace
}  // namespace shopstream::testing
