// Micro-benchmarks (Google Benchmark) of the per-commit work outside Kafka: what one
// command costs to encode, what one commit costs the tail to judge and apply. Run:
//   build/release/benchmarks/micro_bench
#include <benchmark/benchmark.h>
#include <lmdb.h>

#include <filesystem>

#include "eventstore/aggregates.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"

namespace {

using namespace shopstream;
namespace review = domain::review;

review::review_submitted submitted(int i) {
    const std::string sku = "sku-" + std::to_string(i % 997);
    const domain::customer_id c("c" + std::to_string(i));
    return {review::review_id_for(sku, c), sku, c, 5, "Solid product", "Does what it says on the box.", 1};
}

eventstore::commit commit_of(int i) {
    auto e = submitted(i);
    return {e.id.value(), 0, "cmd-" + std::to_string(i), {eventstore::review_aggregate::encode_event(e)}};
}

void encode_commit(benchmark::State& state) {
    const auto c = commit_of(1);
    for (auto _ : state) benchmark::DoNotOptimize(eventstore::encode_commit(c));
}
BENCHMARK(encode_commit);

void decode_commit(benchmark::State& state) {
    const auto bytes = eventstore::encode_commit(commit_of(1));
    for (auto _ : state) benchmark::DoNotOptimize(eventstore::decode_commit(bytes));
}
BENCHMARK(decode_commit);

void decide_and_encode_submit(benchmark::State& state) {
    const review::submit_review cmd{"sku-1", domain::customer_id("c1"), 5, "Solid product", "Does what it says.",
                                    {"c1", domain::role::customer}, 1};
    const auto s = review::initial_state();
    for (auto _ : state) {
        auto d = review::decide(cmd, s);
        benchmark::DoNotOptimize(eventstore::review_aggregate::encode_event((*d)[0]));
    }
}
BENCHMARK(decide_and_encode_submit);

void evolve_snapshot_new_aggregate(benchmark::State& state) {
    const auto c = commit_of(1);
    for (auto _ : state) {
        benchmark::DoNotOptimize(eventstore::evolve_snapshot(eventstore::context::reviews, {}, c.events));
    }
}
BENCHMARK(evolve_snapshot_new_aggregate);

void judge_with_full_window(benchmark::State& state) {
    eventstore::aggregate_head head;
    for (int i = 0; i < 64; ++i) eventstore::record_applied(head, "cmd-" + std::to_string(i), 1, {0, i});
    for (auto _ : state) benchmark::DoNotOptimize(eventstore::judge(head, "cmd-new", head.version));
}
BENCHMARK(judge_with_full_window);

// What the tail does per applied commit of a new aggregate, in batches of 1 000 per
// LMDB transaction (relaxed durability).
void apply_batch_to_store(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-store";
    std::filesystem::remove_all(dir);
    auto store = eventstore::state_store::open(dir, {std::uint64_t{4} << 30, eventstore::state_store::durability::relaxed});
    std::vector<std::vector<std::uint8_t>> records;
    for (int i = 0; i < 100'000; ++i) records.push_back(eventstore::encode_commit(commit_of(i)));
    std::size_t next = 0;
    for (auto _ : state) {
        auto batch = (*store)->begin_write();
        for (int k = 0; k < 1'000; ++k, ++next) {
            auto c = eventstore::decode_commit(records[next % records.size()]);
            const std::string id = c->aggregate_id + "/" + std::to_string(next);  // always new
            auto loaded = batch->load(eventstore::context::reviews, id);
            eventstore::stored_aggregate a = loaded->value_or(eventstore::stored_aggregate{});
            auto j = eventstore::judge(a.head, c->command_id, c->expected_version);
            benchmark::DoNotOptimize(j);
            auto snap = eventstore::evolve_snapshot(eventstore::context::reviews, a.snapshot, c->events);
            const eventstore::position at{0, static_cast<std::int64_t>(next)};
            eventstore::record_applied(a.head, c->command_id, c->events.size(), at);
            a.snapshot = std::move(*snap);
            (void)batch->put(eventstore::context::reviews, id, a);
            (void)batch->add_commit_location(eventstore::context::reviews, id, {1, 1, at});
        }
        (void)batch->set_checkpoint(eventstore::context::reviews, 0, static_cast<std::int64_t>(next));
        (void)batch->commit();
    }
    state.SetItemsProcessed(state.iterations() * 1'000);
    store->reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(apply_batch_to_store)->Unit(benchmark::kMillisecond);

// The same work, but a batch's writes go to LMDB in key order (sorted once per batch),
// so each B-tree page is copied and written once per transaction instead of once per key.
void apply_batch_to_store_sorted(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-store-sorted";
    std::filesystem::remove_all(dir);
    auto store = eventstore::state_store::open(dir, {std::uint64_t{4} << 30, eventstore::state_store::durability::relaxed});
    std::vector<std::vector<std::uint8_t>> records;
    for (int i = 0; i < 100'000; ++i) records.push_back(eventstore::encode_commit(commit_of(i)));
    std::size_t next = 0;
    struct pending {
        std::string id;
        eventstore::stored_aggregate a;
        eventstore::commit_location l;
    };
    std::vector<pending> work;
    for (auto _ : state) {
        auto batch = (*store)->begin_write();
        work.clear();
        for (int k = 0; k < 1'000; ++k, ++next) {
            auto c = eventstore::decode_commit(records[next % records.size()]);
            std::string id = c->aggregate_id + "/" + std::to_string(next);
            auto loaded = batch->load(eventstore::context::reviews, id);
            eventstore::stored_aggregate a = loaded->value_or(eventstore::stored_aggregate{});
            auto snap = eventstore::evolve_snapshot(eventstore::context::reviews, a.snapshot, c->events);
            const eventstore::position at{0, static_cast<std::int64_t>(next)};
            eventstore::record_applied(a.head, c->command_id, c->events.size(), at);
            a.snapshot = std::move(*snap);
            work.push_back({std::move(id), std::move(a), {1, 1, at}});
        }
        std::sort(work.begin(), work.end(), [](const pending& x, const pending& y) { return x.id < y.id; });
        for (const auto& w : work) {
            (void)batch->put(eventstore::context::reviews, w.id, w.a);
            (void)batch->add_commit_location(eventstore::context::reviews, w.id, w.l);
        }
        (void)batch->set_checkpoint(eventstore::context::reviews, 0, static_cast<std::int64_t>(next));
        (void)batch->commit();
    }
    state.SetItemsProcessed(state.iterations() * 1'000);
    store->reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(apply_batch_to_store_sorted)->Unit(benchmark::kMillisecond);

// The tail's own batch step (batch_applier: decode, judge, evolve, write, 1 000 records
// per LMDB transaction, relaxed durability), on commits of new aggregates - what a
// rebuild or the one-writer benchmark does per record.
void tail_batch_new_aggregates(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-tail-new";
    std::filesystem::remove_all(dir);
    auto store = eventstore::state_store::open(dir, {std::uint64_t{4} << 30, eventstore::state_store::durability::relaxed});
    std::vector<std::vector<std::uint8_t>> records(1'000);
    std::vector<std::string> keys(1'000);
    int next = 0;
    for (auto _ : state) {
        state.PauseTiming();
        for (int k = 0; k < 1'000; ++k, ++next) {
            auto c = commit_of(next);
            c.aggregate_id += "/" + std::to_string(next);  // always new
            keys[static_cast<std::size_t>(k)] = c.aggregate_id;
            records[static_cast<std::size_t>(k)] = eventstore::encode_commit(c);
        }
        state.ResumeTiming();
        auto batch = (*store)->begin_write();
        eventstore::batch_applier applier(*batch);
        for (std::size_t k = 0; k < records.size(); ++k) {
            benchmark::DoNotOptimize(applier.apply(eventstore::context::reviews,
                                                   {0, static_cast<std::int64_t>(next) - 1'000 + static_cast<std::int64_t>(k)},
                                                   keys[k], records[k]));
        }
        (void)applier.finish();
        (void)batch->set_checkpoint(eventstore::context::reviews, 0, next);
        (void)batch->commit();
    }
    state.SetItemsProcessed(state.iterations() * 1'000);
    store->reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(tail_batch_new_aggregates)->Unit(benchmark::kMillisecond);

// The same step on one popular review: a batch of 1 000 helpful votes, each a commit
// that applies to the same aggregate (its voter list grows by 1 000 per batch).
void tail_batch_hot_aggregate(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-tail-hot";
    std::filesystem::remove_all(dir);
    auto store = eventstore::state_store::open(dir, {std::uint64_t{4} << 30, eventstore::state_store::durability::relaxed});
    const auto first = submitted(1);
    const std::string id = first.id.value();
    std::uint64_t version = 0;
    std::int64_t offset = 0;
    auto record_of = [&](eventstore::commit c) { return eventstore::encode_commit(c); };
    {
        auto batch = (*store)->begin_write();
        eventstore::batch_applier applier(*batch);
        (void)applier.apply(eventstore::context::reviews, {0, offset++}, id,
                            record_of({id, version++, "submit", {eventstore::review_aggregate::encode_event(first)}}));
        (void)applier.finish();
        (void)batch->commit();
    }
    std::vector<std::vector<std::uint8_t>> records(1'000);
    for (auto _ : state) {
        state.PauseTiming();
        for (auto& r : records) {
            const std::string voter = "v" + std::to_string(version);
            r = record_of({id, version, "vote-" + std::to_string(version),
                           {eventstore::review_aggregate::encode_event(
                               review::review_marked_helpful{first.id, domain::customer_id(voter), 2})}});
            ++version;
        }
        state.ResumeTiming();
        auto batch = (*store)->begin_write();
        eventstore::batch_applier applier(*batch);
        for (const auto& r : records) {
            benchmark::DoNotOptimize(applier.apply(eventstore::context::reviews, {0, offset++}, id, r));
        }
        (void)applier.finish();
        (void)batch->commit();
    }
    state.SetItemsProcessed(state.iterations() * 1'000);
    store->reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(tail_batch_hot_aggregate)->Unit(benchmark::kMillisecond)->Iterations(20);

}  // namespace

// The measured reason behind the proposal to keep each applied commit's bytes in the
// state store (ARCHITECTURE.md decision 2 says reads fetch the offsets from the log): one
// aggregate's 1 000 commits read back with an LMDB cursor range scan and verified
// (decode_commit), in an environment holding 100 000 other aggregates' commits. Compare
// eventstore_bench's "read one aggregate of 1000 events" from the embedded cluster.
void read_1000_commits_from_lmdb(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-read";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    MDB_env* env = nullptr;
    mdb_env_create(&env);
    mdb_env_set_mapsize(env, std::size_t{4} << 30);
    mdb_env_open(env, dir.c_str(), MDB_NOSYNC, 0644);
    MDB_dbi dbi = 0;
    auto key_of = [](const std::string& aggregate, std::uint64_t version) {
        std::string k = aggregate;
        k.push_back('\0');
        for (int shift = 56; shift >= 0; shift -= 8) k.push_back(static_cast<char>((version >> shift) & 0xFF));
        return k;
    };
    auto put = [&](MDB_txn* txn, const std::string& k, const std::vector<std::uint8_t>& v) {
        MDB_val key{k.size(), const_cast<char*>(k.data())};
        MDB_val val{v.size(), const_cast<std::uint8_t*>(v.data())};
        mdb_put(txn, dbi, &key, &val, 0);
    };
    MDB_txn* txn = nullptr;
    mdb_txn_begin(env, nullptr, 0, &txn);
    mdb_dbi_open(txn, nullptr, 0, &dbi);
    for (int i = 0; i < 100'000; ++i) put(txn, key_of(commit_of(i).aggregate_id, 1), eventstore::encode_commit(commit_of(i)));
    const std::string big = "sku-big~author";
    for (std::uint64_t v = 1; v <= 1000; ++v) {
        auto c = commit_of(static_cast<int>(v));
        c.aggregate_id = big;
        c.expected_version = v - 1;
        put(txn, key_of(big, v), eventstore::encode_commit(c));
    }
    mdb_txn_commit(txn);
    for (auto _ : state) {
        MDB_txn* r = nullptr;
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &r);
        MDB_cursor* cursor = nullptr;
        mdb_cursor_open(r, dbi, &cursor);
        const auto first = key_of(big, 1);
        MDB_val k{first.size(), const_cast<char*>(first.data())};
        MDB_val v;
        std::size_t read = 0;
        for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE); rc == 0 && read < 1000;
             rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
            auto decoded = eventstore::decode_commit(
                std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size));
            benchmark::DoNotOptimize(decoded);
            ++read;
        }
        mdb_cursor_close(cursor);
        mdb_txn_abort(r);
        if (read != 1000) state.SkipWithError("not 1000 commits");
    }
    mdb_env_close(env);
    std::filesystem::remove_all(dir);
}
BENCHMARK(read_1000_commits_from_lmdb)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
