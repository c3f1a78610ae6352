// The orders read model (projections/orders_model.hpp) against a real PostgreSQL: the
// schema and its migrations, every order and payment event's effect, version guards,
// refusals, and that a failing batch leaves nothing behind.

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "projections/orders_model.hpp"
#include "projections/orders_schema.hpp"
#include "tests/projections/orders_batches.hpp"
#include "tests/support/eventually.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
using eventstore::context;
namespace order = domain::order;
namespace payment = domain::payment;
using domain::money;
using domain::order_id;
using domain::payment_id;

class orders_model_test : public ::testing::Test {
protected:
    void SetUp() override {
        url_.emplace(fresh_database());
        auto opened = projections::orders_model::open(*url_);
        ASSERT_TRUE(opened.has_value()) << opened.error();
        model_ = std::move(*opened);
    }

    // One value of a statement run on a connection of the test's own.
    std::string scalar(const std::string& sql) {
        pqxx::connection c(url_->conninfo());
        pqxx::nontransaction q(c);
        const auto rows = q.exec(sql);
        if (rows.empty() || rows[0][0].is_null()) return "<none>";
        return rows[0][0].as<std::string>();
    }
    void run(const std::string& sql) {
        pqxx::connection c(url_->conninfo());
        pqxx::nontransaction q(c);
        q.exec(sql);
    }
    std::vector<projections::refusal> write(const projections::batch& b) {
        auto written = model_->write_batch(b);
        EXPECT_TRUE(written.has_value()) << written.error();
        return written.value_or(std::vector<projections::refusal>{});
    }
    std::string order_row(const std::string& id) {
        return scalar("SELECT concat_ws('|', customer, status, total, currency, coalesce(cancel_reason, '-'), "
                      "coalesce(payment_id, '-'), payment_captured, version, "
                      "(extract(epoch FROM placed_at) * 1000)::bigint, (extract(epoch FROM updated_at) * 1000)::bigint) "
                      "FROM shopstream.orders WHERE id = '" + id + "'");
    }
    std::string payment_row(const std::string& id) {
        return scalar("SELECT concat_ws('|', order_id, status, amount, currency, captured, refunded, version, "
                      "(extract(epoch FROM updated_at) * 1000)::bigint) FROM shopstream.payments WHERE id = '" + id + "'");
    }
    std::string counts() {
        return scalar("SELECT concat_ws(',', (SELECT count(*) FROM shopstream.orders), "
                      "(SELECT count(*) FROM shopstream.order_lines), (SELECT count(*) FROM shopstream.payments), "
                      "(SELECT count(*) FROM shopstream.aggregate_heads), "
                      "(SELECT coalesce(string_agg(context || ':' || partition || ':' || next_offset, ' ' "
                      "ORDER BY context, partition), '') FROM shopstream.projection_checkpoints))");
    }

    std::optional<postgres::database_url> url_;
    std::unique_ptr<projections::orders_model> model_;
    batch_builder log_;
};

// ---- schema -----------------------------------------------------------------------------

TEST_F(orders_model_test, migrates_once_and_again_is_a_no_op) {
    EXPECT_EQ(scalar("SELECT string_agg(version::text, ',' ORDER BY version) FROM shopstream.schema_migrations"),
              std::to_string(projections::latest_orders_migration()));
    pqxx::connection c(url_->conninfo());
    auto again = projections::migrate_orders_schema(c, "shopstream");
    ASSERT_TRUE(again.has_value()) << again.error();
    EXPECT_EQ(again->from, projections::latest_orders_migration());
    EXPECT_EQ(again->to, projections::latest_orders_migration());
    EXPECT_EQ(scalar("SELECT count(*) FROM shopstream.schema_migrations"), "1");
    // A model opened again on the same schema (a restart) finds it as it is.
    auto reopened = projections::orders_model::open(*url_);
    ASSERT_TRUE(reopened.has_value()) << reopened.error();
}

