// The event store with writers in separate OS processes (ARCHITECTURE.md, "The one hard
// problem"): each shopstream_test_writer has its own LMDB state store, tail and producer
// and talks to the Kafka-protocol cluster of this test process over TCP. The log alone
// arbitrates between them, so:
//   - every ACKed command applied exactly once, at the position it was ACKed with;
//   - every store built from the log - each writer's, and a fresh replay from offset 0 -
//     holds the same aggregates;
//   - a writer killed at any point and restarted on its store loses no ACKed command and
//     applies nothing twice.
// The end checks are the shared history checker's (tests/support/history_checker.hpp) over
// what the writers said, plus an independent restatement of the apply rule (judge_log).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "domain/review/review.hpp"
#include "eventstore/aggregate_reader.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"
#include "eventstore/topics.hpp"
#include "tests/support/history_checker.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::eventstore {
// Compact failure messages: "v3+1@2:17" is versions 3.. (1 event) at partition 2 offset 17.
void PrintTo(const commit_location& l, std::ostream* os) {
    *os << "v" << l.first_version << "+" << l.event_count << "@" << to_string(l.at);
}
void PrintTo(const applied_command& a, std::ostream* os) {
    *os << a.command_id << "->v" << a.version << "@" << to_string(a.at);
}
}  // namespace shopstream::eventstore

namespace shopstream {
namespace {

using namespace std::chrono_literals;
using eventstore::context;
namespace review = domain::review;

constexpr int partitions = 8;
constexpr context ctx = context::reviews;

// ---- the writer processes --------------------------------------------------------------

struct writer_config {
    std::string name;
    std::filesystem::path data_dir;
    int reviews = 3;
    int votes = 100;
    int concurrency = 8;
    std::uint64_t seed = 1;
};

struct ack {
    std::string command_id;
    std::string aggregate_id;
    std::uint64_t version = 0;
    eventstore::position at;
};

std::chrono::steady_clock::time_point at_us(long long us) {
    return std::chrono::steady_clock::time_point(std::chrono::microseconds(us));
}

// What a writer said on stdout, line by line (writer_main.cpp), and the attempts the
// history checker reads from it.
struct transcript {
    std::vector<ack> acks;
    std::vector<std::string> noops;  // command ids answered "unchanged"
    std::vector<std::string> errors;
    std::vector<std::string> unparsed;
    std::vector<testing::recorded_attempt> attempts;
    std::map<std::string, std::size_t> attempt_of;  // command id -> attempts index
    bool done = false;

    void add(const std::string& line) {
        std::istringstream in(line);
        std::string word;
        in >> word;
        if (word == "DONE") {
            done = true;
        } else if (word == "SENT") {
            testing::recorded_attempt a;
            long long us = 0;
            in >> a.command.command_id >> a.command.aggregate_id >> us;
            if (in.fail()) return unparsed.push_back(line);
            a.command.ctx = ctx;
            a.command.request = line;
            a.sent_at = at_us(us);
            attempt_of[a.command.command_id] = attempts.size();
            attempts.push_back(std::move(a));
        } else if (word == "ERR") {
            errors.push_back(line);
            std::string id;
            std::string code_word;
            int code = -1;
            in >> id >> code_word >> code;
            // code: commands::command_errc
            static const std::map<int, int> status = {{0, 409}, {1, 412}, {2, 409}, {3, 504}, {4, 503}, {5, 500}};
            if (const auto s = status.find(code); s != status.end()) answer(id, {s->second, false, {}, {}}, {});
        } else if (word == "NOOP") {
            std::string id;
            std::string aggregate;
            std::uint64_t version = 0;
            long long us = 0;
            in >> id >> aggregate >> version >> us;
            if (in.fail()) return unparsed.push_back(line);
            noops.push_back(id);
            answer(id, {200, true, std::nullopt, version}, at_us(us));
        } else if (word == "ACK") {
            ack a;
            std::string where;
            long long us = 0;
            in >> a.command_id >> a.aggregate_id >> a.version >> where >> us;
            const auto at = eventstore::parse_position(where);
            if (in.fail() || !at) return unparsed.push_back(line);
            a.at = *at;
            answer(a.command_id, {200, false, a.at, a.version}, at_us(us));
            acks.push_back(std::move(a));
        } else {
            unparsed.push_back(line);
        }
    }

    void answer(const std::string& command_id, testing::command_answer answer,
                std::chrono::steady_clock::time_point when) {
        const auto found = attempt_of.find(command_id);
        if (found == attempt_of.end()) return unparsed.push_back("answer to an unsent command " + command_id);
        auto& a = attempts[found->second];
        a.answer = std::move(answer);
        a.answered_at = when;
    }

