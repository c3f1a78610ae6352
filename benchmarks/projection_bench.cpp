// Projection throughput, query latency under projection load, and freshness (issue 11,
// "Performance"), for both read models, each against ceilings measured on the same
// PostgreSQL, LMDB and Kafka-protocol cluster in the same run:
//
//   consume ceiling   a bare consumer reading the same records from the log, counting them;
//   model ceiling     orders: the rows each batch writes (orders, lines, heads,
//                     checkpoints) by the cheapest batched statements written by hand -
//                     COPY into temporary staging tables, then one INSERT ... ON CONFLICT
//                     per table - nothing read first, one transaction per batch;
//                     reviews: per commit as many raw LMDB puts into the same named
//                     databases as the model makes (four listings, the summary, the
//                     review, its head), keys and values of the model's average sizes in
//                     each database (measured on the model's environment), one write
//                     transaction per batch, nothing read or decoded;
//   model alone       read_model::write_batch over the same commits as the runtime would
//                     hand them, fed from memory (already judged and decoded);
//   runtime           projections::runtime reading the log into a fresh model until it
//                     has applied every partition, while a reader thread runs the model's
//                     most common query (a product's first page of reviews; a customer's
//                     order list) about 1 000 times a second: that query's p50/p99 under
//                     the load (calls that found nothing yet not counted), and again once
//                     the projection is idle, back to back for 2 s;
//   freshness         with the runtime idle at the end of the log, one commit at a time:
//                     the time from the producer's acknowledgement (flush returned) to
//                     the runtime having committed it into the model (its position
//                     callback; the effect is then checked with a query, untimed).
//
// The log: N events (default 1 000 000), one event per commit, written before anything is
// measured, on librdkafka's mock cluster in this process (at most 5 MiB per partition:
// with the default 64 partitions that is ample; the program stops if the log lost its
// start). reviews.events: N/10 reviews over N/500 products, each submitted then voted
// helpful 9 times; orders.events: N/4 orders of N/40 customers, each placed (two lines),
// confirmed, payment captured and shipped. Commits are written phase by phase over all
// aggregates, so a batch touches as many aggregates as it has commits (the model loads
// and writes a head and a row for each).
//
//   build/release/benchmarks/projection_bench [--events N] [--batch B] [--partitions P]
//       [--models orders,reviews] [--freshness K] [--postgres URL]
//
// Without --postgres it starts a throwaway local PostgreSQL 15 (fsync on, as in
// production); LMDB lives in a temporary directory (durability synced, as serve's).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "adapters/postgres/local_cluster.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/log_reader.hpp"
#include "eventstore/lmdb/lmdb.hpp"
#include "eventstore/topics.hpp"
#include "postgres/client.hpp"
#include "projections/orders_model.hpp"
#include "projections/orders_schema.hpp"
#include "projections/reviews_model.hpp"
#include "projections/runtime.hpp"
#include "queries/orders.hpp"
#include "queries/reviews.hpp"

namespace {

using namespace shopstream;
using namespace std::chrono_literals;
namespace es = eventstore;
namespace order = domain::order;
namespace review = domain::review;
using es::context;
using clock_type = std::chrono::steady_clock;

struct options {
    std::int64_t events = 1'000'000;
    std::size_t batch = 5'000;
    int partitions = 64;
    bool orders = true;
    bool reviews = true;
    int freshness = 200;
    std::string postgres;
};

constexpr std::int64_t t0_ms = 1'764'547'200'000;

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "projection_bench: %s\n", what.c_str());
    std::exit(1);
}
template <class R>
auto value_or_die(R r, const char* what) {
    if (!r) die(std::string(what) + ": " + r.error().message);
    return std::move(*r);
}

struct percentiles {
    double p50_ms = 0, p99_ms = 0;
    std::size_t samples = 0;
};
percentiles percentiles_of(std::vector<double> us) {
    if (us.empty()) return {};
    std::sort(us.begin(), us.end());
    const auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<std::size_t>(q * static_cast<double>(us.size())))] / 1000.0; };
    return {at(0.50), at(0.99), us.size()};
}

// ---- the log ------------------------------------------------------------------------------

// One commit of one event: what the log holds and what the model is handed.
struct planned {
    std::string key;
    std::uint64_t expected = 0;
    std::string command_id;
    projections::any_event event;
};

std::uint32_t fnv(std::string_view s) {
    std::uint32_t h = 2166136261U;
    for (const unsigned char c : s) h = (h ^ c) * 16777619U;
    return h;
}

