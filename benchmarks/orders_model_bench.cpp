// Orders read model throughput (issue 11): events/s through orders_model::write_batch
// (projections/orders_model.hpp) into a real PostgreSQL, against ceilings measured on the
// same server in the same run:
//   ceiling, orders rows   one plain multi-row INSERT ... ON CONFLICT DO UPDATE (unnest of
//                          array parameters) per batch of orders rows of the same shape,
//                          one transaction per batch: what the issue names;
//   ceiling, all rows      the same for every row a batch writes (orders, lines, heads,
//                          checkpoints), still without reading anything first.
// The model's phases: batches of order_placed (new orders, two lines each) and batches of
// order_confirmed on those orders (updates: the model loads the rows first).
//
//   build/release/benchmarks/orders_model_bench [--batches N] [--batch-size B] [--rounds R]
//                                               [--postgres URL]
//
// Without --postgres it starts a throwaway local PostgreSQL 15 in a temporary directory
// (adapters/postgres/local_cluster, fsync on, as in production) and removes it after.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "adapters/postgres/local_cluster.hpp"
#include "eventstore/apply_rule.hpp"
#include "postgres/array_literal.hpp"
#include "postgres/client.hpp"
#include "projections/orders_model.hpp"
#include "projections/orders_schema.hpp"