    [[nodiscard]] std::vector<ack> vote_acks() const {
        std::vector<ack> out;
        for (const auto& a : acks) {
            if (a.command_id.find("-vote-") != std::string::npos) out.push_back(a);
        }
        return out;
    }
};

// Whether the store's voter index counts `voter`'s vote for review `id` as it is now.
bool has_voted(const eventstore::state_store& store, const std::string& id, const std::string& voter) {
    auto loaded = store.load_with_member(ctx, id, voter);
    if (!loaded || !loaded->aggregate) return false;
    auto state = eventstore::review_aggregate::decode_state(loaded->aggregate->snapshot);
    if (!state) return false;
    return eventstore::review_aggregate::has_voted(*state, loaded->member_value) == std::optional<bool>(true);
}

std::string voter_of(const std::string& vote_command_id) {
    // "<name>-vote-<i>" voted as "<name>-v<i>".
    const auto at = vote_command_id.rfind("-vote-");
    return vote_command_id.substr(0, at) + "-v" + vote_command_id.substr(at + 6);
}

testing::process spawn_writer(const std::string& bootstrap, const writer_config& w, const std::string& run) {
    testing::spawn_options options({SHOPSTREAM_TEST_WRITER, "--brokers", bootstrap, "--data-dir", w.data_dir.string(),
                                    "--name", w.name, "--reviews", std::to_string(w.reviews), "--votes",
                                    std::to_string(w.votes), "--concurrency", std::to_string(w.concurrency), "--seed",
                                    std::to_string(w.seed)});
    options.standard_error = testing::output::to_file(w.data_dir.parent_path() / (w.name + "-" + run + ".stderr"));
    auto child = testing::process::spawn(options);
    if (!child) throw std::runtime_error(child.error().message);
    return std::move(*child);
}

// Reads the writer's lines until DONE, end of output or `deadline`.
void read_to_end(testing::process& child, transcript& t, eventstore::clock::time_point deadline) {
    while (!t.done) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - eventstore::clock::now());
        if (left <= 0ms) break;
        auto line = child.read_line(left);
        if (!line) break;
        t.add(*line);
    }
}

std::string stderr_of(const writer_config& w, const std::string& run) {
    std::ifstream in(w.data_dir.parent_path() / (w.name + "-" + run + ".stderr"));
    std::stringstream s;
    s << in.rdbuf();
    std::string text = s.str();
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

// Runs the writer until it has printed `acks` ACK lines (or, for 0, for `delay_ms`),
// SIGKILLs it, and adds what it said to `said`.
void run_and_kill(const std::string& bootstrap, const writer_config& w, const std::string& run, int acks,
                  int delay_ms, std::vector<transcript>& said) {
    auto child = spawn_writer(bootstrap, w, run);
    transcript t;
    if (acks == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    } else {
        const auto deadline = eventstore::clock::now() + 30s;
        while (static_cast<int>(t.acks.size()) < acks && !t.done && eventstore::clock::now() < deadline) {
            auto line = child.read_line(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - eventstore::clock::now()));
            if (!line) break;
            t.add(*line);
        }
        ASSERT_GE(static_cast<int>(t.acks.size()), acks) << stderr_of(w, run);
    }
    ASSERT_TRUE(child.send_signal(SIGKILL).has_value());
    const auto status = child.wait_for(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->signaled && status->signal == SIGKILL) << status->describe();
    // Whatever it managed to say before it died counts as said.
    if (auto rest = child.read_all(5s)) {
        std::istringstream lines(*rest);
        for (std::string line; std::getline(lines, line);) {
            if (!line.empty()) t.add(line);
        }
    }
    EXPECT_FALSE(t.done) << "killed too late: the writer had already finished";
    EXPECT_TRUE(t.errors.empty()) << t.errors.front();
    said.push_back(std::move(t));
}

// ---- stores in this process ------------------------------------------------------------

class multi_process_fixture : public ::testing::Test {
protected:
    void SetUp() override {
        auto c = testing::test_kafka::start_with_event_topics(partitions);
        ASSERT_TRUE(c.has_value()) << c.error();
        cluster_.emplace(std::move(*c));
    }

    [[nodiscard]] const std::string& bootstrap() const { return cluster_->bootstrap(); }

    // Opens the store in `dir` (a new one if empty) and applies the log up to the end
    // every partition has now, bounded.
    testing::caught_up_store catch_up(const std::filesystem::path& dir) {
        auto out = testing::catch_up_store(dir, bootstrap(), {ctx}, 20s);
        if (!out) throw std::runtime_error(out.error());
        return std::move(*out);
    }