TEST_F(orders_model_test, a_shadow_schema_lives_beside_the_live_one) {
    auto shadow = projections::orders_model::open(*url_, "shopstream_shadow");
    ASSERT_TRUE(shadow.has_value()) << shadow.error();
    ASSERT_TRUE((*shadow)->write_batch(log_.order("o-1", placed("o-1", "c-1", 1000)).take()).has_value());
    EXPECT_EQ(scalar("SELECT count(*) FROM shopstream_shadow.orders"), "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM shopstream.orders"), "0");
}

TEST_F(orders_model_test, refuses_a_schema_name_it_would_have_to_splice) {
    for (const char* bad : {"", "Shop", "shop; DROP TABLE x", "1shop", "shop\"x"}) {
        auto opened = projections::orders_model::open(*url_, bad);
        ASSERT_FALSE(opened.has_value()) << bad;
        EXPECT_EQ(opened.error().code, eventstore::errc::invalid_argument) << opened.error();
        EXPECT_NE(opened.error().message.find("not a plain schema name"), std::string::npos) << opened.error();
    }
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'shop%'"), "1");
}

TEST_F(orders_model_test, refuses_a_schema_a_newer_build_migrated) {
    run("INSERT INTO shopstream.schema_migrations (version) VALUES (9999)");
    auto opened = projections::orders_model::open(*url_);
    ASSERT_FALSE(opened.has_value());
    EXPECT_EQ(opened.error().code, eventstore::errc::store_failed);
    EXPECT_NE(opened.error().message.find("at migration 9999"), std::string::npos) << opened.error();
}

TEST(orders_schema, a_second_migrator_waits_for_the_first_then_finds_nothing_to_do) {
    const auto url = fresh_database();
    // Stand in for a first process in the middle of migrating: hold the migration lock.
    pqxx::connection holder(url.conninfo());
    pqxx::nontransaction hold(holder);
    hold.exec("SELECT pg_advisory_lock(hashtext('shopstream.migrate:shopstream'))");

    std::atomic<bool> done = false;
    result<projections::migration_report, postgres::error> second = fail(postgres::error{});
    std::thread migrator([&] {
        pqxx::connection c(url.conninfo());
        second = projections::migrate_orders_schema(c, "shopstream");
        done = true;
    });
    pqxx::connection observer(url.conninfo());
    const bool waiting = eventually(
        [&] {
            pqxx::nontransaction q(observer);
            return q.exec("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'")
                       .size() == 1;
        },
        10s, 10ms);
    EXPECT_TRUE(waiting) << "the second migrator does not wait on the migration lock";
    EXPECT_FALSE(done.load());
    {
        pqxx::nontransaction q(observer);
        EXPECT_TRUE(q.exec("SELECT 1 FROM pg_namespace WHERE nspname = 'shopstream'").empty());
    }
    hold.exec("SELECT pg_advisory_unlock(hashtext('shopstream.migrate:shopstream'))");
    migrator.join();
    ASSERT_TRUE(second.has_value()) << second.error();
    EXPECT_EQ(second->from, 0);

    // Two at once on a fresh database: both succeed, each migration recorded once.
    const auto other = fresh_database();
    std::vector<result<projections::migration_report, postgres::error>> reports(2, fail(postgres::error{}));
    std::vector<std::thread> both;
    for (int i = 0; i < 2; ++i) {
        both.emplace_back([&, i] {
            pqxx::connection c(other.conninfo());
            reports[static_cast<std::size_t>(i)] = projections::migrate_orders_schema(c, "shopstream");
        });
    }
    for (auto& t : both) t.join();
    ASSERT_TRUE(reports[0].has_value()) << reports[0].error();
    ASSERT_TRUE(reports[1].has_value()) << reports[1].error();
    EXPECT_EQ(reports[0]->from + reports[1]->from, projections::latest_orders_migration());  // one did it, one found it done
    pqxx::connection c(other.conninfo());
    pqxx::nontransaction q(c);
    EXPECT_EQ(q.exec("SELECT count(*) FROM shopstream.schema_migrations")[0][0].as<int>(),
              projections::latest_orders_migration());
}