namespace {

using namespace shopstream;
using clock_type = std::chrono::steady_clock;
using postgres::array_literal;
namespace order = domain::order;

struct options {
    int batches = 100;
    int batch_size = 1000;
    int rounds = 3;
    int partitions = 16;
    std::string postgres;
};

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

std::string order_id_of(int round, int i) { return "o-" + std::to_string(round) + "-" + std::to_string(i); }
int partition_of(int i, const options& o) { return i % o.partitions; }
constexpr std::int64_t t0_ms = 1'764'547'200'000;

// Batches as the runtime builds them: one commit per order, heads, one checkpoint per partition.
std::vector<projections::batch> placed_batches(int round, const options& o, std::vector<std::int64_t>& next_offset) {
    std::vector<projections::batch> out(static_cast<std::size_t>(o.batches));
    const auto eur = *domain::currency::parse("EUR");
    for (int b = 0; b < o.batches; ++b) {
        auto& batch = out[static_cast<std::size_t>(b)];
        for (int k = 0; k < o.batch_size; ++k) {
            const int i = b * o.batch_size + k;
            const int p = partition_of(i, o);
            projections::applied_commit c;
            c.ctx = eventstore::context::orders;
            c.at = {eventstore::partition_id(p), eventstore::log_offset(next_offset[static_cast<std::size_t>(p)]++)};
            c.aggregate_id = order_id_of(round, i);
            c.command_id = "place-" + c.aggregate_id;
            c.first_version = 1;
            c.events.emplace_back(order::order_placed{domain::order_id(c.aggregate_id),
                                                      domain::customer_id("c-" + std::to_string(i % 5000)),
                                                      {{"sku-a", 2, 1250}, {"sku-b", 1, 990}}, eur, 3490, t0_ms + i,
                                                      "tok_visa"});
            eventstore::aggregate_head head;
            eventstore::record_applied(head, c.command_id, 1, c.at);
            batch.heads.push_back({c.ctx, c.aggregate_id, std::move(head)});
            batch.commits.push_back(std::move(c));
        }
        for (int p = 0; p < o.partitions; ++p) {
            batch.checkpoints.push_back({eventstore::context::orders, eventstore::partition_id(p),
                                         eventstore::log_offset(next_offset[static_cast<std::size_t>(p)])});
        }
    }
    return out;
}

// order_confirmed on every order of `placed`, batch for batch.
std::vector<projections::batch> confirmed_batches(const std::vector<projections::batch>& placed, const options& o,
                                                  std::vector<std::int64_t>& next_offset) {
    std::vector<projections::batch> out;
    for (const auto& pb : placed) {
        projections::batch batch;
        for (std::size_t k = 0; k < pb.commits.size(); ++k) {
            const auto& prior = pb.commits[k];
            const int p = prior.at.partition.value();
            projections::applied_commit c;
            c.ctx = prior.ctx;
            c.at = {prior.at.partition, eventstore::log_offset(next_offset[static_cast<std::size_t>(p)]++)};
            c.aggregate_id = prior.aggregate_id;
            c.command_id = "confirm-" + c.aggregate_id;
            c.first_version = 2;
            c.events.emplace_back(order::order_confirmed{domain::order_id(c.aggregate_id),
                                                         domain::payment_id("p-" + c.aggregate_id), t0_ms + 1});
            eventstore::aggregate_head head = pb.heads[k].head;
            eventstore::record_applied(head, c.command_id, 1, c.at);
            batch.heads.push_back({c.ctx, c.aggregate_id, std::move(head)});
            batch.commits.push_back(std::move(c));
        }
        for (int p = 0; p < o.partitions; ++p) {
            batch.checkpoints.push_back({eventstore::context::orders, eventstore::partition_id(p),
                                         eventstore::log_offset(next_offset[static_cast<std::size_t>(p)])});
        }
        out.push_back(std::move(batch));
    }
    return out;
}

double run_model(projections::orders_model& model, const std::vector<projections::batch>& batches) {
    const auto t0 = clock_type::now();
    for (const auto& b : batches) {
        auto written = model.write_batch(b);
        if (!written || !written->empty()) {
            std::fprintf(stderr, "write_batch: %s\n", written ? written->front().reason.c_str() : written.error().message.c_str());
            std::exit(1);
        }
    }
    return seconds_since(t0);
}

// The ceilings: the batch's rows as plain multi-row upserts, nothing read first.
double run_ceiling(pqxx::connection& c, const std::vector<projections::batch>& batches, bool all_rows) {
    const std::string s = "bench_ceiling";
    const std::string upsert_orders =
        "INSERT INTO " + s + ".orders AS o (id, customer, status, total, currency, cancel_reason, payment_id, "
        "payment_captured, version, placed_at, updated_at) SELECT u.id, u.customer, u.status, u.total, u.currency, "
        "u.cancel_reason, u.payment_id, u.payment_captured, u.version, timestamptz 'epoch' + u.placed_ms * interval "
        "'1 millisecond', timestamptz 'epoch' + u.updated_ms * interval '1 millisecond' FROM unnest($1::text[], "
        "$2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::bigint[], "
        "$10::bigint[], $11::bigint[]) AS u(id, customer, status, total, currency, cancel_reason, payment_id, "
        "payment_captured, version, placed_ms, updated_ms) ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, "
        "version = EXCLUDED.version, updated_at = EXCLUDED.updated_at WHERE o.version < EXCLUDED.version";
    const std::string insert_lines = "INSERT INTO " + s + ".order_lines SELECT * FROM unnest($1::text[], $2::int[], "
                                     "$3::text[], $4::int[], $5::bigint[]) ON CONFLICT DO NOTHING";
    const std::string upsert_heads = "INSERT INTO " + s + ".aggregate_heads AS h SELECT u.c, u.a, u.v, u.r::jsonb FROM "
                                     "unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(c, a, v, r) ON CONFLICT "
                                     "(context, aggregate_id) DO UPDATE SET version = EXCLUDED.version, recent_commands = "
                                     "EXCLUDED.recent_commands WHERE h.version < EXCLUDED.version";
    const std::string upsert_checkpoints = "INSERT INTO " + s + ".projection_checkpoints AS k SELECT 'orders', u.c, u.p, u.n "
                                           "FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(c, p, n) ON CONFLICT "
                                           "(model, context, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset";
    const auto t0 = clock_type::now();
    for (const auto& b : batches) {
        array_literal id, customer, status, total, currency, reason, payment, captured, version, placed, updated;
        array_literal l_order, l_no, l_sku, l_quantity, l_price, h_ctx, h_id, h_version, h_recent, k_ctx, k_p, k_n;
        for (const auto& commit : b.commits) {
            const auto* p = std::get_if<order::order_placed>(&std::get<order::event>(commit.events[0]));
            id.add_text(commit.aggregate_id);
            customer.add_text(p != nullptr ? p->customer.value() : "c");
            status.add_text(p != nullptr ? "pending" : "confirmed");
            total.add_int(3490);
            currency.add_text("EUR");
            reason.add_null();
            payment.add_null();
            captured.add_bool(false);
            version.add_int(static_cast<std::int64_t>(commit.first_version));
            placed.add_int(t0_ms);
            updated.add_int(t0_ms);
            if (all_rows && p != nullptr) {
                for (std::size_t i = 0; i < p->lines.size(); ++i) {
                    l_order.add_text(commit.aggregate_id);
                    l_no.add_int(static_cast<std::int64_t>(i));
                    l_sku.add_text(p->lines[i].sku);
                    l_quantity.add_int(p->lines[i].quantity);
                    l_price.add_int(p->lines[i].unit_price);
                }
            }
        }
        if (all_rows) {
            for (const auto& h : b.heads) {
                h_ctx.add_text("orders");
                h_id.add_text(h.aggregate_id);
                h_version.add_int(static_cast<std::int64_t>(h.head.version));
                std::string recent = "[";
                for (const auto& rc : h.head.recent_commands) {
                    if (recent.size() > 1) recent += ',';
                    recent += "[\"" + rc.command_id + "\"," + std::to_string(rc.version) + "," +
                              std::to_string(rc.at.partition.value()) + "," + std::to_string(rc.at.offset.value()) + "]";
                }
                h_recent.add_text(recent + "]");
            }
            for (const auto& k : b.checkpoints) {
                k_ctx.add_text("orders");
                k_p.add_int(k.partition.value());
                k_n.add_int(k.next_offset.value());
            }
        }
        pqxx::work txn(c);
        txn.exec_params(upsert_orders, id.str(), customer.str(), status.str(), total.str(), currency.str(), reason.str(),
                        payment.str(), captured.str(), version.str(), placed.str(), updated.str());
        if (all_rows) {
            if (l_order.size() > 0) {
                txn.exec_params(insert_lines, l_order.str(), l_no.str(), l_sku.str(), l_quantity.str(), l_price.str());
            }
            txn.exec_params(upsert_heads, h_ctx.str(), h_id.str(), h_version.str(), h_recent.str());
            txn.exec_params(upsert_checkpoints, k_ctx.str(), k_p.str(), k_n.str());
        }
        txn.commit();
    }
    return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--batches") o.batches = std::stoi(value);
        else if (flag == "--batch-size") o.batch_size = std::stoi(value);
        else if (flag == "--rounds") o.rounds = std::stoi(value);
        else if (flag == "--postgres") o.postgres = value;
        else {
            std::fprintf(stderr, "usage: %s [--batches N] [--batch-size B] [--rounds R] [--postgres URL]\n", argv[0]);
            return 2;
        }
    }