    // The history checker over everything the writers said, against the log and `stores`.
    void expect_history_holds(const std::vector<transcript>& said, std::vector<const eventstore::state_store*> stores) {
        testing::history_input in;
        for (const auto& t : said) in.attempts.insert(in.attempts.end(), t.attempts.begin(), t.attempts.end());
        in.stores = std::move(stores);
        in.all_writers_recorded = true;
        const auto report = testing::expect_history_holds(bootstrap(), {ctx}, std::move(in));
        EXPECT_GT(report.counts.ok, 0) << "nothing was acknowledged: the check proves nothing";
    }

    testing::temp_dir dir_{"multi-writer"};
    std::optional<testing::test_kafka> cluster_;
};

std::vector<std::string> review_ids(int count) {
    std::vector<std::string> ids;
    for (int k = 0; k < count; ++k) {
        ids.push_back(review::review_id_for("sku-" + std::to_string(k),
                                            domain::customer_id("author-" + std::to_string(k)))
                          .value());
    }
    return ids;
}

// The applied history of one review, read from the log at the offsets the store recorded.
struct history {
    std::vector<eventstore::recorded_event> events;
    std::map<std::string, int> votes_by_voter;
};

history read_history(eventstore::aggregate_reader& reader, const eventstore::state_store& store,
                     const std::string& id) {
    history h;
    auto events = reader.read_from_log(store, ctx, id, std::numeric_limits<std::uint64_t>::max(), 10s);
    if (!events) throw std::runtime_error("reading " + id + ": " + events.error().message);
    h.events = std::move(*events);
    for (const auto& e : h.events) {
        auto decoded = eventstore::review_aggregate::decode_event(e.event.type, e.event.schema_version, e.event.payload);
        if (!decoded) throw std::runtime_error("undecodable event in " + id + ": " + decoded.error().detail);
        if (const auto* vote = std::get_if<review::review_marked_helpful>(&*decoded)) ++h.votes_by_voter[vote->voter.value()];
    }
    return h;
}

// The apply rule restated independently of eventstore/, over the whole topic as a plain
// consumer reads it: in each partition's order, a commit applies iff its expected version
// is its aggregate's version at that point. (That a command id applies at most once must
// follow from it: a retry's expected version is always stale.)
struct log_verdicts {
    std::map<std::string, std::vector<eventstore::commit_location>> applied;  // per aggregate, in order
    std::map<std::string, int> applied_by_command;
    int commits = 0;
    int losers = 0;
    int retries = 0;  // commits of a command id that had already applied
};

log_verdicts judge_log(const std::string& bootstrap) {
    auto records = testing::consume_all(bootstrap, eventstore::topic_of(ctx), 20s);
    if (!records) throw std::runtime_error(records.error());
    log_verdicts out;
    std::map<std::string, std::uint64_t> versions;
    for (const auto& r : *records) {
        const std::string& value = r.value.value_or("");
        auto c = eventstore::decode_commit({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()});
        if (!c || r.key != c->aggregate_id) {
            ADD_FAILURE() << "not a commit at " << r.partition << ":" << r.offset;
            continue;
        }
        ++out.commits;
        const bool seen = out.applied_by_command.contains(c->command_id);
        if (seen) ++out.retries;
        std::uint64_t& version = versions[c->aggregate_id];
        if (c->expected_version != version) {
            ++out.losers;
            continue;
        }
        EXPECT_FALSE(seen) << c->command_id << " at " << r.partition << ":" << r.offset
                           << " is a retry whose expected version is current: the rule's premise broke";
        out.applied[c->aggregate_id].push_back({version + 1, static_cast<std::uint32_t>(c->events.size()),
                                                {eventstore::partition_id(r.partition), eventstore::log_offset(r.offset)}});
        version += c->events.size();
        ++out.applied_by_command[c->command_id];
    }
    return out;
}

// The store applied exactly the commits the rule says apply, nothing more or less.
void expect_store_follows_the_rule(const eventstore::state_store& store, const log_verdicts& verdicts,
                                   const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
        auto locations = store.commit_locations(ctx, id);
        ASSERT_TRUE(locations.has_value());
        const auto expected = verdicts.applied.find(id);
        ASSERT_NE(expected, verdicts.applied.end()) << id << " has no applied commit in the log";
        EXPECT_EQ(locations->size(), expected->second.size()) << id << " in " << store.directory();
        EXPECT_EQ(*locations, expected->second) << id << " in " << store.directory();
    }
    EXPECT_EQ(verdicts.applied.size(), ids.size()) << "commits of aggregates the test does not know";
    for (const auto& [command, count] : verdicts.applied_by_command) EXPECT_EQ(count, 1) << command;
}