// ---- every event's effect -------------------------------------------------------------------

TEST_F(orders_model_test, order_placed_writes_the_order_and_its_lines) {
    EXPECT_TRUE(write(log_.order("o-1", placed("o-1", "c-1", 1'764'547'200'123,
                                               {{"sku-a", 2, 1250}, {"sku-b", 1, 99}}, "JPY"))
                          .take())
                    .empty());
    EXPECT_EQ(order_row("o-1"), "c-1|pending|2599|JPY|-|-|f|1|1764547200123|1764547200123");
    EXPECT_EQ(scalar("SELECT string_agg(line_no || ':' || sku || ':' || quantity || ':' || unit_price, ' ' ORDER BY line_no) "
                     "FROM shopstream.order_lines WHERE order_id = 'o-1'"),
              "0:sku-a:2:1250 1:sku-b:1:99");
}

TEST_F(orders_model_test, each_later_order_event_changes_what_it_says) {
    write(log_.order("o-1", placed("o-1", "c-1", 1000)).order("o-2", placed("o-2", "c-1", 1000)).take());
    write(log_.order("o-1", order::order_confirmed{order_id("o-1"), payment_id("p-1"), 2000}).take());
    EXPECT_EQ(order_row("o-1"), "c-1|confirmed|2500|EUR|-|p-1|f|2|1000|2000");
    write(log_.order("o-1", order::order_payment_captured{order_id("o-1"), payment_id("p-1"),
                                                          money{2500, currency_of("EUR")}, 3000})
              .take());
    EXPECT_EQ(order_row("o-1"), "c-1|confirmed|2500|EUR|-|p-1|t|3|1000|3000");
    write(log_.order("o-1", order::order_shipped{order_id("o-1"), {}, 4000}).take());
    EXPECT_EQ(order_row("o-1"), "c-1|shipped|2500|EUR|-|p-1|t|4|1000|4000");

    write(log_.order("o-2", order::order_cancelled{order_id("o-2"), order::cancel_reason::payment_timeout, {}, 5000})
              .take());
    EXPECT_EQ(order_row("o-2"), "c-1|cancelled|2500|EUR|payment_timeout|-|f|2|1000|5000");
    // The lines stay as placed.
    EXPECT_EQ(scalar("SELECT count(*) FROM shopstream.order_lines"), "2");
}

TEST_F(orders_model_test, several_events_of_one_commit_and_several_commits_of_one_batch_fold_together) {
    log_.order("o-1", placed("o-1", "c-1", 1000), order::order_confirmed{order_id("o-1"), payment_id("p-1"), 1500});
    log_.order("o-1", order::order_cancelled{order_id("o-1"), order::cancel_reason::customer_request, {}, 1700});
    EXPECT_TRUE(write(log_.take()).empty());
    EXPECT_EQ(order_row("o-1"), "c-1|cancelled|2500|EUR|customer_request|p-1|f|3|1000|1700");
}

