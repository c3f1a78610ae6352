// Crash tests of the projection runtime (issue 11; ARCHITECTURE.md decision 5): a projector
// process (tests/support/projector_main.cpp) SIGKILLed in the middle of a batch (handed to
// the model, not committed), right after the model's commit returned, and - for the
// orders model - inside its PostgreSQL transaction, then restarted to the end. Each read
// model must then equal, row for row and entry for entry, the one a clean single run
// builds from the same log, and across the runs every applied commit must have been
// committed exactly once (the orders model's version guard would hide a replay from the
// rows alone; the projector's transcript does not).
//
// The log holds a known history on the Kafka-protocol cluster of this process: several
// aggregates over several partitions and both order-side topics, losers (two commits on
// one version), producer-retry copies, a command id re-sent on a later version, and a
// record that is not a commit; small batches (--max-batch) so a crash lands mid-log.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/lmdb/lmdb.hpp"
#include "eventstore/topics.hpp"
#include "projections/orders_model.hpp"
#include "projections/reviews_model.hpp"
#include "tests/projections/orders_batches.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

using namespace std::chrono_literals;
namespace es = eventstore;
using es::context;
namespace order = domain::order;
namespace payment = domain::payment;
namespace review = domain::review;

constexpr int partitions = 4;
constexpr std::size_t max_batch = 8;  // the logs below make 12 to 20 batches
constexpr domain::timestamp_ms t0 = 1'764'547'200'000;

// ---- the projector's transcript ---------------------------------------------------------

// "orders:2:17" -> next offset 17 of orders partition 2.
using checkpoints = std::map<std::string, std::int64_t>;

struct transcript {
    std::vector<std::string> applied;            // "<ctx> <command id>", in order
    std::map<int, checkpoints> handed;           // batch n -> its checkpoints
    std::map<int, checkpoints> committed;
    std::string crash;                           // "before_write 3"; empty: none
    bool ready = false;
    bool caught_up = false;
    testing::exit_status status;
    std::string stderr_tail;

    static checkpoints parse_checkpoints(std::istringstream& in) {
        checkpoints out;
        for (std::string word; in >> word;) {
            const auto last = word.rfind(':');
            out[word.substr(0, last)] = std::stoll(word.substr(last + 1));
        }
        return out;
    }
    void add(const std::string& line) {
        std::istringstream in(line);
        std::string word;
        in >> word;
        if (word == "READY") {
            ready = true;
        } else if (word == "CAUGHT_UP") {
            caught_up = true;
        } else if (word == "APPLIED") {
            applied.push_back(line.substr(8));
        } else if (word == "HANDED" || word == "COMMITTED") {
            int n = 0;
            in >> n;
            (word == "HANDED" ? handed : committed)[n] = parse_checkpoints(in);
        } else if (word == "CRASH") {
            crash = line.substr(6);
        } else {
            ADD_FAILURE() << "the projector said: " << line;
        }
    }
    // The checkpoints stored after the committed batches, partition by partition.
    [[nodiscard]] checkpoints stored() const {
        checkpoints out;
        for (const auto& [n, cps] : committed) {
            for (const auto& [k, next] : cps) out[k] = next;
        }
        return out;
    }
};

struct model_target {
    std::string model;  // orders | reviews
    std::string location;  // the PostgreSQL URL or the LMDB directory
};

testing::process spawn_projector(const std::string& bootstrap, const model_target& target, const std::string& crash,
                                 const std::filesystem::path& stderr_file) {
    testing::spawn_options options({SHOPSTREAM_TEST_PROJECTOR, "--brokers", bootstrap, "--model", target.model,
                                    target.model == "orders" ? "--postgres" : "--lmdb", target.location,
                                    "--max-batch", std::to_string(max_batch)});
    options.environment = {{"SHOPSTREAM_PROJECTOR_CRASH", crash}};
    options.standard_error = testing::output::to_file(stderr_file);
    auto child = testing::process::spawn(options);
    if (!child) throw std::runtime_error(child.error().message);
    return std::move(*child);
}

std::string tail_of(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    const std::string text = s.str();
    return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
}