// ---- two writer processes ------------------------------------------------------------

class multi_writer : public multi_process_fixture {};

TEST_F(multi_writer, conflicting_writers_in_two_processes_agree_with_a_fresh_replay) {
    constexpr int reviews = 3;
    constexpr int votes = 200;
    const std::vector<std::string> ids = review_ids(reviews);
    std::vector<writer_config> writers = {
        {"w1", dir_.path() / "w1", reviews, votes, 8, 101},
        {"w2", dir_.path() / "w2", reviews, votes, 8, 202},
    };

    std::vector<testing::process> children;
    for (const auto& w : writers) children.push_back(spawn_writer(bootstrap(), w, "run"));
    std::vector<transcript> said(writers.size());
    {
        const auto deadline = eventstore::clock::now() + 40s;
        std::vector<std::thread> readers;
        for (std::size_t i = 0; i < writers.size(); ++i) {
            readers.emplace_back([&, i] { read_to_end(children[i], said[i], deadline); });
        }
        for (auto& r : readers) r.join();
    }
    for (std::size_t i = 0; i < writers.size(); ++i) {
        SCOPED_TRACE(writers[i].name);
        const auto status = children[i].wait_for(10s);
        ASSERT_TRUE(status.has_value()) << "still running; stderr:\n" << stderr_of(writers[i], "run");
        ASSERT_TRUE(status->success()) << status->describe() << "; stderr:\n" << stderr_of(writers[i], "run");
        ASSERT_TRUE(said[i].done) << stderr_of(writers[i], "run");
        EXPECT_TRUE(said[i].errors.empty()) << said[i].errors.front();
        EXPECT_TRUE(said[i].unparsed.empty()) << said[i].unparsed.front();
        EXPECT_EQ(said[i].vote_acks().size(), static_cast<std::size_t>(votes));  // distinct voters: none is a repeat
    }

    // Both writers' stores, each brought up to the log end by its own tail, and a third
    // store replayed from offset 0.
    auto first = catch_up(writers[0].data_dir);
    auto second = catch_up(writers[1].data_dir);
    auto fresh = catch_up(dir_.path() / "replay");
    EXPECT_EQ(fresh.tail->stats().skipped, 0);
    const log_verdicts verdicts = judge_log(bootstrap());
    EXPECT_GT(verdicts.losers, 0) << "the writers never conflicted: the test did not test concurrency";
    EXPECT_EQ(fresh.tail->stats().losers + fresh.tail->stats().duplicates, verdicts.losers);
    expect_store_follows_the_rule(*fresh.store, verdicts, ids);
    // Every ACK applied once where it was told, nothing applied twice or unsent, both
    // writers' stores and the fresh one equal to a replay of the log.
    expect_history_holds(said, {first.store.get(), second.store.get(), fresh.store.get()});

    auto reader = eventstore::aggregate_reader::open(bootstrap());
    ASSERT_TRUE(reader.has_value()) << reader.error();
    std::map<std::string, history> histories;
    for (const auto& id : ids) histories[id] = read_history(**reader, *fresh.store, id);

    // Each review was submitted once, although both writers sent a submission (the second
    // is an idempotent repeat, or a loser decided again into one).
    std::map<std::string, int> submit_acks;
    for (const auto& t : said) {
        for (const auto& a : t.acks) {
            if (a.command_id.find("-submit-") != std::string::npos) {
                ++submit_acks[a.aggregate_id];
                EXPECT_EQ(a.version, 1U) << a.command_id;
            }
        }
    }
    std::map<std::string, std::set<std::string>> acked_voters;
    for (const auto& t : said) {
        for (const auto& a : t.vote_acks()) acked_voters[a.aggregate_id].insert(voter_of(a.command_id));
    }
    for (const auto& id : ids) {
        SCOPED_TRACE(id);
        EXPECT_EQ(submit_acks[id], 1);
        const history& h = histories[id];
        auto loaded = fresh.store->load(ctx, id);
        ASSERT_TRUE(loaded.has_value() && loaded->has_value());
        auto state = eventstore::review_aggregate::decode_state((*loaded)->snapshot);
        ASSERT_TRUE(state.has_value()) << state.error().detail;
        // The ACKed votes are the review's votes, each counted once.
        EXPECT_EQ(state->helpful_count(), acked_voters[id].size());
        EXPECT_EQ(h.events.size(), acked_voters[id].size() + 1);
        for (const auto& voter : acked_voters[id]) {
            EXPECT_TRUE(has_voted(*fresh.store, id, voter)) << voter;
            EXPECT_EQ(h.votes_by_voter.contains(voter) ? h.votes_by_voter.at(voter) : 0, 1) << voter;
        }
    }
}