TEST_F(orders_model_test, every_payment_event_changes_the_payment_row) {
    const money amount{2500, currency_of("EUR")};
    write(log_.payment("p-1", payment::payment_requested{payment_id("p-1"), order_id("o-1"), amount, "tok", 1000})
              .payment("p-2", payment::payment_requested{payment_id("p-2"), order_id("o-2"), amount, "tok", 1000})
              .payment("p-3", payment::payment_requested{payment_id("p-3"), order_id("o-3"), amount, "tok", 1000})
              .take());
    EXPECT_EQ(payment_row("p-1"), "o-1|requested|2500|EUR|0|0|1|1000");
    write(log_.payment("p-1", payment::payment_authorized{payment_id("p-1"), "auth", 2000})
              .payment("p-2", payment::payment_declined{payment_id("p-2"), "insufficient funds", 2000})
              .payment("p-3", payment::payment_authorized{payment_id("p-3"), "auth", 2000})
              .take());
    EXPECT_EQ(payment_row("p-1"), "o-1|authorized|2500|EUR|0|0|2|2000");
    EXPECT_EQ(payment_row("p-2"), "o-2|declined|2500|EUR|0|0|2|2000");
    write(log_.payment("p-1", payment::payment_captured{payment_id("p-1"), amount, 3000})
              .payment("p-3", payment::payment_voided{payment_id("p-3"), "order cancelled", 3000})
              .take());
    EXPECT_EQ(payment_row("p-1"), "o-1|captured|2500|EUR|2500|0|3|3000");
    EXPECT_EQ(payment_row("p-3"), "o-3|voided|2500|EUR|0|0|3|3000");
    write(log_.payment("p-1", payment::payment_refunded{payment_id("p-1"), "r-1", money{500, currency_of("EUR")}, "", 4000},
                       payment::payment_refunded{payment_id("p-1"), "r-2", money{700, currency_of("EUR")}, "", 4100})
              .take());
    EXPECT_EQ(payment_row("p-1"), "o-1|captured|2500|EUR|2500|1200|5|4100");
}

// ---- heads, checkpoints, identity ----------------------------------------------------------------

TEST_F(orders_model_test, stores_the_heads_and_checkpoints_the_runtime_resumes_from) {
    log_.order("o-1", placed("o-1", "c-1", 1000)).skipped(context::orders, 3).order("o-1",
        order::order_shipped{order_id("o-1"), {}, 2000});
    log_.payment("p-1", payment::payment_requested{payment_id("p-1"), order_id("o-1"), money{1, currency_of("EUR")}, "t", 1});
    write(log_.take());

    const std::vector<std::string> ids = {"o-unknown", "o-1"};
    auto heads = model_->load_heads(context::orders, ids);
    ASSERT_TRUE(heads.has_value()) << heads.error();
    ASSERT_EQ(heads->size(), 2U);
    EXPECT_FALSE((*heads)[0].has_value());
    ASSERT_TRUE((*heads)[1].has_value());
    EXPECT_EQ(*(*heads)[1], log_.head(context::orders, "o-1"));
    EXPECT_EQ((*heads)[1]->version, 2U);
    // The same aggregate id in the other context is another aggregate.
    auto as_payment = model_->load_heads(context::payments, std::vector<std::string>{"o-1", "p-1"});
    ASSERT_TRUE(as_payment.has_value());
    EXPECT_FALSE((*as_payment)[0].has_value());
    EXPECT_EQ(*(*as_payment)[1], log_.head(context::payments, "p-1"));

    auto checkpoints = model_->load_checkpoints();
    ASSERT_TRUE(checkpoints.has_value()) << checkpoints.error();
    std::map<std::pair<context, int>, std::int64_t> found;
    for (const auto& cp : *checkpoints) found[{cp.ctx, cp.partition.value()}] = cp.next_offset.value();
    const int o = batch_builder::partition_of("o-1");
    const int p = batch_builder::partition_of("p-1");
    const auto at = [&](context c, int partition) { return found[std::pair(c, partition)]; };
    EXPECT_EQ(at(context::payments, p), 1);
    if (o == 3) {
        EXPECT_EQ(at(context::orders, 3), 3);
        EXPECT_EQ(found.size(), 2U);
    } else {
        EXPECT_EQ(at(context::orders, o), 2);
        EXPECT_EQ(at(context::orders, 3), 1);
        EXPECT_EQ(found.size(), 3U);
    }
}