// Phase-major: every aggregate's first commit, then every aggregate's second, ...
std::vector<planned> reviews_plan(std::int64_t n) {
    const std::int64_t reviews = std::max<std::int64_t>(1, n / 10);
    const std::int64_t products = std::max<std::int64_t>(1, reviews / 50);
    std::vector<planned> out;
    out.reserve(static_cast<std::size_t>(n));
    for (std::int64_t phase = 0; static_cast<std::int64_t>(out.size()) < n; ++phase) {
        for (std::int64_t r = 0; r < reviews && static_cast<std::int64_t>(out.size()) < n; ++r) {
            const std::string sku = "sku-" + std::to_string(r % products);
            const domain::customer_id author("c-" + std::to_string(r));
            const auto id = review::review_id_for(sku, author);
            const auto at = t0_ms + r * 10 + phase;
            if (phase == 0) {
                out.push_back({id.value(), 0, "submit-" + id.value(),
                               review::event{review::review_submitted{id, sku, author, static_cast<std::uint8_t>(1 + r % 5),
                                                                      "A title of some length", "A body of a review, a sentence or two long, as most are.", at}}});
            } else {
                const std::string voter = "v-" + std::to_string(phase);
                out.push_back({id.value(), static_cast<std::uint64_t>(phase), "vote-" + voter + "-" + id.value(),
                               review::event{review::review_marked_helpful{id, domain::customer_id(voter), at}}});
            }
        }
    }
    return out;
}

// --events must be a multiple of 4 here: each order has its four commits.
std::vector<planned> orders_plan(std::int64_t n) {
    const std::int64_t orders = n / 4;
    const std::int64_t customers = std::max<std::int64_t>(1, orders / 10);
    const auto eur = *domain::currency::parse("EUR");
    std::vector<planned> out;
    out.reserve(static_cast<std::size_t>(n));
    for (int phase = 0; phase < 4; ++phase) {
        for (std::int64_t k = 0; k < orders; ++k) {
            const std::string id = "o-" + std::to_string(k);
            const domain::order_id oid(id);
            const domain::payment_id pid("p-" + id);
            const auto at = t0_ms + k * 10 + phase;
            order::event e;
            switch (phase) {
                case 0:
                    e = order::order_placed{oid, domain::customer_id("c-" + std::to_string(k % customers)),
                                            {{"sku-a", 2, 1250}, {"sku-b", 1, 990}}, eur, 3490, at, "tok_visa"};
                    break;
                case 1: e = order::order_confirmed{oid, pid, at}; break;
                case 2: e = order::order_payment_captured{oid, pid, {3490, eur}, at}; break;
                default: e = order::order_shipped{oid, {"admin-1", domain::role::admin}, at}; break;
            }
            out.push_back({id, static_cast<std::uint64_t>(phase), "cmd-" + std::to_string(phase) + "-" + id, e});
        }
    }
    return out;
}