    std::unique_ptr<adapters::postgres::local_cluster> cluster;
    std::filesystem::path temp;
    if (o.postgres.empty()) {
        std::string pattern = (std::filesystem::temp_directory_path() / "orders-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) return 1;
        temp = pattern;
        adapters::postgres::local_cluster_options cluster_options;
        cluster_options.directory = temp;
        auto started = adapters::postgres::local_cluster::start(cluster_options);
        if (!started) {
            std::fprintf(stderr, "local PostgreSQL: %s\n", started.error().message.c_str());
            return 1;
        }
        cluster = std::move(*started);
        if (auto db = cluster->ensure_database("bench"); !db) return 1;
        o.postgres = cluster->url("bench");
    }
    auto url = postgres::database_url::parse(o.postgres);
    if (!url) {
        std::fprintf(stderr, "--postgres: %s\n", url.error().message.c_str());
        return 2;
    }
    auto model = projections::orders_model::open(*url, "bench_model");
    if (!model) {
        std::fprintf(stderr, "%s\n", model.error().message.c_str());
        return 1;
    }
    auto connection = postgres::connect(*url);
    if (!connection) return 1;
    if (auto m = projections::migrate_orders_schema(**connection, "bench_ceiling"); !m) return 1;

    const double events = static_cast<double>(o.batches) * o.batch_size;
    std::printf("orders_model_bench: %d batches x %d events per phase, %d partitions, %d rounds, PostgreSQL at %s\n",
                o.batches, o.batch_size, o.partitions, o.rounds, url->describe().c_str());
    std::printf("%-6s %18s %18s %18s %18s %10s %10s\n", "round", "ceiling orders/s", "ceiling all/s", "model placed/s",
                "model confirmed/s", "placed/c1", "placed/c2");
    std::vector<std::int64_t> offsets(static_cast<std::size_t>(o.partitions), 0);
    std::vector<std::int64_t> ceiling_offsets(static_cast<std::size_t>(o.partitions), 0);
    for (int round = 0; round < o.rounds; ++round) {
        // The ceiling writes other ids than the model, into the other schema.
        auto ceiling_batches = placed_batches(1000 + round, o, ceiling_offsets);
        auto ceiling_all_batches = placed_batches(2000 + round, o, ceiling_offsets);
        auto batches = placed_batches(round, o, offsets);
        auto confirmations = confirmed_batches(batches, o, offsets);
        const double c1 = events / run_ceiling(**connection, ceiling_batches, false);
        const double c2 = events / run_ceiling(**connection, ceiling_all_batches, true);
        const double placed = events / run_model(**model, batches);
        const double confirmed = events / run_model(**model, confirmations);
        std::printf("%-6d %18.0f %18.0f %18.0f %18.0f %10.2f %10.2f\n", round + 1, c1, c2, placed, confirmed,
                    placed / c1, placed / c2);
    }
    connection->reset();
    model->reset();
    if (cluster) {
        (void)cluster->stop();
        std::error_code ignored;
        std::filesystem::remove_all(temp, ignored);
    }
    return 0;
}