TEST_F(orders_model_test, a_head_keeps_the_whole_window_of_recent_commands) {
    log_.order("o-1", placed("o-1", "c-1", 1000));
    for (int i = 0; i < 70; ++i) log_.order("o-1", order::order_payment_captured{order_id("o-1"), payment_id("p"), {}, 1000 + i});
    write(log_.take());
    auto heads = model_->load_heads(context::orders, std::vector<std::string>{"o-1"});
    ASSERT_TRUE(heads.has_value()) << heads.error();
    ASSERT_TRUE((*heads)[0].has_value());
    EXPECT_EQ((*heads)[0]->recent_commands.size(), eventstore::recent_command_window);
    EXPECT_EQ(*(*heads)[0], log_.head(context::orders, "o-1"));
}

TEST_F(orders_model_test, a_new_model_has_no_checkpoints_heads_or_identity) {
    auto checkpoints = model_->load_checkpoints();
    ASSERT_TRUE(checkpoints.has_value());
    EXPECT_TRUE(checkpoints->empty());
    auto identity = model_->load_log_identity();
    ASSERT_TRUE(identity.has_value());
    EXPECT_FALSE(identity->has_value());
    auto first = log_.order("o-1", placed("o-1", "c-1", 1000)).take();
    first.log_identity = "log-42";
    write(first);
    write(log_.order("o-2", placed("o-2", "c-1", 1000)).take());  // later batches carry none
    identity = model_->load_log_identity();
    ASSERT_TRUE(identity.has_value());
    EXPECT_EQ(identity->value_or(""), "log-42");
    EXPECT_EQ(model_->location().rfind("schema shopstream of ", 0), 0U) << model_->location();
    EXPECT_EQ(model_->location().find("password"), std::string::npos);
}

TEST_F(orders_model_test, checkpoints_never_move_back) {
    write(log_.order("o-1", placed("o-1", "c-1", 1000)).take());
    const auto before = counts();
    projections::batch stale;
    stale.checkpoints.push_back({context::orders, eventstore::partition_id(batch_builder::partition_of("o-1")),
                                 eventstore::log_offset(0)});
    write(stale);
    EXPECT_EQ(counts(), before);
}

// ---- version guards ------------------------------------------------------------------------------

TEST_F(orders_model_test, a_replayed_batch_changes_nothing_and_an_older_event_never_overwrites_a_newer_row) {
    const auto first = log_.order("o-1", placed("o-1", "c-1", 1000)).take();
    write(first);
    const auto second = log_.order("o-1", order::order_shipped{order_id("o-1"), {}, 2000}).take();
    write(second);
    const auto after = counts() + order_row("o-1");
    // A process that crashed before learning of its commit, or a second projector during a
    // rebalance, writes the same batches again, in any order.
    EXPECT_TRUE(write(first).empty()) << "a replay is not a poison record";
    EXPECT_TRUE(write(second).empty());
    EXPECT_TRUE(write(first).empty());
    EXPECT_EQ(counts() + order_row("o-1"), after);
    EXPECT_EQ(order_row("o-1"), "c-1|shipped|2500|EUR|-|-|f|2|1000|2000");
}