// Enqueues one record (copied) for `partition`; RD_KAFKA_RESP_ERR__QUEUE_FULL when the
// local queue is full.
rd_kafka_resp_err_t enqueue(rd_kafka_t* producer, const std::string& topic, std::int32_t partition,
                            const std::string& key, const std::vector<std::uint8_t>& value) {
    std::array<rd_kafka_vu_t, 5> vus{};
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[1].u.i32 = partition;
    vus[2].vtype = RD_KAFKA_VTYPE_KEY;
    vus[2].u.mem = {const_cast<char*>(key.data()), key.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[3].u.mem = {const_cast<std::uint8_t*>(value.data()), value.size()};
    vus[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[4].u.i = RD_KAFKA_MSG_F_COPY;
    rd_kafka_error_t* refused = rd_kafka_produceva(producer, vus.data(), vus.size());
    if (refused == nullptr) return RD_KAFKA_RESP_ERR_NO_ERROR;
    const auto code = rd_kafka_error_code(refused);
    rd_kafka_error_destroy(refused);
    return code;
}

std::int32_t partition_of(const std::string& key, int partitions) {
    return static_cast<std::int32_t>(fnv(key) % static_cast<std::uint32_t>(partitions));
}

es::encoded_event encode(const projections::any_event& e) {
    if (const auto* o = std::get_if<order::event>(&e)) return es::order_codec::encode(*o);
    return es::review_codec::encode(std::get<review::event>(e));
}

void produce_log(const std::string& bootstrap, context ctx, const std::vector<planned>& plan, int partitions) {
    auto conf = value_or_die(es::kafka::make_conf({{"bootstrap.servers", bootstrap},
                                                   {"enable.idempotence", "true"},
                                                   {"acks", "all"},
                                                   {"linger.ms", "20"},
                                                   {"batch.num.messages", "10000"},
                                                   {"queue.buffering.max.messages", "2000000"},
                                                   {"queue.buffering.max.kbytes", "2000000"},
                                                   {"log_level", "3"}}),
                             "producer settings");
    auto producer = value_or_die(es::kafka::make_client(RD_KAFKA_PRODUCER, std::move(conf)), "producer");
    const std::string topic(es::topic_of(ctx));
    for (const auto& p : plan) {
        es::commit c{p.key, p.expected, p.command_id, {encode(p.event)}};
        const auto bytes = es::encode_commit(c);
        for (;;) {
            const auto err = enqueue(producer.get(), topic, partition_of(p.key, partitions), p.key, bytes);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(std::string("produce: ") + rd_kafka_err2str(err));
            rd_kafka_poll(producer.get(), 10);
        }
        rd_kafka_poll(producer.get(), 0);
    }
    if (rd_kafka_flush(producer.get(), 300'000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("flush of the log timed out");
}

// Where each commit lands: (partition, offset), as the producer above put it.
std::vector<es::position> positions_of(const std::vector<planned>& plan, int partitions) {
    std::vector<std::int64_t> next(static_cast<std::size_t>(partitions), 0);
    std::vector<es::position> out;
    out.reserve(plan.size());
    for (const auto& p : plan) {
        const auto part = partition_of(p.key, partitions);
        out.push_back({es::partition_id(part), es::log_offset(next[static_cast<std::size_t>(part)]++)});
    }
    return out;
}

// The batches the runtime hands the model for this plan: judged (every commit applies),
// decoded, with heads and one checkpoint per partition covered.
std::vector<projections::batch> batches_of(context ctx, const std::vector<planned>& plan, int partitions,
                                           std::size_t size) {
    const auto at = positions_of(plan, partitions);
    std::unordered_map<std::string, es::aggregate_head> heads;
    std::vector<projections::batch> out;
    for (std::size_t begin = 0; begin < plan.size(); begin += size) {
        projections::batch b;
        std::map<std::int32_t, std::int64_t> covered;
        std::vector<std::string> touched;
        for (std::size_t i = begin; i < std::min(plan.size(), begin + size); ++i) {
            projections::applied_commit c;
            c.ctx = ctx;
            c.at = at[i];
            c.timestamp_ms = t0_ms;
            c.aggregate_id = plan[i].key;
            c.command_id = plan[i].command_id;
            auto& head = heads[plan[i].key];
            c.first_version = head.version + 1;
            c.events.push_back(plan[i].event);
            (void)es::record_applied(head, c.command_id, 1, c.at);
            touched.push_back(plan[i].key);
            covered[at[i].partition.value()] = at[i].offset.value() + 1;
            b.commits.push_back(std::move(c));
        }
        std::sort(touched.begin(), touched.end());
        touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
        for (auto& id : touched) b.heads.push_back({ctx, id, heads[id]});
        for (const auto& [p, next] : covered) b.checkpoints.push_back({ctx, es::partition_id(p), es::log_offset(next)});
        out.push_back(std::move(b));
    }
    return out;
}

// A bare consumer reading every partition of `ctx` from 0 to its end: records/s.
double consume_ceiling(const std::string& bootstrap, context ctx, int partitions, std::int64_t expected) {
    auto settings = es::kafka::reader_settings(bootstrap, "bench-consume", es::embedded_fetch_wait, {});
    auto consumer = value_or_die(es::kafka::make_client(RD_KAFKA_CONSUMER, value_or_die(es::kafka::make_conf(settings), "consumer settings")), "consumer");
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    const std::string topic(es::topic_of(ctx));
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = 0;
    const auto t = clock_type::now();
    rd_kafka_assign(consumer.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    std::int64_t records = 0;
    int ended = 0;
    while (ended < partitions) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 100);
        if (m == nullptr) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            ++ended;
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ++records;
        }
        rd_kafka_message_destroy(m);
    }
    const double s = seconds_since(t);
    rd_kafka_consumer_close(consumer.get());
    if (records != expected) die("the consume ceiling read " + std::to_string(records) + " records, not " + std::to_string(expected));
    return static_cast<double>(records) / s;
}

double run_model(projections::read_model& model, const std::vector<projections::batch>& batches) {
    const auto t = clock_type::now();
    for (const auto& b : batches) {
        auto written = model.write_batch(b);
        if (!written) die("write_batch: " + written.error().message);
        if (!written->empty()) die("write_batch refused: " + written->front().reason);
    }
    return seconds_since(t);
}

// ---- ceilings ---------------------------------------------------------------------------------

std::string recent_json(const es::aggregate_head& h) {
    std::string out = "[";
    for (const auto& rc : h.recent_commands) {
        if (out.size() > 1) out += ',';
        out += "[\"" + rc.command_id + "\"," + std::to_string(rc.version) + "," + std::to_string(rc.at.partition.value()) +
               "," + std::to_string(rc.at.offset.value()) + "]";
    }
    return out + "]";
}

// COPY into staging tables + one INSERT ... ON CONFLICT per table, per batch.
double orders_ceiling(pqxx::connection& c, const std::vector<projections::batch>& batches) {
    const std::string s = "bench_ceiling";
    {
        pqxx::nontransaction q(c);
        q.exec("CREATE TEMP TABLE st_orders (id text, customer text, status text, total bigint, currency text, payment_id "
               "text, captured boolean, version bigint, placed_ms bigint, updated_ms bigint) ON COMMIT DELETE ROWS");
        q.exec("CREATE TEMP TABLE st_lines (order_id text, line_no int, sku text, quantity int, unit_price bigint) ON COMMIT "
               "DELETE ROWS");
        q.exec("CREATE TEMP TABLE st_heads (context text, aggregate_id text, version bigint, recent text) ON COMMIT DELETE ROWS");
        q.exec("CREATE TEMP TABLE st_checkpoints (context text, partition int, next_offset bigint) ON COMMIT DELETE ROWS");
    }
    const std::string upsert_orders =
        "INSERT INTO " + s + ".orders AS o (id, customer, status, total, currency, payment_id, payment_captured, version, "
        "placed_at, updated_at) SELECT id, customer, status, total, currency, payment_id, captured, version, timestamptz "
        "'epoch' + placed_ms * interval '1 millisecond', timestamptz 'epoch' + updated_ms * interval '1 millisecond' FROM "
        "st_orders ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, payment_id = EXCLUDED.payment_id, "
        "payment_captured = EXCLUDED.payment_captured, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at WHERE "
        "o.version < EXCLUDED.version";
    const std::string insert_lines = "INSERT INTO " + s + ".order_lines SELECT * FROM st_lines ON CONFLICT DO NOTHING";
    const std::string upsert_heads = "INSERT INTO " + s + ".aggregate_heads AS h SELECT context, aggregate_id, version, "
                                     "recent::jsonb FROM st_heads ON CONFLICT (context, aggregate_id) DO UPDATE SET version "
                                     "= EXCLUDED.version, recent_commands = EXCLUDED.recent_commands WHERE h.version < "
                                     "EXCLUDED.version";
    const std::string upsert_checkpoints = "INSERT INTO " + s + ".projection_checkpoints AS k SELECT 'orders', context, "
                                           "partition, next_offset FROM st_checkpoints ON CONFLICT (model, context, "
                                           "partition) DO UPDATE SET next_offset = EXCLUDED.next_offset";
    const auto t = clock_type::now();
    for (const auto& b : batches) {
        pqxx::work txn(c);
        {
            // One row per order: its last commit in the batch (an upsert may touch a row once).
            std::unordered_map<std::string_view, const projections::applied_commit*> last;
            for (const auto& commit : b.commits) last[commit.aggregate_id] = &commit;
            pqxx::stream_to rows(txn, "st_orders");
            for (const auto& [id, latest] : last) {
                const auto& commit = *latest;
                const auto& e = std::get<order::event>(commit.events[0]);
                const auto* placed = std::get_if<order::order_placed>(&e);
                const char* status = placed != nullptr                                      ? "pending"
                                     : std::holds_alternative<order::order_shipped>(e) ? "shipped"
                                                                                          : "confirmed";
                rows << std::make_tuple(commit.aggregate_id, placed != nullptr ? placed->customer.value() : std::string("c"),
                                        std::string(status), std::int64_t{3490}, std::string("EUR"), "p-" + commit.aggregate_id,
                                        std::holds_alternative<order::order_payment_captured>(e),
                                        static_cast<std::int64_t>(commit.first_version), t0_ms, t0_ms);
            }
            rows.complete();
        }
        bool lines = false;
        {
            pqxx::stream_to rows(txn, "st_lines");
            for (const auto& commit : b.commits) {
                const auto* placed = std::get_if<order::order_placed>(&std::get<order::event>(commit.events[0]));
                if (placed == nullptr) continue;
                lines = true;
                for (std::size_t i = 0; i < placed->lines.size(); ++i) {
                    rows << std::make_tuple(commit.aggregate_id, static_cast<int>(i), placed->lines[i].sku,
                                            placed->lines[i].quantity, placed->lines[i].unit_price);
                }
            }
            rows.complete();
        }
        {
            pqxx::stream_to rows(txn, "st_heads");
            for (const auto& h : b.heads) {
                rows << std::make_tuple(std::string("orders"), h.aggregate_id, static_cast<std::int64_t>(h.head.version),
                                        recent_json(h.head));
            }
            rows.complete();
        }
        {
            pqxx::stream_to rows(txn, "st_checkpoints");
            for (const auto& k : b.checkpoints) {
                rows << std::make_tuple(std::string("orders"), k.partition.value(), k.next_offset.value());
            }
            rows.complete();
        }
        txn.exec(upsert_orders);
        if (lines) txn.exec(insert_lines);
        txn.exec(upsert_heads);
        txn.exec(upsert_checkpoints);
        txn.commit();
    }
    return seconds_since(t);
}

struct db_sizes {
    std::size_t key = 0, value = 0;
};

// Average key and value sizes in each named database of an environment.
std::map<std::string, db_sizes> average_sizes(const std::filesystem::path& dir) {
    auto env = value_or_die(es::lmdb::env::open(dir, {.map_size = std::uint64_t{1} << 34, .max_dbs = 16}), "lmdb");
    auto t = value_or_die(env.begin_read(), "lmdb read");
    std::vector<std::string> names;
    {
        auto cursor = value_or_die(t.open_cursor(value_or_die(t.open_dbi(nullptr), "main db")), "cursor");
        for (auto e = cursor.first(); e && *e; e = cursor.next()) names.emplace_back((*e)->first);
    }
    std::map<std::string, db_sizes> out;
    for (const auto& name : names) {
        auto cursor = value_or_die(t.open_cursor(value_or_die(t.open_dbi(name.c_str()), "db")), "cursor");
        std::size_t n = 0, k = 0, v = 0;
        for (auto e = cursor.first(); e && *e; e = cursor.next()) {
            ++n;
            k += (*e)->first.size();
            v += (*e)->second.size();
        }
        if (n > 0) out[name] = {k / n, v / n};
    }
    return out;
}

// Per commit the puts the model makes, of its sizes: four listings, the product's summary,
// the review, the review's head; per batch its checkpoints.
double reviews_ceiling(const std::filesystem::path& dir, const std::map<std::string, db_sizes>& sizes,
                       const std::vector<projections::batch>& batches) {
    auto env = value_or_die(es::lmdb::env::open(dir, {.map_size = std::uint64_t{1} << 34, .max_dbs = 16}), "lmdb");
    std::vector<std::pair<MDB_dbi, db_sizes>> per_commit;
    MDB_dbi meta = 0;
    db_sizes checkpoint_sizes{};
    {
        auto t = value_or_die(env.begin_write(), "lmdb write");
        for (const char* name : {"by_recent", "by_helpful", "by_rating", "by_customer", "ratings", "reviews", "meta"}) {
            const auto found = sizes.find(name);
            if (found == sizes.end()) die(std::string("the reviews model has no database ") + name);
            const MDB_dbi dbi = value_or_die(t.open_dbi(name), "open db");
            per_commit.push_back({dbi, found->second});
            if (std::string_view(name) == "meta") {
                meta = dbi;
                checkpoint_sizes = {16, 8};
            }
        }
        if (auto c = t.commit(); !c) die("lmdb commit");
    }
    std::string key, value(4096, 'v');
    const auto t = clock_type::now();
    for (const auto& b : batches) {
        auto txn = value_or_die(env.begin_write(), "lmdb write");
        for (const auto& c : b.commits) {
            for (const auto& [dbi, s] : per_commit) {
                key.assign(c.aggregate_id, 0, std::min(c.aggregate_id.size(), s.key));
                key.resize(s.key, '_');
                if (auto p = txn.put(dbi, key, std::string_view(value).substr(0, std::min(s.value, value.size()))); !p) die("put");
            }
        }
        for (const auto& k : b.checkpoints) {
            key = "checkpoint/" + std::to_string(k.partition.value());
            key.resize(checkpoint_sizes.key, '_');
            if (auto p = txn.put(meta, key, std::string_view(value).substr(0, checkpoint_sizes.value)); !p) die("put");
        }
        if (auto c = txn.commit(); !c) die("lmdb commit: " + c.error().message);
    }
    return seconds_since(t);
}

// ---- the runtime, queries, freshness ----------------------------------------------------------

// Set by one_by_one's delivery report: where the commit it appended landed.
std::optional<es::position> last_appended;

// Runs `query` in a loop on another thread until stopped: the latencies in µs of the
// calls that found something (an empty page early in the projection is not the query
// under load, it is a model with nothing in it yet).
class query_load {
public:
    template <class F>
    explicit query_load(F query)
        : thread_([this, query]() mutable {
              while (!stop_.load()) {
                  const auto t = clock_type::now();
                  if (query()) us_.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t).count());
                  // Paced, about 1 000 queries/s: a reader, not a second core's worth of
                  // work taken from the projection on a small machine.
                  std::this_thread::sleep_until(t + 1ms);
              }
          }) {}
    std::vector<double> finish() {
        stop_ = true;
        thread_.join();
        return std::move(us_);
    }

private:
    std::atomic<bool> stop_{false};
    std::vector<double> us_;
    std::thread thread_;
};