// ---- crash and restart -----------------------------------------------------------------

class crash : public multi_process_fixture {};

TEST_F(crash, a_writer_killed_anywhere_and_restarted_loses_no_ack_and_applies_nothing_twice) {
    constexpr int reviews = 3;
    constexpr int votes = 60;
    const std::vector<std::string> ids = review_ids(reviews);
    struct round {
        std::uint64_t seed;
        std::vector<int> kills;  // ACKs to wait for before each SIGKILL; 0: a random 0-100 ms after start
        const char* when;
    };
    // Every round adds to the same log and reviews, so later rounds also replay and catch
    // up over the history of earlier ones.
    std::mt19937_64 random(20240611);
    auto between = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
    const std::vector<round> rounds = {
        {7, {0}, "immediately"},
        {8, {between(1, 4)}, "after a few ACKs"},
        {9, {between(votes / 4, 3 * votes / 4)}, "mid-stream"},
        {10, {between(5, votes / 2), between(5, votes / 2)}, "mid-stream, and again after the restart"},
    };

    std::vector<transcript> said;  // every run of every round: all of them wrote this log
    for (std::size_t r = 0; r < rounds.size(); ++r) {
        const round& rd = rounds[r];
        std::string kills;
        for (int k : rd.kills) kills += " " + std::to_string(k);
        SCOPED_TRACE("round " + std::to_string(r) + ": killed " + rd.when + " (after ACKs:" + kills + ")");
        const writer_config w{"crash" + std::to_string(r), dir_.path() / ("crash" + std::to_string(r)), reviews, votes,
                              8, rd.seed};

        // The killed runs.
        for (std::size_t k = 0; k < rd.kills.size(); ++k) {
            const std::string run = "killed" + std::to_string(k);
            ASSERT_NO_FATAL_FAILURE(run_and_kill(bootstrap(), w, run, rd.kills[k], between(0, 100), said));
        }

        // The last run on the same store, to the end.
        transcript after;
        {
            auto child = spawn_writer(bootstrap(), w, "restarted");
            read_to_end(child, after, eventstore::clock::now() + 40s);
            const auto status = child.wait_for(10s);
            ASSERT_TRUE(status.has_value() && status->success())
                << (status ? status->describe() : "still running") << "; stderr:\n" << stderr_of(w, "restarted");
            ASSERT_TRUE(after.done);
            EXPECT_TRUE(after.errors.empty()) << after.errors.front();
            EXPECT_TRUE(after.unparsed.empty()) << after.unparsed.front();
            // Every vote is answered: applied, a duplicate of the killed run's commit, or (when
            // that fell out of the duplicate window) an idempotent repeat.
            std::set<std::string> answered;
            for (const auto& a : after.vote_acks()) answered.insert(a.command_id);
            for (const auto& n : after.noops) {
                if (n.find("-vote-") != std::string::npos) answered.insert(n);
            }
            EXPECT_EQ(answered.size(), static_cast<std::size_t>(votes));
        }
        said.push_back(after);

        auto restarted = catch_up(w.data_dir);
        auto fresh = catch_up(dir_.path() / ("replay" + std::to_string(r)));
        EXPECT_EQ(fresh.tail->stats().skipped, 0);
        const log_verdicts verdicts = judge_log(bootstrap());
        expect_store_follows_the_rule(*fresh.store, verdicts, ids);
        // Every ACK before the kills and after the restart applied once where it was told,
        // nothing twice, the restarted store and a fresh one equal to a replay of the log.
        expect_history_holds(said, {restarted.store.get(), fresh.store.get()});

        // Every vote of this writer applied, each voter counted once (the restarted run's
        // answers include repeats, so the checker's 2xx rule alone does not say that).
        auto reader = eventstore::aggregate_reader::open(bootstrap());
        ASSERT_TRUE(reader.has_value()) << reader.error();
        std::set<std::string> applied_votes;
        for (const auto& id : ids) {
            const history h = read_history(**reader, *fresh.store, id);
            for (const auto& e : h.events) {
                if (e.command_id.rfind(w.name + "-vote-", 0) == 0) applied_votes.insert(e.command_id);
            }
            for (const auto& [voter, count] : h.votes_by_voter) EXPECT_EQ(count, 1) << voter << " on " << id;
        }
        EXPECT_EQ(applied_votes.size(), static_cast<std::size_t>(votes));
    }
}

}  // namespace
}  // namespace shopstream