// Two projectors writing the same partitions at once (a rebalance hands a partition over
// while its old owner still finishes a batch): the guards and the id order of the writes
// make them end where one projector alone ends, without a deadlock.
TEST(orders_model_concurrency, two_models_writing_the_same_batches_at_once_end_where_one_alone_ends) {
    batch_builder log;
    std::vector<projections::batch> batches;
    for (int b = 0; b < 20; ++b) {
        for (int i = 0; i < 50; ++i) {
            const std::string id = "o-" + std::to_string((b * 50 + i) % 300);
            const auto& head = log.head(context::orders, id);
            if (head.version == 0) {
                log.order(id, placed(id, "c-" + std::to_string(i % 7), 1000 + b));
            } else {
                log.order(id, order::order_payment_captured{order_id(id), payment_id("p-" + id), {}, 2000 + b});
            }
        }
        batches.push_back(log.take());
    }
    const auto dump = [](const postgres::database_url& url) {
        pqxx::connection c(url.conninfo());
        pqxx::nontransaction q(c);
        std::string out;
        for (const char* sql : {
                 "SELECT string_agg(concat_ws('|', id, customer, status, version, payment_id, payment_captured, updated_at), ' ' ORDER BY id) FROM shopstream.orders",
                 "SELECT string_agg(concat_ws('|', order_id, line_no, sku), ' ' ORDER BY order_id, line_no) FROM shopstream.order_lines",
                 "SELECT string_agg(concat_ws('|', aggregate_id, version, recent_commands::text), ' ' ORDER BY aggregate_id) FROM shopstream.aggregate_heads",
                 "SELECT string_agg(concat_ws('|', context, partition, next_offset), ' ' ORDER BY context, partition) FROM shopstream.projection_checkpoints"}) {
            out += q.exec(sql)[0][0].c_str();
            out += "\n";
        }
        return out;
    };

    const auto alone = fresh_database();
    auto one = projections::orders_model::open(alone);
    ASSERT_TRUE(one.has_value()) << one.error();
    for (const auto& b : batches) ASSERT_TRUE((*one)->write_batch(b).has_value());

    const auto shared = fresh_database();
    std::vector<std::unique_ptr<projections::orders_model>> models;
    for (int i = 0; i < 2; ++i) {
        auto m = projections::orders_model::open(shared);
        ASSERT_TRUE(m.has_value()) << m.error();
        models.push_back(std::move(*m));
    }
    std::vector<std::string> failures(2);
    std::vector<std::thread> writers;
    for (std::size_t w = 0; w < 2; ++w) {
        writers.emplace_back([&, w] {
            for (const auto& b : batches) {
                auto written = models[w]->write_batch(b);
                if (!written) {
                    failures[w] = written.error().message;
                    return;
                }
                if (!written->empty()) {
                    failures[w] = "refused: " + written->front().reason;
                    return;
                }
            }
        });
    }
    for (auto& t : writers) t.join();
    EXPECT_EQ(failures[0], "");
    EXPECT_EQ(failures[1], "");
    EXPECT_EQ(dump(shared), dump(alone));
}

// ---- refusals -------------------------------------------------------------------------------------

TEST_F(orders_model_test, refuses_a_payment_for_a_malformed_order_id_and_keeps_the_rest_of_the_batch) {
    log_.order("o-1", placed("o-1", "c-1", 1000));
    log_.payment("p-bad", payment::payment_requested{payment_id("p-bad"), order_id("o 1; --"), money{1, currency_of("EUR")}, "t", 1});
    const auto b = log_.take();
    const auto refused = write(b);
    ASSERT_EQ(refused.size(), 1U);
    EXPECT_EQ(refused[0].ctx, context::payments);
    EXPECT_EQ(refused[0].at, b.commits[1].at);
    EXPECT_NE(refused[0].reason.find("malformed order id"), std::string::npos) << refused[0].reason;
    EXPECT_EQ(payment_row("p-bad"), "<none>");
    EXPECT_EQ(order_row("o-1"), "c-1|pending|2500|EUR|-|-|f|1|1000|1000");
    // The heads and checkpoints still move on: the refused record is behind the model.
    auto head = model_->load_heads(context::payments, std::vector<std::string>{"p-bad"});
    ASSERT_TRUE(head.has_value());
    EXPECT_TRUE((*head)[0].has_value());

    // What follows a refused first commit has no row to change: refused too, saying why.
    const auto later = write(log_.payment("p-bad", payment::payment_authorized{payment_id("p-bad"), "a", 2}).take());
    ASSERT_EQ(later.size(), 1U);
    EXPECT_NE(later[0].reason.find("which the model does not have"), std::string::npos) << later[0].reason;
    EXPECT_EQ(payment_row("p-bad"), "<none>");
}