struct runtime_figures {
    double events_per_s = 0;
    double mean_batch = 0;  // records per batch the runtime wrote
    percentiles loaded, idle, fresh;
};

template <class Query>
runtime_figures run_runtime(const std::string& bootstrap, projections::read_model& model, context ctx,
                            const std::vector<es::position>& last_per_partition, std::size_t batch, std::int64_t events,
                            Query query, const std::function<void(int)>& append_one, int freshness) {
    projections::runtime_options o;
    o.bootstrap_servers = bootstrap;
    o.max_batch = batch;
    o.fetch_wait = es::embedded_fetch_wait;
    const auto t = clock_type::now();
    auto r = value_or_die(projections::runtime::start(o, model), "runtime");
    query_load load(query);
    for (const auto& p : last_per_partition) {
        if (auto w = r->wait_for_position(ctx, p, es::clock::now() + 600s); !w) {
            die("the runtime did not apply " + es::to_string(p) + ": " + w.error().message + " / " + r->failure().value_or(""));
        }
    }
    runtime_figures f;
    f.events_per_s = static_cast<double>(events) / seconds_since(t);
    const auto stats = r->stats();
    f.mean_batch = stats.batches > 0 ? static_cast<double>(stats.records) / static_cast<double>(stats.batches) : 0;
    f.loaded = percentiles_of(load.finish());
    {
        std::vector<double> idle;
        const auto until = clock_type::now() + 2s;
        while (clock_type::now() < until) {
            const auto q = clock_type::now();
            if (query()) idle.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - q).count());
        }
        f.idle = percentiles_of(std::move(idle));
    }
    std::vector<double> fresh;
    for (int i = 0; i < freshness; ++i) {
        append_one(i);  // produces and waits for the acknowledgement; sets last_appended
        const auto acked = clock_type::now();
        if (auto w = r->wait_for_position(ctx, *last_appended, es::clock::now() + 10s); !w) {
            die("freshness: " + w.error().message);
        }
        fresh.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - acked).count());
    }
    f.fresh = percentiles_of(std::move(fresh));
    return f;
}

