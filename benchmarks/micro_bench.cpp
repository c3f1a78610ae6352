// Micro-benchmarks (Google Benchmark) of the per-commit work outside Kafka: what one
// command costs to encode, what one commit costs the tail to judge and apply. Run:
//   build/release/benchmarks/micro_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "eventstore/aggregate_reader.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/lmdb/lmdb.hpp"
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
    for (int i = 0; i < 64; ++i) eventstore::record_applied(head, "cmd-" + std::to_string(i), 1,
                                                                {eventstore::partition_id(0), eventstore::log_offset(i)});
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
            const eventstore::position at{eventstore::partition_id(0), eventstore::log_offset(static_cast<std::int64_t>(next))};
            eventstore::record_applied(a.head, c->command_id, c->events.size(), at);
            a.snapshot = std::move(*snap);
            (void)batch->put(eventstore::context::reviews, id, a);
            (void)batch->add_commit_location(eventstore::context::reviews, id, {1, 1, at});
        }
        (void)batch->set_checkpoint(eventstore::context::reviews, eventstore::partition_id(0),
                                    eventstore::log_offset(static_cast<std::int64_t>(next)));
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
            const eventstore::position at{eventstore::partition_id(0), eventstore::log_offset(static_cast<std::int64_t>(next))};
            eventstore::record_applied(a.head, c->command_id, c->events.size(), at);
            a.snapshot = std::move(*snap);
            work.push_back({std::move(id), std::move(a), {1, 1, at}});
        }
        std::sort(work.begin(), work.end(), [](const pending& x, const pending& y) { return x.id < y.id; });
        for (const auto& w : work) {
            (void)batch->put(eventstore::context::reviews, w.id, w.a);
            (void)batch->add_commit_location(eventstore::context::reviews, w.id, w.l);
        }
        (void)batch->set_checkpoint(eventstore::context::reviews, eventstore::partition_id(0),
                                    eventstore::log_offset(static_cast<std::int64_t>(next)));
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
                                                   {eventstore::partition_id(0),
                                                    eventstore::log_offset(static_cast<std::int64_t>(next) - 1'000 +
                                                                           static_cast<std::int64_t>(k))},
                                                   keys[k], records[k]));
        }
        (void)applier.finish();
        (void)batch->set_checkpoint(eventstore::context::reviews, eventstore::partition_id(0), eventstore::log_offset(next));
        (void)batch->commit();
    }
    state.SetItemsProcessed(state.iterations() * 1'000);
    store->reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(tail_batch_new_aggregates)->Unit(benchmark::kMillisecond);

// The same step on one popular review: a batch of 1 000 helpful votes, each a commit
// that applies to the same aggregate (its count grows by 1 000 per batch, its voter
// index by 1 000 entries).
void tail_batch_hot_aggregate(benchmark::State& state) {
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-tail-hot";
    std::filesystem::remove_all(dir);
    auto store = eventstore::state_store::open(dir, {std::uint64_t{4} << 30, eventstore::state_store::durability::relaxed});
    const auto first = submitted(1);
    const std::string id = first.id.value();
    std::uint64_t version = 0;
    eventstore::log_offset offset(0);
    auto record_of = [&](eventstore::commit c) { return eventstore::encode_commit(c); };
    {
        auto batch = (*store)->begin_write();
        eventstore::batch_applier applier(*batch);
        (void)applier.apply(eventstore::context::reviews, {eventstore::partition_id(0), offset++}, id,
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
            benchmark::DoNotOptimize(applier.apply(eventstore::context::reviews, {eventstore::partition_id(0), offset++}, id, r));
        }
        (void)applier.finish();
        (void)batch->commit();
    }
    state.SetItemsProcessed(state.iterations() * 1'000);
    store->reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(tail_batch_hot_aggregate)->Unit(benchmark::kMillisecond)->Iterations(20);

// One helpful vote on a review that already has `votes` votes, the whole path that could
// cost per vote (issue 9: within 2x between 10 and 100 000 votes): the command handler's
// read (state and the voter's index entry, one read transaction), the snapshot decode,
// folding the entry into the command, decide, encoding event and commit, and the tail's
// apply in its own write transaction (decode, judge, evolve, encode, write the record,
// the commit entry and the voter's index entry; relaxed durability). Every vote is by a
// new voter, so each one applies. Reports the state snapshot's and the aggregate
// record's size at the end.
void vote_on_a_review_with_votes(benchmark::State& state) {
    const auto votes = static_cast<std::uint64_t>(state.range(0));
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-votes";
    std::filesystem::remove_all(dir);
    auto opened = eventstore::state_store::open(dir, {std::uint64_t{4} << 30, eventstore::state_store::durability::relaxed});
    if (!opened) {
        state.SkipWithError(opened.error().message.c_str());
        return;
    }
    eventstore::state_store& store = **opened;
    constexpr auto ctx = eventstore::context::reviews;
    const auto first = submitted(1);
    const std::string id = first.id.value();
    std::uint64_t version = 0;
    eventstore::log_offset offset(0);
    auto vote_commit = [&](std::uint64_t n) {
        const review::review_marked_helpful e{first.id, domain::customer_id("v" + std::to_string(n)), 2};
        return eventstore::encode_commit(
            {id, version, "vote-" + std::to_string(n), {eventstore::review_aggregate::encode_event(e)}});
    };
    // The votes before, 10 000 per batch.
    for (std::uint64_t done = 0; done <= votes;) {
        auto batch = store.begin_write();
        eventstore::batch_applier applier(*batch);
        for (int k = 0; k < 10'000 && done <= votes; ++k, ++done) {
            const auto record = done == 0 ? eventstore::encode_commit({id, version, "submit", {eventstore::review_aggregate::encode_event(first)}})
                                          : vote_commit(done);
            (void)applier.apply(ctx, {eventstore::partition_id(0), offset++}, id, record);
            ++version;
        }
        (void)applier.finish();
        (void)batch->commit();
    }
    std::uint64_t next_voter = votes + 1;
    for (auto _ : state) {
        const std::string voter = "v" + std::to_string(next_voter++);
        review::command cmd = review::vote_helpful{first.id, {voter, domain::role::customer}, 3};
        auto loaded = store.load_with_member(ctx, id, voter);
        auto s = eventstore::review_aggregate::decode_state(loaded->aggregate->snapshot);
        (void)eventstore::review_aggregate::with_member(cmd, *s, loaded->member_value);
        auto decided = review::decide(cmd, *s);
        if (!decided || decided->size() != 1) {
            state.SkipWithError("the vote did not decide into one event");
            break;
        }
        const auto record = eventstore::encode_commit({id, loaded->aggregate->head.version, "vote-" + voter,
                                                       {eventstore::review_aggregate::encode_event((*decided)[0])}});
        auto batch = store.begin_write();
        eventstore::batch_applier applier(*batch);
        auto judged = applier.apply(ctx, {eventstore::partition_id(0), offset++}, id, record);
        if (!judged || !*judged || (*judged)->report.verdict != eventstore::verdict::applied) {
            state.SkipWithError("the vote did not apply");
            break;
        }
        (void)applier.finish();
        (void)batch->commit();
    }
    auto last = store.load(ctx, id);
    auto s = eventstore::review_aggregate::decode_state((*last)->snapshot);
    if (s->helpful_count() != votes + state.iterations()) state.SkipWithError("votes were lost");
    state.counters["snapshot_bytes"] = static_cast<double>((*last)->snapshot.size());
    opened->reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(vote_on_a_review_with_votes)->Arg(10)->Arg(100'000)->Unit(benchmark::kMicrosecond);

}  // namespace

// Single-aggregate reads as `GET .../events` and replay serve them (ARCHITECTURE.md
// decision 2), of one aggregate of `events` commits from a state store that also holds
// 100 000 other aggregates' commits. Each iteration times three reads of the same
// history, interleaved so that a loaded machine slows all three alike:
//   ceiling       a bare LMDB cursor walk over the same entries in a byte-for-byte copy
//                 of the store (read transaction, seek, next, touch each value): the
//                 least any read from this layout can cost
//   visit         visit_history(): every entry and commit verified and checked, each
//                 event handed over in place (what GET .../events and replay use)
//   read_history  the same, copied into owning recorded_events
// Reports p50/p99 of each (issue 9's target: a 1 000-event read p99 <= 1 ms), their
// ratio to the ceiling, and the store's bytes per commit entry.
namespace {

struct percentiles {
    std::vector<double> ms;
    void add(std::chrono::steady_clock::time_point t0) {
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    double at(std::size_t pct) {
        std::sort(ms.begin(), ms.end());
        return ms[std::min(ms.size() - 1, ms.size() * pct / 100)];
    }
};

// The bare walk: the bytes of every entry of `id` in the commits database.
std::size_t walk_commits(const eventstore::lmdb::env& env, MDB_dbi commits, std::string_view id) {
    std::string prefix{static_cast<char>(eventstore::context::reviews), static_cast<char>(id.size())};
    prefix += id;
    auto txn = env.begin_read();
    auto cursor = txn->open_cursor(commits);
    std::size_t bytes = 0;
    for (auto at = cursor->seek(prefix); at && *at && (*at)->first.starts_with(prefix); at = cursor->next()) {
        bytes += (*at)->second.size() + static_cast<unsigned char>((*at)->second.back());
    }
    return bytes;
}

}  // namespace

void read_history_from_the_state_store(benchmark::State& state) {
    const auto events = static_cast<std::uint64_t>(state.range(0));
    const auto dir = std::filesystem::temp_directory_path() / "shopstream-micro-history";
    const auto copy = std::filesystem::temp_directory_path() / "shopstream-micro-history-copy";
    std::filesystem::remove_all(dir);
    std::filesystem::remove_all(copy);
    const eventstore::state_store::options opts{std::uint64_t{4} << 30, eventstore::state_store::durability::relaxed};
    auto store = eventstore::state_store::open(dir, opts);
    if (!store) {
        state.SkipWithError(store.error().message.c_str());
        return;
    }
    const eventstore::commit_headers headers{1'700'000'000'000, "vote_helpful", "corr-0123456789abcdef", "",
                                             "customer:voter-0123",
                                             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
    const std::string big = "sku-big~author";
    {
        auto batch = (*store)->begin_write();
        for (int i = 0; i < 100'000; ++i) {
            const auto c = commit_of(i);
            (void)batch->add_commit(eventstore::context::reviews, c.aggregate_id,
                                    {{1, 1, {eventstore::partition_id(i % 16), eventstore::log_offset(i)}}, headers,
                                     eventstore::encode_commit(c)});
        }
        for (std::uint64_t v = 1; v <= events; ++v) {
            auto c = commit_of(static_cast<int>(v));
            c.aggregate_id = big;
            c.expected_version = v - 1;
            (void)batch->add_commit(eventstore::context::reviews, big,
                                    {{v, 1, {eventstore::partition_id(3), eventstore::log_offset(static_cast<std::int64_t>(100'000 + v))}}, headers,
                                     eventstore::encode_commit(c)});
        }
        (void)batch->commit();
    }
    store->reset();
    std::filesystem::copy(dir, copy);
    store = eventstore::state_store::open(dir, opts);
    auto opened_copy = eventstore::lmdb::env::open(copy, {.map_size = opts.map_size});
    if (!store || !opened_copy) {
        state.SkipWithError("cannot reopen the store or its copy");
        return;
    }
    std::optional<eventstore::lmdb::env> raw(std::move(*opened_copy));
    MDB_dbi commits = 0;
    {
        auto txn = raw->begin_write();
        commits = *txn->open_dbi("commits");
        (void)txn->commit();
    }

    percentiles ceiling;
    percentiles visit;
    percentiles owned;
    for (auto _ : state) {
        auto t0 = std::chrono::steady_clock::now();
        benchmark::DoNotOptimize(walk_commits(*raw, commits, big));
        ceiling.add(t0);

        t0 = std::chrono::steady_clock::now();
        std::uint64_t seen = 0;
        auto visited = eventstore::visit_history(**store, eventstore::context::reviews, big,
                                                 std::numeric_limits<std::uint64_t>::max(),
                                                 [&](const eventstore::recorded_event_view& e) {
                                                     seen += e.event.payload.size() > 0 ? 1 : 0;
                                                     return true;
                                                 });
        visit.add(t0);

        t0 = std::chrono::steady_clock::now();
        auto got = eventstore::read_history(**store, eventstore::context::reviews, big);
        owned.add(t0);
        if (!visited || seen != events || !got || got->size() != events) {
            state.SkipWithError("not the aggregate's events");
        }
        benchmark::DoNotOptimize(got);
    }
    const double ceiling_p50 = ceiling.at(50);
    const double ceiling_p99 = ceiling.at(99);
    state.counters["ceiling_p50_ms"] = ceiling_p50;
    state.counters["ceiling_p99_ms"] = ceiling_p99;
    state.counters["visit_p50_ms"] = visit.at(50);
    state.counters["visit_p99_ms"] = visit.at(99);
    state.counters["visit_p50_x"] = visit.at(50) / ceiling_p50;
    state.counters["read_history_p50_ms"] = owned.at(50);
    state.counters["read_history_p99_ms"] = owned.at(99);
    state.counters["read_history_p50_x"] = owned.at(50) / ceiling_p50;
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(dir / "data.mdb", ec);
    state.counters["store_bytes_per_commit"] = static_cast<double>(bytes) / static_cast<double>(100'000 + events);
    store->reset();
    raw.reset();
    std::filesystem::remove_all(dir);
    std::filesystem::remove_all(copy);
}
BENCHMARK(read_history_from_the_state_store)->Arg(10)->Arg(1000)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