TEST_F(orders_model_test, refuses_commits_that_break_the_models_invariants_and_only_those) {
    write(log_.order("o-1", placed("o-1", "c-1", 1000)).take());
    log_.order("o-2", order::order_cancelled{order_id("o-2"), order::cancel_reason::customer_request, {}, 1});  // never placed
    log_.order("o-1", placed("o-1", "c-2", 2000));                                                               // placed twice
    log_.order("o-3", placed("o-4", "c-1", 1000));                                                               // another order's event
    log_.order("o-5", placed("o-5", "c-1", -5));                                                                 // before 1970
    log_.order("o-6", placed("o-6", "c-1", 1000), order::order_shipped{order_id("o-6"), {}, 1100});              // fine
    log_.payment("p-1", payment::payment_requested{payment_id("p-1"), order_id("o-1"), money{100, currency_of("EUR")}, "t", 1});
    log_.payment("p-1", payment::payment_captured{payment_id("p-1"), money{100, currency_of("USD")}, 2});        // other currency
    const auto refused = write(log_.take());
    std::vector<std::string> reasons;
    for (const auto& r : refused) reasons.push_back(r.reason);
    ASSERT_EQ(reasons.size(), 5U) << ::testing::PrintToString(reasons);
    EXPECT_NE(reasons[0].find("order_cancelled for order o-2, which the model does not have"), std::string::npos);
    EXPECT_NE(reasons[1].find("order_placed for order o-1, which the model already has"), std::string::npos);
    EXPECT_NE(reasons[2].find("an event for o-4 in a commit of o-3"), std::string::npos);
    EXPECT_NE(reasons[3].find("not a time from 1970 to 9999"), std::string::npos);
    EXPECT_NE(reasons[4].find("payment_captured in USD for a payment in EUR"), std::string::npos);
    EXPECT_EQ(order_row("o-1"), "c-1|pending|2500|EUR|-|-|f|1|1000|1000");
    EXPECT_EQ(order_row("o-6"), "c-1|shipped|2500|EUR|-|-|f|2|1000|1100");
    EXPECT_EQ(payment_row("p-1"), "o-1|requested|100|EUR|0|0|1|1");
    EXPECT_EQ(scalar("SELECT count(*) FROM shopstream.orders"), "2");
}

// ---- failures leave nothing behind -----------------------------------------------------------------

TEST_F(orders_model_test, a_batch_that_fails_leaves_no_row_head_or_checkpoint_behind) {
    write(log_.order("o-1", placed("o-1", "c-1", 1000)).take());
    const auto before = counts() + order_row("o-1");
    // The last statement of the batch fails, after every row of it was written.
    run("CREATE FUNCTION shopstream.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$");
    run("CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON shopstream.projection_checkpoints "
        "FOR EACH ROW EXECUTE FUNCTION shopstream.refuse()");
    auto b = log_.order("o-1", order::order_shipped{order_id("o-1"), {}, 2000})
                 .order("o-2", placed("o-2", "c-1", 1000))
                 .payment("p-2", payment::payment_requested{payment_id("p-2"), order_id("o-2"), money{1, currency_of("EUR")}, "t", 1})
                 .take();
    b.log_identity = "log-1";
    auto failed = model_->write_batch(b);
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().code, eventstore::errc::store_failed);
    EXPECT_NE(failed.error().message.find("injected failure"), std::string::npos) << failed.error();
    EXPECT_NE(failed.error().message.find("schema shopstream"), std::string::npos) << failed.error();
    EXPECT_EQ(counts() + order_row("o-1"), before);
    auto identity = model_->load_log_identity();
    ASSERT_TRUE(identity.has_value());
    EXPECT_FALSE(identity->has_value());

    // The same model writes the batch once the cause is gone.
    run("DROP TRIGGER refuse ON shopstream.projection_checkpoints");
    ASSERT_TRUE(model_->write_batch(b).has_value());
    EXPECT_EQ(order_row("o-1"), "c-1|shipped|2500|EUR|-|-|f|2|1000|2000");
    EXPECT_EQ(scalar("SELECT count(*) FROM shopstream.orders"), "2");
}