// A producer that appends one commit and waits for its acknowledgement.
class one_by_one {
public:
    explicit one_by_one(const std::string& bootstrap) {
        auto conf = value_or_die(es::kafka::make_conf({{"bootstrap.servers", bootstrap},
                                                       {"enable.idempotence", "true"},
                                                       {"acks", "all"},
                                                       {"linger.ms", "0"},
                                                       {"socket.nagle.disable", "true"},
                                                       {"log_level", "3"}}),
                                 "producer settings");
        rd_kafka_conf_set_dr_msg_cb(conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void*) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) last_appended = es::position{es::partition_id(m->partition), es::log_offset(m->offset)};
        });
        producer_ = value_or_die(es::kafka::make_client(RD_KAFKA_PRODUCER, std::move(conf)), "producer");
    }
    void append(context ctx, const planned& p, int partitions) {
        es::commit c{p.key, p.expected, p.command_id, {encode(p.event)}};
        const auto bytes = es::encode_commit(c);
        const std::string topic(es::topic_of(ctx));
        last_appended.reset();
        const auto err = enqueue(producer_.get(), topic, partition_of(p.key, partitions), p.key, bytes);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("produce: ") + rd_kafka_err2str(err));
        if (rd_kafka_flush(producer_.get(), 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR || !last_appended) die("append not acknowledged");
    }