// Reads what the projector says until it closes stdout (exits or dies), then reaps it.
transcript read_until_exit(testing::process& child, const std::filesystem::path& stderr_file) {
    transcript t;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) break;
        auto line = child.read_line(left);
        if (!line) break;
        t.add(*line);
    }
    const auto status = child.wait_for(10s);
    t.status = status ? *status : child.kill();
    t.stderr_tail = tail_of(stderr_file);
    return t;
}

transcript run_projector(const std::string& bootstrap, const model_target& target, const std::string& crash,
                         const std::filesystem::path& stderr_file) {
    auto child = spawn_projector(bootstrap, target, crash, stderr_file);
    return read_until_exit(child, stderr_file);
}

// ---- the models' contents -----------------------------------------------------------------

// Every row of every table of the orders model's schema, each table ordered (its rows as
// JSON text; schema_migrations without the time it was applied).
std::string dump_orders(const std::string& url) {
    pqxx::connection c(postgres::database_url::parse(url)->conninfo());
    pqxx::nontransaction q(c);
    std::string out;
    const auto tables = q.exec(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shopstream' ORDER BY table_name");
    EXPECT_EQ(tables.size(), 7U);  // orders, order_lines, payments, checkpoints, heads, identity, migrations
    for (const auto& row : tables) {
        const std::string table = row[0].c_str();
        out += "== " + table + "\n";
        const auto rows = q.exec("SELECT (to_jsonb(t) - 'applied_at')::text AS r FROM shopstream." + q.quote_name(table) +
                                 " t ORDER BY r");
        for (const auto& r : rows) out += std::string(r[0].c_str()) + "\n";
    }
    return out;
}

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

// Every entry of every named database of the reviews model's environment, in key order.
std::string dump_reviews(const std::filesystem::path& dir) {
    auto env = es::lmdb::env::open(dir, {.map_size = std::uint64_t{1} << 30, .max_dbs = 16});
    EXPECT_TRUE(env.has_value()) << env.error().message;
    if (!env) return {};
    auto txn = env->begin_read();
    EXPECT_TRUE(txn.has_value());
    if (!txn) return {};
    // The unnamed database lists the named ones (their values are page numbers: not content).
    std::vector<std::string> names;
    {
        auto main = txn->open_dbi(nullptr);
        EXPECT_TRUE(main.has_value());
        if (!main) return {};
        auto cursor = txn->open_cursor(*main);
        EXPECT_TRUE(cursor.has_value());
        if (!cursor) return {};
        for (auto e = cursor->first(); e && *e; e = cursor->next()) names.emplace_back((*e)->first);
    }
    EXPECT_EQ(names.size(), 7U);  // reviews, four listings, ratings, meta
    std::string out;
    for (const auto& name : names) {
        out += "== " + name + "\n";
        auto dbi = txn->open_dbi(name.c_str());
        EXPECT_TRUE(dbi.has_value()) << name;
        if (!dbi) continue;
        auto cursor = txn->open_cursor(*dbi);
        EXPECT_TRUE(cursor.has_value());
        if (!cursor) continue;
        std::size_t entries = 0;
        for (auto e = cursor->first(); e && *e; e = cursor->next()) {
            out += hex((*e)->first) + " " + hex((*e)->second) + "\n";
            ++entries;
        }
        EXPECT_GT(entries, 0U) << name;
    }
    return out;
}

checkpoints stored_checkpoints(const model_target& target) {
    std::vector<projections::checkpoint> cps;
    if (target.model == "orders") {
        auto m = projections::orders_model::open(*postgres::database_url::parse(target.location));
        EXPECT_TRUE(m.has_value()) << m.error().message;
        if (!m) return {};
        cps = (*m)->load_checkpoints().value();
    } else {
        auto m = projections::reviews_model::open(target.location, {});
        EXPECT_TRUE(m.has_value()) << m.error().message;
        if (!m) return {};
        cps = (*m)->load_checkpoints().value();
    }
    checkpoints out;
    for (const auto& cp : cps) {
        out[std::string(es::name_of(cp.ctx)) + ":" + std::to_string(cp.partition.value())] = cp.next_offset.value();
    }
    return out;
}

// ---- the logs ------------------------------------------------------------------------------

class log_writer {
public:
    explicit log_writer(testing::test_producer& p) : producer_(p) {}

    template <class Event>
    void commit(context ctx, const std::string& id, std::uint64_t expected, const std::string& command,
                const std::vector<Event>& events) {
        es::commit c{id, expected, command, {}};
        for (const auto& e : events) c.events.push_back(encode(e));
        const auto bytes = es::encode_commit(c);
        raw(ctx, id, std::string(bytes.begin(), bytes.end()));
    }
    void raw(context ctx, const std::string& key, std::string value) {
        ASSERT_TRUE(producer_.produce(es::topic_of(ctx), {key, std::move(value), {}},
                                      testing::java_partition(key, partitions))
                        .has_value());
        ++records_;
    }
    [[nodiscard]] int records() const { return records_; }

private:
    static es::encoded_event encode(const order::event& e) { return es::order_codec::encode(e); }
    static es::encoded_event encode(const payment::event& e) { return es::payment_codec::encode(e); }
    static es::encoded_event encode(const review::event& e) { return es::review_codec::encode(e); }

    testing::test_producer& producer_;
    int records_ = 0;
};

const domain::actor customer{"c-1", domain::role::customer};
const domain::actor admin{"admin-1", domain::role::admin};
const domain::actor saga{"saga", domain::role::system};

// Twelve orders and their payments: placed, confirmed, captured, shipped, cancelled,
// declined, with a loser, a retry copy and a re-sent command id per order.
void write_orders_log(log_writer& w) {
    const auto eur = testing::currency_of("EUR");
    for (int k = 0; k < 12; ++k) {
        const std::string o = "o-crash-" + std::to_string(k);
        const std::string p = "p-" + o;
        const auto at = t0 + k * 1000;
        using oe = std::vector<order::event>;
        using pe = std::vector<payment::event>;
        w.commit(context::orders, o, 0, "place-" + o,
                 oe{testing::placed(o, "c-" + std::to_string(k % 3), at, {{"sku-a", 1 + k % 2, 1250}, {"sku-b", 1, 990}})});
        w.commit(context::orders, o, 0, "place2-" + o, oe{testing::placed(o, "c-9", at)});  // loser
        w.commit(context::payments, p, 0, "request-" + p,
                 pe{payment::payment_requested{domain::payment_id(p), domain::order_id(o), {3490, eur}, "tok", at + 1}});
        if (k % 4 == 3) {
            w.commit(context::payments, p, 1, "decline-" + p, pe{payment::payment_declined{domain::payment_id(p), "no funds", at + 2}});
            w.commit(context::orders, o, 1, "cancel-" + o,
                     oe{order::order_cancelled{domain::order_id(o), order::cancel_reason::payment_declined, saga, at + 3}});
            w.commit(context::orders, o, 1, "cancel-" + o,  // the producer's retry copy
                     oe{order::order_cancelled{domain::order_id(o), order::cancel_reason::payment_declined, saga, at + 3}});
            continue;
        }
        w.commit(context::payments, p, 1, "authorize-" + p, pe{payment::payment_authorized{domain::payment_id(p), "auth", at + 2}});
        w.commit(context::orders, o, 1, "confirm-" + o, oe{order::order_confirmed{domain::order_id(o), domain::payment_id(p), at + 3}});
        w.commit(context::orders, o, 2, "place-" + o, oe{order::order_shipped{domain::order_id(o), admin, at + 4}});  // re-sent id
        w.commit(context::payments, p, 2, "capture-" + p, pe{payment::payment_captured{domain::payment_id(p), {3490, eur}, at + 5}});
        w.commit(context::payments, p, 2, "capture-" + p, pe{payment::payment_captured{domain::payment_id(p), {3490, eur}, at + 5}});
        w.commit(context::orders, o, 2, "captured-" + o,
                 oe{order::order_payment_captured{domain::order_id(o), domain::payment_id(p), {3490, eur}, at + 6},
                    order::order_shipped{domain::order_id(o), admin, at + 7}});
    }
    w.raw(context::orders, "o-crash-0", "not a commit");
    w.raw(context::payments, "p-o-crash-1", "not a commit either");
}

// Ten reviews over three products: submitted, voted on, hidden, retracted, with a loser,
// a retry copy and a re-sent command id per review.
void write_reviews_log(log_writer& w) {
    using re = std::vector<review::event>;
    for (int k = 0; k < 10; ++k) {
        const std::string sku = "sku-" + std::to_string(k % 3);
        const domain::customer_id author("c-" + std::to_string(k));
        const std::string id = review::review_id_for(sku, author).value();
        const domain::review_id rid(id);
        const auto at = t0 + k * 1000;
        w.commit(context::reviews, id, 0, "submit-" + id,
                 re{review::review_submitted{rid, sku, author, static_cast<std::uint8_t>(1 + k % 5), "t", "b", at}});
        w.commit(context::reviews, id, 0, "submit2-" + id, re{review::review_submitted{rid, sku, author, 5, "t", "b", at}});
        for (int v = 0; v < 3; ++v) {
            const std::string voter = "v-" + std::to_string(v);
            w.commit(context::reviews, id, 1 + v, "vote-" + voter + "-" + id,
                     re{review::review_marked_helpful{rid, domain::customer_id(voter), at + 1 + v}});
        }
        w.commit(context::reviews, id, 3, "vote-v-2-" + id,  // the producer's retry copy
                 re{review::review_marked_helpful{rid, domain::customer_id("v-2"), at + 3}});
        w.commit(context::reviews, id, 4, "submit-" + id, re{review::review_edited{rid, 2, "t2", "b2", at + 4}});  // re-sent id
        if (k % 3 == 0) w.commit(context::reviews, id, 4, "hide-" + id, re{review::review_hidden{rid, "spam", admin, at + 5}});
        if (k % 3 == 1) {
            w.commit(context::reviews, id, 4, "retract-" + id,
                     re{review::review_retracted{rid, {author.value(), domain::role::customer}, at + 5}});
        }
        if (k % 3 == 2) w.commit(context::reviews, id, 4, "edit-" + id, re{review::review_edited{rid, 3, "t3", "b3", at + 5}});
    }
    w.raw(context::reviews, review::review_id_for("sku-0", domain::customer_id("c-0")).value(), "not a commit");
}

// ---- the suites ------------------------------------------------------------------------------

// One log and one clean run per model, shared by the suite's crash cases.
struct shared_log {
    std::optional<testing::test_kafka> kafka;
    std::unique_ptr<testing::temp_dir> dir;
    std::string clean;               // the clean run's dump
    std::vector<std::string> applied;  // the clean run's applied commits
    std::string error;
};

class projector_crash : public ::testing::Test {
protected:
    // "orders" or "reviews".
    [[nodiscard]] virtual std::string model() const = 0;
    [[nodiscard]] virtual shared_log& log() const = 0;

    void SetUp() override {
        auto& l = log();
        if (!l.kafka && l.error.empty()) build(l);
        ASSERT_EQ(l.error, "");
    }

    model_target fresh_target(const std::string& name) const {
        if (model() == "orders") return {"orders", testing::shared_postgres().connection_string(testing::shared_postgres().create_database())};
        return {"reviews", (log().dir->path() / name).string()};
    }
    std::string dump(const model_target& t) const {
        return t.model == "orders" ? dump_orders(t.location) : dump_reviews(t.location);
    }
    std::filesystem::path stderr_file(const std::string& name) const { return log().dir->path() / (name + ".stderr"); }
    const std::string& bootstrap() const { return log().kafka->bootstrap(); }

    // Runs to a crash at `point`, checks it happened there and what the model stored
    // then; restarts to the end; checks the model and what was applied across both runs.
    void crash_and_restart(const std::string& point, int batch) {
        const std::string name = point + "-" + std::to_string(batch);
        const auto target = fresh_target(name);
        const auto crashed = run_projector(bootstrap(), target, point + ":" + std::to_string(batch), stderr_file(name + "-1"));
        expect_killed_at(crashed, point, batch);
        if (point == "before_write") {
            // Batch n was handed over, not committed: the model holds batch n-1's checkpoints.
            ASSERT_EQ(crashed.committed.size(), static_cast<std::size_t>(batch - 1));
            ASSERT_TRUE(crashed.handed.contains(batch));
            const auto stored = stored_checkpoints(target);
            EXPECT_EQ(stored, crashed.stored());
            for (const auto& [k, next] : crashed.handed.at(batch)) {
                EXPECT_LT(stored.contains(k) ? stored.at(k) : 0, next) << k << ": batch " << batch << " was stored";
            }
        } else {
            ASSERT_EQ(crashed.committed.size(), static_cast<std::size_t>(batch));
            EXPECT_EQ(stored_checkpoints(target), crashed.stored());
        }
        finish_and_compare(target, name, {crashed});
    }

    void expect_killed_at(const transcript& t, const std::string& point, int batch) const {
        ASSERT_TRUE(t.ready) << t.stderr_tail;
        EXPECT_EQ(t.crash, point + " " + std::to_string(batch)) << t.stderr_tail;
        EXPECT_TRUE(t.status.signaled && t.status.signal == SIGKILL) << t.status.describe() << "\n" << t.stderr_tail;
        EXPECT_FALSE(t.caught_up);
    }

    // Restarts without a crash, then: the model equals the clean one, and every commit the
    // clean run applied was committed once across `before` and the restart, in log order.
    void finish_and_compare(const model_target& target, const std::string& name, std::vector<transcript> before) {
        const auto rest = run_projector(bootstrap(), target, "", stderr_file(name + "-2"));
        ASSERT_TRUE(rest.caught_up) << rest.status.describe() << "\n" << rest.stderr_tail;
        EXPECT_TRUE(rest.status.success()) << rest.status.describe();
        EXPECT_TRUE(rest.crash.empty());
        EXPECT_EQ(dump(target), log().clean);
        std::vector<std::string> applied;
        for (const auto& t : before) applied.insert(applied.end(), t.applied.begin(), t.applied.end());
        applied.insert(applied.end(), rest.applied.begin(), rest.applied.end());
        EXPECT_EQ(applied.size(), log().applied.size());
        EXPECT_EQ(sorted(applied), sorted(log().applied));  // none twice, none missing
        std::map<std::string, std::size_t> seen;
        for (const auto& a : applied) EXPECT_EQ(++seen[a], 1U) << a << " was committed twice";
    }

    static std::vector<std::string> sorted(std::vector<std::string> v) {
        std::sort(v.begin(), v.end());
        return v;
    }

private:
    void build(shared_log& l) const {
        auto k = testing::test_kafka::start_with_event_topics(partitions);
        if (!k) {
            l.error = k.error();
            return;
        }
        l.kafka.emplace(std::move(*k));
        l.dir = std::make_unique<testing::temp_dir>("projector-crash");
        auto producer = testing::test_producer::create(testing::producer_config(l.kafka->bootstrap()));
        if (!producer) {
            l.error = producer.error();
            return;
        }
        log_writer w(*producer);
        if (model() == "orders") {
            write_orders_log(w);
        } else {
            write_reviews_log(w);
        }
        if (auto flushed = producer->flush(); !flushed) {
            l.error = flushed.error();
            return;
        }
        const auto target = fresh_target("clean");
        const auto clean = run_projector(l.kafka->bootstrap(), target, "", stderr_file("clean"));
        if (!clean.caught_up || !clean.status.success()) {
            l.error = "the clean run: " + clean.status.describe() + "\n" + clean.stderr_tail;
            return;
        }
        // Enough batches that a crash at 3 or 4 lands mid-log.
        if (clean.committed.size() < 8) l.error = "the clean run wrote only " + std::to_string(clean.committed.size()) + " batches";
        l.clean = dump(target);
        l.applied = clean.applied;
    }
};

class orders_projector_crash : public projector_crash {
protected:
    std::string model() const override { return "orders"; }
    shared_log& log() const override {
        static shared_log l;
        return l;
    }
};

class reviews_projector_crash : public projector_crash {
protected:
    std::string model() const override { return "reviews"; }
    shared_log& log() const override {
        static shared_log l;
        return l;
    }
};

TEST_F(orders_projector_crash, the_clean_run_projects_the_whole_history) {
    // What the crash cases compare against, checked against the log itself: 12 orders
    // (3 declined and cancelled), their payments, every loser and duplicate left out.
    EXPECT_EQ(log().applied.size(), 12U * 2 + 3 * 2 + 9 * 4);
    EXPECT_NE(log().clean.find("\"status\": \"shipped\""), std::string::npos);
    EXPECT_NE(log().clean.find("\"cancel_reason\": \"payment_declined\""), std::string::npos);
    EXPECT_EQ(log().clean.find("c-9"), std::string::npos) << "a loser was applied";
}

TEST_F(orders_projector_crash, killed_mid_batch_before_the_models_commit) { crash_and_restart("before_write", 3); }

TEST_F(orders_projector_crash, killed_right_after_the_models_commit_returned) { crash_and_restart("after_write", 4); }

TEST_F(orders_projector_crash, killed_inside_the_models_postgresql_transaction) {
    // Three batches committed, then the fourth blocked inside its transaction - rows,
    // lines, payments and heads written - at the checkpoint upsert, which waits for the
    // table lock the test holds; the projector dies there.
    const auto target = fresh_target("in-transaction");
    const auto first = run_projector(bootstrap(), target, "after_write:3", stderr_file("in-transaction-1"));
    expect_killed_at(first, "after_write", 3);
    const auto before = stored_checkpoints(target);
    ASSERT_EQ(before, first.stored());

    pqxx::connection locker(postgres::database_url::parse(target.location)->conninfo());
    pqxx::work lock(locker);
    const int locker_pid = lock.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    lock.exec("LOCK TABLE shopstream.projection_checkpoints IN SHARE MODE");  // blocks writers, not readers
    auto child = spawn_projector(bootstrap(), target, "", stderr_file("in-transaction-2"));
    pqxx::connection watcher(postgres::database_url::parse(target.location)->conninfo());
    const auto blocked = [&] {
        pqxx::nontransaction q(watcher);
        return q.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = "
                      "'Lock' AND query LIKE '%projection_checkpoints%' AND pid <> pg_backend_pid()")[0][0]
                   .as<int>() == 1;
    };
    ASSERT_TRUE(testing::eventually(blocked, 20s)) << tail_of(stderr_file("in-transaction-2"));
    {
        // Its transaction has written the batch's rows by now (orders, lines, payments and
        // heads come before the checkpoints), so the lock alone holds it.
        pqxx::nontransaction q(watcher);
        EXPECT_GE(q.exec("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.wait_event_type = "
                         "'Lock' AND l.granted AND l.mode = 'RowExclusiveLock' AND l.relation IN "
                         "('shopstream.orders'::regclass, 'shopstream.payments'::regclass, "
                         "'shopstream.aggregate_heads'::regclass)")[0][0]
                      .as<int>(),
                  1);
    }
    ASSERT_TRUE(child.send_signal(SIGKILL).has_value());
    auto second = read_until_exit(child, stderr_file("in-transaction-2"));
    EXPECT_TRUE(second.status.signaled && second.status.signal == SIGKILL) << second.status.describe();
    EXPECT_EQ(second.handed.size(), 1U);
    EXPECT_TRUE(second.committed.empty());
    lock.commit();  // the dead client's backend now runs its upsert, then finds no COMMIT coming
    EXPECT_TRUE(testing::eventually(
        [&] {
            pqxx::nontransaction q(watcher);
            return q.exec_params("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                                 "pg_backend_pid() AND pid <> $1",
                                 locker_pid)[0][0]
                       .as<int>() == 0;
        },
        10s));
    EXPECT_EQ(stored_checkpoints(target), before);
    finish_and_compare(target, "in-transaction", {first, second});
}

TEST_F(reviews_projector_crash, the_clean_run_projects_the_whole_history) {
    // 10 reviews: submitted, three votes, then hidden, retracted or edited.
    EXPECT_EQ(log().applied.size(), 10U * 5);
    EXPECT_FALSE(log().clean.empty());
}

TEST_F(reviews_projector_crash, killed_mid_batch_before_the_models_commit) { crash_and_restart("before_write", 3); }

TEST_F(reviews_projector_crash, killed_right_after_the_models_commit_returned) { crash_and_restart("after_write", 4); }

}  // namespace
}  // namespace shopstream