TEST_F(orders_model_test, hands_its_refusals_over_before_it_commits_and_a_failed_hand_over_stores_nothing) {
    write(log_.order("o-1", placed("o-1", "c-1", 1000)).take());
    const auto before = counts() + order_row("o-1");
    auto b = log_.order("o-1", order::order_shipped{order_id("o-1"), {}, 2000})
                 .order("o-2", order::order_cancelled{order_id("o-2"), order::cancel_reason::customer_request, {}, 1})
                 .take();
    std::vector<projections::refusal> handed;
    std::string rows_seen_from_outside;
    b.before_commit = [&](std::span<const projections::refusal> r) -> result<void, eventstore::error> {
        handed.assign(r.begin(), r.end());
        rows_seen_from_outside = counts() + order_row("o-1");  // another connection: nothing committed yet
        return fail(eventstore::error{eventstore::errc::unreachable, "the DLQ is down"});
    };
    auto failed = model_->write_batch(b);
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().code, eventstore::errc::unreachable);
    EXPECT_EQ(failed.error().message, "the DLQ is down");
    ASSERT_EQ(handed.size(), 1U);
    EXPECT_NE(handed[0].reason.find("order o-2, which the model does not have"), std::string::npos);
    EXPECT_EQ(rows_seen_from_outside, before);
    EXPECT_EQ(counts() + order_row("o-1"), before);  // the transaction was rolled back

    b.before_commit = [&](std::span<const projections::refusal> r) -> result<void, eventstore::error> {
        handed.assign(r.begin(), r.end());
        return {};
    };
    handed.clear();
    auto written = model_->write_batch(b);
    ASSERT_TRUE(written.has_value()) << written.error();
    EXPECT_EQ(written->size(), 1U);
    EXPECT_EQ(handed.size(), 1U);
    EXPECT_EQ(order_row("o-1"), "c-1|shipped|2500|EUR|-|-|f|2|1000|2000");
}

TEST_F(orders_model_test, a_lost_connection_fails_the_batch_and_the_next_call_reconnects) {
    run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    auto failed = model_->write_batch(log_.order("o-1", placed("o-1", "c-1", 1000)).take());
    ASSERT_FALSE(failed.has_value());
    EXPECT_EQ(failed.error().code, eventstore::errc::store_failed);
    EXPECT_EQ(order_row("o-1"), "<none>");
    auto checkpoints = model_->load_checkpoints();
    ASSERT_TRUE(checkpoints.has_value()) << checkpoints.error();
    EXPECT_TRUE(checkpoints->empty());
}

TEST_F(orders_model_test, a_misshapen_batch_is_refused_whole_and_nothing_is_written) {
    auto b = log_.order("o-1", placed("o-1", "c-1", 1000)).take();
    auto with_review = b;
    with_review.commits.back().ctx = context::reviews;
    auto negative = b;
    negative.checkpoints.push_back({context::payments, eventstore::partition_id(0), eventstore::log_offset(-1)});
    auto no_events = b;
    no_events.commits.back().events.clear();
    for (const auto& bad : {with_review, negative, no_events}) {
        auto refused = model_->write_batch(bad);
        ASSERT_FALSE(refused.has_value());
        EXPECT_EQ(refused.error().code, eventstore::errc::invalid_argument) << refused.error();
    }
    EXPECT_EQ(counts(), "0,0,0,0,");
    auto heads = model_->load_heads(context::reviews, std::vector<std::string>{"r-1"});
    ASSERT_FALSE(heads.has_value());
    EXPECT_EQ(heads.error().code, eventstore::errc::invalid_argument);
}

}  // namespace
}  // namespace shopstream::testing