private:
    es::kafka::handle producer_;
};

std::vector<es::position> last_per_partition(const std::vector<planned>& plan, int partitions) {
    std::map<std::int32_t, es::position> last;
    for (const auto& p : positions_of(plan, partitions)) last[p.partition.value()] = p;
    std::vector<es::position> out;
    for (const auto& [_, p] : last) out.push_back(p);
    return out;
}

void print_row(const char* model, const char* what, double per_s, double ceiling) {
    if (ceiling > 0) {
        std::printf("  %-8s %-34s %12.0f events/s   %5.2f of the ceiling\n", model, what, per_s, per_s / ceiling);
    } else {
        std::printf("  %-8s %-34s %12.0f events/s\n", model, what, per_s);
    }
}
void print_latency(const char* model, const char* what, const percentiles& p) {
    std::printf("  %-8s %-34s p50 %8.3f ms   p99 %8.3f ms   (%zu samples)\n", model, what, p.p50_ms, p.p99_ms, p.samples);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--events") o.events = std::stoll(value);
        else if (flag == "--batch") o.batch = static_cast<std::size_t>(std::stoul(value));
        else if (flag == "--partitions") o.partitions = std::stoi(value);
        else if (flag == "--freshness") o.freshness = std::stoi(value);
        else if (flag == "--postgres") o.postgres = value;
        else if (flag == "--models") {
            o.orders = value.find("orders") != std::string::npos;
            o.reviews = value.find("reviews") != std::string::npos;
        } else {
            std::fprintf(stderr,
                         "usage: %s [--events N] [--batch B] [--partitions P] [--models orders,reviews] [--freshness K] "
                         "[--postgres URL]\n",
                         argv[0]);
            return 2;
        }
    }
    if (argc % 2 != 1 || o.events < 4 || o.events % 4 != 0 || o.batch == 0 || o.partitions < 1) {
        std::fprintf(stderr, "bad arguments (--events: a multiple of 4, at least 4)\n");
        return 2;
    }
    spdlog::set_level(spdlog::level::warn);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each figure as soon as it is measured, also into a file

    std::string pattern = (std::filesystem::temp_directory_path() / "projection-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp");
    const std::filesystem::path temp = pattern;
    // The local PostgreSQL runs as `nobody` when this runs as root: it must enter the directory.
    std::filesystem::permissions(temp, std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
    std::unique_ptr<adapters::postgres::local_cluster> pg;
    if (o.orders && o.postgres.empty()) {
        adapters::postgres::local_cluster_options pg_options;
        pg_options.directory = temp / "postgres";
        pg = value_or_die(adapters::postgres::local_cluster::start(pg_options), "local PostgreSQL");
        if (auto db = pg->ensure_database("bench"); !db) die("create database");
        o.postgres = pg->url("bench");
    }

    auto cluster = value_or_die(es::embedded_cluster::start(1), "mock cluster");
    if (auto t = es::create_topics(cluster, o.partitions); !t) die("topics: " + t.error().message);
    const std::string& bootstrap = cluster.bootstrap_servers();

    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0) load[0] = -1;
    std::printf("projection_bench: %lld events per model, batches of %zu, %d partitions, mock cluster, load average %.2f %.2f %.2f\n",
                static_cast<long long>(o.events), o.batch, o.partitions, load[0], load[1], load[2]);

    // A model's log written to the cluster, its raw consume ceiling measured, and the
    // same commits cut into the batches the runtime would hand the model.
    auto prepare = [&](context ctx, const auto& plan) {
        const std::string name(es::name_of(ctx));
        const auto t = clock_type::now();
        produce_log(bootstrap, ctx, plan, o.partitions);
        std::printf("  %-8s log written in %.1f s\n", name.c_str(), seconds_since(t));
        const auto consumed = consume_ceiling(bootstrap, ctx, o.partitions, o.events);
        print_row(name.c_str(), "consume ceiling (records)", consumed, 0);
        return std::pair(consumed, batches_of(ctx, plan, o.partitions, o.batch));
    };

    if (o.reviews) {
        const auto plan = reviews_plan(o.events);
        const auto [consumed, batches] = prepare(context::reviews, plan);
        double alone = 0;
        {
            auto model = value_or_die(projections::reviews_model::open(temp / "reviews-alone", {}), "reviews model");
            alone = static_cast<double>(o.events) / run_model(*model, batches);
        }
        const auto sizes = average_sizes(temp / "reviews-alone");
        const double ceiling = static_cast<double>(o.events) / reviews_ceiling(temp / "reviews-ceiling", sizes, batches);
        print_row("reviews", "ceiling: raw batched LMDB puts", ceiling, 0);
        print_row("reviews", "model alone (from memory)", alone, ceiling);

        auto model = value_or_die(projections::reviews_model::open(temp / "reviews-runtime", {}), "reviews model");
        const queries::review_queries q(*model);
        const std::int64_t products = std::max<std::int64_t>(1, o.events / 10 / 50);
        std::mt19937_64 random(7);
        one_by_one appender(bootstrap);
        const auto f = run_runtime(
            bootstrap, *model, context::reviews, last_per_partition(plan, o.partitions), o.batch, o.events,
            [&, random]() mutable {
                const auto sku = "sku-" + std::to_string(random() % static_cast<std::uint64_t>(products));
                auto page = q.list_product_reviews(sku, {"recent", "20", ""}, std::nullopt);
                if (!page) die("query: " + page.error().message);
                return !page->items.empty();
            },
            [&](int i) {
                const std::string sku = "sku-fresh";
                const domain::customer_id author("fresh-" + std::to_string(i));
                const auto id = review::review_id_for(sku, author);
                appender.append(context::reviews,
                                {id.value(), 0, "fresh-" + id.value(),
                                 review::event{review::review_submitted{id, sku, author, 5, "t", "b", t0_ms}}},
                                o.partitions);
            },
            o.freshness);
        // The last fresh review is visible to the query that serves it.
        auto fresh = q.get_review(review::review_id_for("sku-fresh", domain::customer_id("fresh-" + std::to_string(o.freshness - 1))).value(), std::nullopt);
        if (o.freshness > 0 && !fresh) die("the last fresh review is not visible");
        print_row("reviews", "runtime from the log", f.events_per_s, ceiling);
        std::printf("  %-8s %-34s %12.2f of the consume ceiling, %.0f records per batch\n", "reviews", "runtime from the log",
                    f.events_per_s / consumed, f.mean_batch);
        print_latency("reviews", "first page, under the projection", f.loaded);
        print_latency("reviews", "first page, projection idle", f.idle);
        print_latency("reviews", "freshness: ack -> applied", f.fresh);
    }

    if (o.orders) {
        const auto plan = orders_plan(o.events);
        const auto [consumed, batches] = prepare(context::orders, plan);
        const auto url = value_or_die(postgres::database_url::parse(o.postgres), "--postgres");
        auto connection = value_or_die(postgres::connect(url), "connect");
        if (auto m = projections::migrate_orders_schema(*connection, "bench_ceiling"); !m) die("migrate");
        const double ceiling = static_cast<double>(o.events) / orders_ceiling(*connection, batches);
        print_row("orders", "ceiling: COPY + INSERT ON CONFLICT", ceiling, 0);
        double alone = 0;
        {
            auto model = value_or_die(projections::orders_model::open(url, "bench_alone"), "orders model");
            alone = static_cast<double>(o.events) / run_model(*model, batches);
        }
        print_row("orders", "model alone (from memory)", alone, ceiling);

        auto model = value_or_die(projections::orders_model::open(url, "bench_runtime"), "orders model");
        auto q = value_or_die(queries::order_queries::open({url, "bench_runtime", "a bench key of 32 bytes.........", 2}), "order queries");
        const std::int64_t customers = std::max<std::int64_t>(1, o.events / 4 / 10);
        std::mt19937_64 random(11);
        one_by_one appender(bootstrap);
        const auto f = run_runtime(
            bootstrap, *model, context::orders, last_per_partition(plan, o.partitions), o.batch, o.events,
            [&, random]() mutable {
                queries::list_orders_request r;
                r.customer = "c-" + std::to_string(random() % static_cast<std::uint64_t>(customers));
                auto page = q->list_orders(r);
                if (!page) die("query: " + page.error().message);
                return !page->items.empty();
            },
            [&](int i) {
                const std::string id = "o-fresh-" + std::to_string(i);
                appender.append(context::orders,
                                {id, 0, "fresh-" + id,
                                 order::event{order::order_placed{domain::order_id(id), domain::customer_id("c-fresh"),
                                                                  {{"sku-a", 1, 100}}, *domain::currency::parse("EUR"), 100, t0_ms,
                                                                  "tok_visa"}}},
                                o.partitions);
            },
            o.freshness);
        if (o.freshness > 0 && !q->get_order("o-fresh-" + std::to_string(o.freshness - 1))) die("the last fresh order is not visible");
        print_row("orders", "runtime from the log", f.events_per_s, ceiling);
        std::printf("  %-8s %-34s %12.2f of the consume ceiling, %.0f records per batch\n", "orders", "runtime from the log",
                    f.events_per_s / consumed, f.mean_batch);
        print_latency("orders", "customer's list, under the projection", f.loaded);
        print_latency("orders", "customer's list, projection idle", f.idle);
        print_latency("orders", "freshness: ack -> applied", f.fresh);
        connection.reset();
    }
    if (getloadavg(load, 3) >= 0) std::printf("  load average at the end %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    if (pg) (void)pg->stop();
    std::error_code ignored;
    std::filesystem::remove_all(temp, ignored);
    return 0;
}
