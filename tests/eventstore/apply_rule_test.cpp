// The apply rule (eventstore/apply_rule.hpp): the verdict table, the bounded window of
// recent command ids, and a model check of what ARCHITECTURE.md ("The one hard problem")
// relies on - several writers deciding on stale views, producer retries duplicating
// records, losers re-deciding under the same command id - over thousands of schedules.
#include "eventstore/apply_rule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace shopstream::eventstore {
namespace {

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();

position at(std::size_t offset) { return position{partition_id(0), log_offset(static_cast<std::int64_t>(offset))}; }

std::string id(std::size_t n) { return "cmd-" + std::to_string(n); }

// A head that applied `ids` in order, one event each, at offsets 0, 1, ...
aggregate_head head_after(const std::vector<std::string>& ids) {
    aggregate_head h;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(judge(h, ids[i], h.version).verdict, verdict::applied);
        record_applied(h, ids[i], 1, at(i));
    }
    return h;
}

// ---- the verdict table ---------------------------------------------------------------

TEST(apply_rule, verdicts_have_stable_names_and_wire_values) {
    EXPECT_EQ(name_of(verdict::applied), "applied");
    EXPECT_EQ(name_of(verdict::loser), "loser");
    EXPECT_EQ(name_of(verdict::duplicate), "duplicate");
    EXPECT_EQ(static_cast<int>(verdict::applied), 0);
    EXPECT_EQ(static_cast<int>(verdict::loser), 1);
    EXPECT_EQ(static_cast<int>(verdict::duplicate), 2);
}

TEST(apply_rule, a_new_aggregate_applies_a_commit_expecting_version_zero) {
    const aggregate_head fresh;
    EXPECT_EQ(fresh.version, 0U);
    const judgement j = judge(fresh, "cmd-1", 0);
    EXPECT_EQ(j.verdict, verdict::applied);
    EXPECT_FALSE(j.original.has_value());
}

TEST(apply_rule, a_commit_expecting_another_version_loses) {
    // A new aggregate: anything but 0 loses (a writer cannot have seen a version 1 that
    // does not exist; only a corrupt or foreign writer sends it).
    for (std::uint64_t expected : {std::uint64_t{1}, std::uint64_t{2}, max_u64}) {
        const judgement j = judge(aggregate_head{}, "cmd-1", expected);
        EXPECT_EQ(j.verdict, verdict::loser) << expected;
        EXPECT_FALSE(j.original.has_value());
    }
    // An aggregate at version 5: below (stale, the usual loser) and above (from the future).
    const aggregate_head h = head_after({"a", "b", "c", "d", "e"});
    ASSERT_EQ(h.version, 5U);
    for (std::uint64_t expected : {std::uint64_t{0}, std::uint64_t{4}, std::uint64_t{6}, max_u64}) {
        const judgement j = judge(h, "new-cmd", expected);
        EXPECT_EQ(j.verdict, verdict::loser) << expected;
        EXPECT_FALSE(j.original.has_value());
    }
    EXPECT_EQ(judge(h, "new-cmd", 5).verdict, verdict::applied);
}

TEST(apply_rule, a_known_command_id_is_a_duplicate_answered_with_its_original_application) {
    aggregate_head h;
    const applied_command first = record_applied(h, "place", 2, position{partition_id(3), log_offset(10)});
    record_applied(h, "pay", 1, position{partition_id(3), log_offset(11)});
    ASSERT_EQ(h.version, 3U);
    const applied_command expected_original{"place", 2, position{partition_id(3), log_offset(10)}};
    EXPECT_EQ(first, expected_original);

    // The producer retry: the same record again, with its (now stale) expected version 0.
    const judgement retry = judge(h, "place", 0);
    EXPECT_EQ(retry.verdict, verdict::duplicate);
    ASSERT_TRUE(retry.original.has_value());
    EXPECT_EQ(*retry.original, expected_original);

    // Expected version equal to the current one. A correct writer never sends this: it
    // decides on a prefix of the log, so either its view does not hold the original
    // application - then its expected version is at most the version *before* the
    // original, which is strictly below the current one (the original added >= 1 event
    // and versions never go down) - or its view holds it, and then its own recent
    // command ids show the command done and it answers with the original instead of
    // producing. Only a corrupt writer (one that skips that check, or invents versions)
    // produces it. The duplicate check still wins: version-only, it would apply a second
    // time - a command executed twice.
    const judgement corrupt = judge(h, "place", h.version);
    EXPECT_EQ(corrupt.verdict, verdict::duplicate);
    ASSERT_TRUE(corrupt.original.has_value());
    EXPECT_EQ(*corrupt.original, expected_original);

    // Above the current version, too: a known command id is a duplicate whatever it expects.
    for (std::uint64_t expected : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{4}, max_u64}) {
        const judgement j = judge(h, "pay", expected);
        EXPECT_EQ(j.verdict, verdict::duplicate) << expected;
        ASSERT_TRUE(j.original.has_value());
        EXPECT_EQ(*j.original, (applied_command{"pay", 3, position{partition_id(3), log_offset(11)}}));
    }
}

TEST(apply_rule, command_ids_are_compared_exactly) {
    const aggregate_head h = head_after({"cmd-1"});
    const std::vector<std::string> others = {
        "cmd-10", "cmd-", "CMD-1", "cmd-1 ", std::string("cmd-1\0", 6), ""};
    for (const std::string& other : others) {
        EXPECT_EQ(judge(h, other, h.version).verdict, verdict::applied) << other;
        EXPECT_EQ(judge(h, other, 0).verdict, verdict::loser) << other;
    }
}

TEST(apply_rule, judging_does_not_change_the_head) {
    const aggregate_head h = head_after({"a", "b"});
    const aggregate_head before = h;
    (void)judge(h, "a", 0);
    (void)judge(h, "c", 2);
    (void)judge(h, "c", 9);
    EXPECT_EQ(h, before);
}

TEST(apply_rule, record_applied_advances_the_version_by_the_event_count) {
    aggregate_head h;
    const std::vector<std::size_t> counts = {1, 3, 1, 7, 2};
    std::uint64_t version = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        ASSERT_EQ(judge(h, id(i), version).verdict, verdict::applied);
        const applied_command a =
            record_applied(h, id(i), counts[i], position{partition_id(1), log_offset(100 + static_cast<std::int64_t>(i))});
        version += counts[i];
        EXPECT_EQ(h.version, version);
        EXPECT_EQ(
            a, (applied_command{id(i), version, position{partition_id(1), log_offset(100 + static_cast<std::int64_t>(i))}}));
        ASSERT_FALSE(h.recent_commands.empty());
        EXPECT_EQ(h.recent_commands.back(), a);  // newest last
    }
    EXPECT_EQ(h.recent_commands.size(), counts.size());
    EXPECT_EQ(h.recent_commands.front().command_id, id(0));  // oldest first
}

TEST(apply_rule, record_applied_keeps_at_most_the_window_evicting_the_oldest_first) {
    aggregate_head h;
    const std::size_t total = 3 * recent_command_window + 5;
    for (std::size_t i = 0; i < total; ++i) {
        record_applied(h, id(i), 1 + i % 3, at(i));
        const std::size_t expected_size = std::min(i + 1, recent_command_window);
        ASSERT_EQ(h.recent_commands.size(), expected_size) << i;
        // Exactly the most recent ids, oldest first.
        const std::size_t first = i + 1 - expected_size;
        for (std::size_t k = 0; k < expected_size; ++k) {
            ASSERT_EQ(h.recent_commands[k].command_id, id(first + k)) << i << "/" << k;
            ASSERT_EQ(h.recent_commands[k].at, at(first + k));
        }
    }
    std::uint64_t version = 0;
    for (std::size_t i = 0; i < total; ++i) version += 1 + i % 3;
    EXPECT_EQ(h.version, version);
    EXPECT_EQ(h.recent_commands.back().version, version);
}

TEST(apply_rule, a_head_restored_with_too_many_ids_is_cut_back_to_the_window) {
    aggregate_head h;
    for (std::size_t i = 0; i < recent_command_window + 10; ++i) {
        h.recent_commands.push_back(applied_command{id(i), i + 1, at(i)});
    }
    h.version = recent_command_window + 10;
    record_applied(h, "next", 1, at(999));
    ASSERT_EQ(h.recent_commands.size(), recent_command_window);
    EXPECT_EQ(h.recent_commands.front().command_id, id(11));
    EXPECT_EQ(h.recent_commands.back().command_id, "next");
}

// ---- the bounded window --------------------------------------------------------------

// A copy of a record arriving after more than recent_command_window other commands of
// its aggregate is no longer recognised as a duplicate: it is judged by version alone,
// and loses. That is safe because a copy carries the expected version its original was
// decided on, and once the original applied the aggregate's version is strictly greater
// (it added >= 1 event; versions only grow) - so the version check refuses the copy on
// its own, however late it comes. Only the answer differs (loser instead of duplicate);
// state, projections and the saga are the same for every reader, which all use the same
// window. The window exists to give retries their original answer, not for safety.
TEST(apply_rule, a_copy_beyond_the_window_is_a_loser_never_applied_twice) {
    for (std::size_t events : {std::size_t{1}, std::size_t{4}}) {
        aggregate_head h;
        ASSERT_EQ(judge(h, "original", 0).verdict, verdict::applied);
        const applied_command original = record_applied(h, "original", events, at(0));
        // Up to window - 1 other commands, the original is still remembered.
        for (std::size_t i = 1; i < recent_command_window; ++i) {
            record_applied(h, id(i), 1, at(i));
            const judgement j = judge(h, "original", 0);
            ASSERT_EQ(j.verdict, verdict::duplicate) << i;
            ASSERT_EQ(j.original, original);
        }
        // The window-th other command evicts it: the copy is judged on its version and loses.
        record_applied(h, id(recent_command_window), 1, at(recent_command_window));
        for (std::size_t more = 0; more < 3 * recent_command_window; ++more) {
            const judgement j = judge(h, "original", 0);
            ASSERT_EQ(j.verdict, verdict::loser) << more;
            ASSERT_FALSE(j.original.has_value());
            ASSERT_GT(h.version, 0U);  // why: the copy's expected version is behind for good
            record_applied(h, id(recent_command_window + 1 + more), 1,
                           at(recent_command_window + 1 + more));
        }
    }
}

// The flip side, stated so nobody relies on more than the rule gives: past the window the
// rule cannot tell a command that already applied from a new one. A *copy* is harmless
// (above), but a writer that decides the same command id again on a fresh view after its
// own copy lost (ARCHITECTURE.md point 3: "decided again on the new state") gets it applied
// a second time. Inside the window the copy is a duplicate and the writer gets the
// original; beyond it, only the idempotent producer (no copies at all) or a writer that
// answers from a copy's duplicate verdict before re-deciding keeps a command single.
TEST(apply_rule, beyond_the_window_a_re_decided_command_id_is_a_new_command) {
    aggregate_head h;
    record_applied(h, "once", 1, at(0));
    for (std::size_t i = 1; i <= recent_command_window; ++i) record_applied(h, id(i), 1, at(i));
    EXPECT_EQ(judge(h, "once", 0).verdict, verdict::loser);            // the late copy
    EXPECT_EQ(judge(h, "once", h.version).verdict, verdict::applied);  // a re-decision
}

// ---- model check: writers, stale views, duplicated records ---------------------------
//
// The simulated system. A log (one partition) holds records; each is a commit for one
// aggregate: command id, expected version, event count. Writers each work through a
// list of commands. To decide, a writer takes a view - the heads after some prefix of the
// log, never shorter than what it has already read (its tail only moves forward) - and,
// unless its view shows the command id already applied (then it answers with that
// application, as the api does for a retried Idempotency-Key), produces a record
// expecting the view's version. It then waits for the verdict at the offset its delivery
// report names - the record or any producer-retry copy of it. applied / duplicate: it
// acknowledges; loser: it decides the same command id again on a fresher view. At any
// point a producer retry may append a copy of any earlier record. Several writers may
// share a command id (two saga instances during a rebalance, a client retrying on another
// api instance). Which action runs next, which view, which copy: the schedule.

struct record {
    std::string aggregate;
    std::string command_id;
    std::uint64_t expected_version = 0;
    std::size_t events = 1;
    std::size_t attempt = 0;  // one produce call; its copies share it
    bool copy = false;
};

using heads = std::map<std::string, aggregate_head>;
struct command_plan {
    std::string aggregate;
    std::string command_id;
    std::size_t events = 1;
};

struct scenario {
    std::vector<std::vector<command_plan>> writers;  // each writer's commands, in order
    std::size_t max_copies = 0;                      // producer-retry copies per schedule
    bool any_view = true;  // false: views are only the writer's tail or the log's end
    bool corrupt = false;  // writers skip the "already applied in my view" check
    // true: only a record whose writer still waits for its verdict is copied (a producer
    // retrying before its delivery report); false: any earlier record (zombies too).
    bool copies_in_flight_only = false;
};

struct acknowledgement {
    std::size_t writer = 0;
    std::string aggregate;
    std::string command_id;
    applied_command answer;
};

struct run {
    std::vector<record> log;
    std::vector<judgement> live;  // the verdicts the writers' own tails reached
    std::vector<acknowledgement> acks;
    std::size_t steps = 0;
};

// Supplies a schedule's choices: pick(n) in [0, n).
class chooser {
public:
    virtual ~chooser() = default;
    virtual std::size_t pick(std::size_t n) = 0;
};

// Deterministic pseudo-random (splitmix64: the same sequence on every platform).
class random_chooser final : public chooser {
public:
    explicit random_chooser(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31U);
    }
    std::size_t pick(std::size_t n) override { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t state_;
};

// Every schedule, depth first: the simulation is deterministic given its choices, so
// replaying a prefix of choices and then taking the next untried branch enumerates all.
class enumerating_chooser final : public chooser {
public:
    std::size_t pick(std::size_t n) override {
        if (depth_ < trail_.size()) {
            EXPECT_EQ(trail_[depth_].second, n) << "the simulation is not deterministic";
            return trail_[depth_++].first;
        }
        trail_.emplace_back(0, n);
        ++depth_;
        return 0;
    }
    // Moves to the next schedule; false when all were visited.
    bool advance() {
        depth_ = 0;
        while (!trail_.empty()) {
            auto& [choice, n] = trail_.back();
            if (choice + 1 < n) {
                ++choice;
                return true;
            }
            trail_.pop_back();
        }
        return false;
    }

private:
    std::vector<std::pair<std::size_t, std::size_t>> trail_;  // (choice, of n)
    std::size_t depth_ = 0;
};

std::optional<applied_command> find_in_window(const aggregate_head& h,
                                              const std::string& command_id) {
    for (const auto& a : h.recent_commands) {
        if (a.command_id == command_id) return a;
    }
    return std::nullopt;
}

// The rule under test: the real one, or a deliberately broken one (to show the checks
// below do catch a wrong rule).
struct rule {
    judgement (*judge)(const aggregate_head&, std::string_view, std::uint64_t) = eventstore::judge;
    applied_command (*record)(aggregate_head&, std::string, std::size_t,
                              position) = eventstore::record_applied;
};

run simulate(const scenario& s, chooser& choose, const rule& rl = {}) {
    struct writer_state {
        std::size_t next = 0;              // index of the command in hand
        bool waiting = false;              // produced, verdict not read yet
        std::size_t tail = 0;              // records read so far (views start here)
        std::size_t attempt = 0;           // the produce it waits for
        std::vector<std::size_t> offsets;  // that produce's record and its copies
    };
    run r;
    // after[o]: the head of record o's aggregate once record o was judged. A view of the
    // first k records is the head after the last of them that touched the aggregate.
    std::vector<aggregate_head> after;
    const auto view_of = [&](std::size_t k, const std::string& aggregate) -> aggregate_head {
        for (std::size_t o = k; o-- > 0;) {
            if (r.log[o].aggregate == aggregate) return after[o];
        }
        return aggregate_head{};
    };
    std::vector<writer_state> writers(s.writers.size());
    std::size_t copies = 0;
    std::size_t attempts = 0;

    const auto append = [&](record rec) {
        aggregate_head h = view_of(r.log.size(), rec.aggregate);
        judgement j = rl.judge(h, rec.command_id, rec.expected_version);
        if (j.verdict == verdict::applied)
            rl.record(h, rec.command_id, rec.events, at(r.log.size()));
        r.live.push_back(std::move(j));
        r.log.push_back(std::move(rec));
        after.push_back(std::move(h));
    };

    enum class kind { decide, learn, copy };
    struct action {
        kind what;
        std::size_t who;
    };
    for (;;) {
        std::vector<action> actions;
        bool all_done = true;
        for (std::size_t w = 0; w < writers.size(); ++w) {
            if (writers[w].next == s.writers[w].size()) continue;
            all_done = false;
            actions.push_back({writers[w].waiting ? kind::learn : kind::decide, w});
        }
        if (copies < s.max_copies) {
            for (std::size_t o = 0; o < r.log.size(); ++o) {
                if (r.log[o].copy) continue;
                const bool in_flight =
                    std::any_of(writers.begin(), writers.end(), [&](const writer_state& w) {
                        return w.waiting && w.attempt == r.log[o].attempt;
                    });
                if (in_flight || !s.copies_in_flight_only) actions.push_back({kind::copy, o});
            }
        }
        // Once every writer is done, the schedule may still end with late copies.
        if (all_done && (actions.empty() || choose.pick(2) == 0)) break;
        const action a = actions[choose.pick(actions.size())];
        ++r.steps;
        EXPECT_LT(r.steps, 1000U) << "a schedule that does not end";
        if (r.steps >= 1000) break;

        if (a.what == kind::copy) {
            record dup = r.log[a.who];
            dup.copy = true;
            ++copies;
            for (auto& w : writers) {
                if (w.waiting && w.attempt == dup.attempt) w.offsets.push_back(r.log.size());
            }
            append(std::move(dup));
            continue;
        }
        writer_state& w = writers[a.who];
        const command_plan& cmd = s.writers[a.who][w.next];
        if (a.what == kind::decide) {
            std::size_t view = r.log.size();
            if (s.any_view) {
                view = w.tail + choose.pick(r.log.size() - w.tail + 1);
            } else if (w.tail != r.log.size() && choose.pick(2) == 0) {
                view = w.tail;
            }
            w.tail = view;
            const aggregate_head seen = view_of(view, cmd.aggregate);
            if (!s.corrupt) {
                if (auto done = find_in_window(seen, cmd.command_id)) {
                    r.acks.push_back({a.who, cmd.aggregate, cmd.command_id, *done});
                    ++w.next;
                    continue;
                }
            }
            w.waiting = true;
            w.attempt = ++attempts;
            w.offsets = {r.log.size()};
            append(
                record{cmd.aggregate, cmd.command_id, seen.version, cmd.events, w.attempt, false});
            continue;
        }
        // learn: the verdict at the offset the delivery report names.
        const std::size_t o = w.offsets[choose.pick(w.offsets.size())];
        w.tail = std::max(w.tail, o + 1);
        w.waiting = false;
        const judgement& j = r.live[o];
        if (j.verdict == verdict::loser) continue;  // decide again, same command id
        const applied_command answer =
            j.verdict == verdict::applied ? applied_command{cmd.command_id, after[o].version, at(o)}
                                          : *j.original;
        r.acks.push_back({a.who, cmd.aggregate, cmd.command_id, answer});
        ++w.next;
    }
    return r;
}

// One reader over the whole log. restart_every > 0: the reader persists its heads and
// starts again from them every that many records (a process restart over its state store).
std::pair<std::vector<judgement>, heads> replay(const std::vector<record>& log,
                                                std::size_t restart_every, const rule& rl) {
    std::vector<judgement> verdicts;
    heads hs;
    for (std::size_t o = 0; o < log.size(); ++o) {
        if (restart_every > 0 && o % restart_every == 0) {
            const heads persisted = hs;
            hs = persisted;
        }
        aggregate_head& h = hs[log[o].aggregate];
        judgement j = rl.judge(h, log[o].command_id, log[o].expected_version);
        if (j.verdict == verdict::applied) rl.record(h, log[o].command_id, log[o].events, at(o));
        verdicts.push_back(std::move(j));
    }
    return {std::move(verdicts), std::move(hs)};
}

std::string describe(const scenario& s, const run& r) {
    std::ostringstream out;
    out << s.writers.size() << " writers, " << (s.corrupt ? "corrupt, " : "") << "log:\n";
    for (std::size_t o = 0; o < r.log.size(); ++o) {
        const record& rec = r.log[o];
        out << "  " << o << ": " << rec.aggregate << " " << rec.command_id << " @"
            << rec.expected_version << " +" << rec.events << (rec.copy ? " (copy)" : "") << " -> "
            << name_of(r.live[o].verdict) << "\n";
    }
    for (const auto& a : r.acks) {
        out << "  ack w" << a.writer << " " << a.aggregate << " " << a.command_id << " v"
            << a.answer.version << " at " << to_string(a.answer.at) << "\n";
    }
    return out.str();
}

bool same(const judgement& a, const judgement& b) {
    return a.verdict == b.verdict && a.original == b.original;
}

// The invariants. Returns a failure with the schedule printed, so the first failing
// schedule can be read and replayed.
testing::AssertionResult check(const scenario& s, const run& r, const rule& rl = {}) {
    const auto failure = [&](const std::string& what) {
        return testing::AssertionFailure() << what << "\n" << describe(s, r);
    };
    const auto& log = r.log;

    // (0) The model itself: a writer's view is a prefix, so no record expects a version
    //     its aggregate has not reached yet at that point of the log.
    {
        std::map<std::string, std::uint64_t> version;
        for (std::size_t o = 0; o < log.size(); ++o) {
            if (log[o].expected_version > version[log[o].aggregate])
                return failure("model: record " + std::to_string(o) + " expects a future version");
            if (r.live[o].verdict == verdict::applied) version[log[o].aggregate] += log[o].events;
        }
    }

    // (1) Two independent readers - one reading straight through, one restarting from its
    //     persisted heads every 3 records - reach identical verdicts and identical heads,
    //     and the same verdicts the writers' tails reached while the log was written.
    const auto [verdicts, final_heads] = replay(log, 0, rl);
    const auto [verdicts_b, final_heads_b] = replay(log, 3, rl);
    if (final_heads != final_heads_b) return failure("(1) two readers end with different heads");
    for (std::size_t o = 0; o < log.size(); ++o) {
        if (!same(verdicts[o], verdicts_b[o]) || !same(verdicts[o], r.live[o]))
            return failure("(1) readers disagree on record " + std::to_string(o));
    }

    // The first application of each (aggregate, command id), found without the rule's
    // window: by scanning the verdicts.
    std::map<std::pair<std::string, std::string>, applied_command> first_application;
    std::map<std::string, std::uint64_t> resulting;  // per aggregate, after the last applied
    for (std::size_t o = 0; o < log.size(); ++o) {
        const record& rec = log[o];
        const auto key = std::make_pair(rec.aggregate, rec.command_id);
        if (verdicts[o].verdict == verdict::applied) {
            // (2) At most one application per command id per aggregate.
            if (first_application.contains(key))
                return failure("(2) " + rec.command_id + " applied twice, again at " +
                               std::to_string(o));
            // (3) A gap-free chain 0 -> 1 -> ... -> n: each applied commit expects exactly the
            //     version the previous applied commit of its aggregate resulted in.
            if (rec.expected_version != resulting[rec.aggregate])
                return failure("(3) applied record " + std::to_string(o) +
                               " leaves a gap or overlap");
            resulting[rec.aggregate] = rec.expected_version + rec.events;
            first_application[key] =
                applied_command{rec.command_id, resulting[rec.aggregate], at(o)};
        } else if (verdicts[o].verdict == verdict::duplicate) {
            // (4) A duplicate's original is exactly the first application of its command id.
            const auto it = first_application.find(key);
            if (it == first_application.end() || verdicts[o].original != it->second)
                return failure("(4) duplicate at " + std::to_string(o) +
                               " names the wrong original");
        }
    }
    for (const auto& [aggregate, h] : final_heads) {
        if (h.version != resulting[aggregate])
            return failure("(3) head " + aggregate + " is off the chain");
    }

    // (5) The duplicate check never changes which records apply. A shadow reader that
    //     judges by version alone (no duplicate detection, its own heads) applies exactly
    //     the same records as the rule - so every duplicate would have been a loser to it
    //     too, and "duplicate" only relabels a version refusal whose command id already
    //     applied. Exactly what is checked, per record o:
    //       rule applied(o)  <=>  shadow applied(o);
    //       rule duplicate(o) => the record expects a version strictly below the current one;
    //       rule duplicate(o) => its original carries the same command id.
    //     With corrupt writers this is not true - there the duplicate check is what stops a
    //     second application, and (2) above is the invariant that must still hold.
    if (!s.corrupt) {
        std::map<std::string, std::uint64_t> shadow;
        for (std::size_t o = 0; o < log.size(); ++o) {
            const record& rec = log[o];
            const bool shadow_applies = rec.expected_version == shadow[rec.aggregate];
            if (shadow_applies) shadow[rec.aggregate] += rec.events;
            if (shadow_applies != (verdicts[o].verdict == verdict::applied))
                return failure("(5) the duplicate check changed whether record " +
                               std::to_string(o) + " applies");
            if (verdicts[o].verdict == verdict::duplicate) {
                if (rec.expected_version >= shadow[rec.aggregate])
                    return failure("(5) duplicate at " + std::to_string(o) + " is not stale");
                if (!verdicts[o].original || verdicts[o].original->command_id != rec.command_id)
                    return failure("(5) duplicate at " + std::to_string(o) + " of another command");
            }
        }
    }

    // (6) ARCHITECTURE.md point 3: a writer acknowledges only what readers applied. Every
    //     acknowledgement names the first (and only) application of its command id, and
    //     once every writer finished, every planned command applied exactly once.
    for (const auto& a : r.acks) {
        const auto it = first_application.find({a.aggregate, a.command_id});
        if (it == first_application.end() || it->second != a.answer)
            return failure("(6) w" + std::to_string(a.writer) + " acknowledged " + a.command_id +
                           " with something readers did not apply");
    }
    std::set<std::pair<std::string, std::string>> planned;
    std::size_t planned_count = 0;
    for (const auto& commands : s.writers) {
        for (const auto& c : commands) {
            planned.insert({c.aggregate, c.command_id});
            ++planned_count;
        }
    }
    if (r.acks.size() != planned_count) return failure("(6) a writer did not finish");
    for (const auto& key : planned) {
        if (!first_application.contains(key))
            return failure("(6) " + key.second + " never applied");
    }
    if (first_application.size() != planned.size())
        return failure("(6) an unplanned command applied");
    return testing::AssertionSuccess();
}

// Runs every schedule of `s`; returns how many there were.
std::size_t enumerate_all(const scenario& s, std::size_t limit) {
    enumerating_chooser choose;
    std::size_t schedules = 0;
    do {
        const run r = simulate(s, choose);
        ++schedules;
        const auto ok = check(s, r);
        if (!ok) {
            ADD_FAILURE() << "schedule " << schedules << ": " << ok.message();
            return schedules;
        }
        if (schedules >= limit) {
            ADD_FAILURE() << "more than " << limit << " schedules";
            return schedules;
        }
    } while (choose.advance());
    return schedules;
}

// A random scenario: 2-4 writers, 1-3 aggregates, 1-3 commands each with 1-3 events,
// some command ids shared between writers, up to 4 copies.
scenario random_scenario(random_chooser& rng, bool corrupt) {
    scenario s;
    s.corrupt = corrupt;
    s.max_copies = rng.pick(5);
    const std::size_t aggregates = 1 + rng.pick(3);
    const std::size_t writers = 2 + rng.pick(3);
    std::size_t next_id = 0;
    std::vector<command_plan> issued;
    for (std::size_t w = 0; w < writers; ++w) {
        std::vector<command_plan> commands;
        const std::size_t n = 1 + rng.pick(3);
        for (std::size_t k = 0; k < n; ++k) {
            command_plan c;
            const bool shared = !issued.empty() && rng.pick(4) == 0;
            if (shared) {
                // The same command issued by another process; it may produce other events.
                c = issued[rng.pick(issued.size())];
                c.events = 1 + rng.pick(3);
                if (std::any_of(commands.begin(), commands.end(), [&](const command_plan& mine) {
                        return mine.aggregate == c.aggregate && mine.command_id == c.command_id;
                    })) {
                    continue;
                }
            } else {
                c = command_plan{"agg-" + std::to_string(rng.pick(aggregates)), id(next_id++),
                                 1 + rng.pick(3)};
                issued.push_back(c);
            }
            commands.push_back(c);
        }
        s.writers.push_back(std::move(commands));
    }
    return s;
}

// Tiny cases, every schedule (views: the writer's tail or the log's end). The counts pin
// the enumeration down: a change of the model that silently explores fewer schedules
// fails here, and has to be looked at.
TEST(apply_rule_model, every_schedule_of_two_writers_with_two_copies) {
    scenario s;
    s.writers = {{{"agg", "a", 1}}, {{"agg", "b", 2}}};
    s.max_copies = 2;  // of any earlier record, zombies included
    s.any_view = false;
    EXPECT_EQ(enumerate_all(s, 100'000), 3652U);
}

TEST(apply_rule_model, every_schedule_of_two_writers_sharing_a_command_id) {
    // Two saga instances during a rebalance issue the same step (they may compute other
    // events from their different views); two copies on top.
    scenario s;
    s.writers = {{{"agg", "step", 1}}, {{"agg", "step", 2}}};
    s.max_copies = 2;
    s.any_view = false;
    EXPECT_EQ(enumerate_all(s, 100'000), 496U);
}

TEST(apply_rule_model, every_schedule_of_three_writers_one_shared_command_id) {
    scenario s;
    s.writers = {{{"agg", "a", 1}}, {{"agg", "c", 1}}, {{"agg", "a", 2}}};
    s.any_view = false;
    EXPECT_EQ(enumerate_all(s, 100'000), 2096U);
}

TEST(apply_rule_model, every_schedule_of_two_aggregates_in_one_log) {
    scenario s;
    s.writers = {{{"x", "a", 1}, {"y", "b", 1}}, {{"y", "b", 2}}};
    s.max_copies = 1;
    s.any_view = false;
    s.copies_in_flight_only = true;
    EXPECT_EQ(enumerate_all(s, 100'000), 378U);
}

// Random schedules: 2-4 writers, 1-3 aggregates in one log, 1-3 commands each, shared
// command ids, up to 4 copies of any earlier record, views anywhere between a writer's
// tail and the log's end, delivery reports naming any copy. Fixed seeds.
TEST(apply_rule_model, random_schedules_of_two_to_four_writers) {
    std::size_t records = 0;
    std::map<verdict, std::size_t> seen;
    for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
        random_chooser rng(seed);
        const scenario s = random_scenario(rng, false);
        const run r = simulate(s, rng);
        const auto ok = check(s, r);
        ASSERT_TRUE(ok) << "seed " << seed;
        records += r.log.size();
        for (const auto& j : r.live) ++seen[j.verdict];
    }
    // The schedules do reach every verdict, many times.
    EXPECT_GT(seen[verdict::applied], 1000U);
    EXPECT_GT(seen[verdict::loser], 1000U);
    EXPECT_GT(seen[verdict::duplicate], 1000U);
    RecordProperty("records", static_cast<int>(records));
}

// Writers that produce a command their own view already shows applied (the corrupt case
// in the verdict table): the rule still applies every command id at most once, and every
// acknowledgement is of the first application - the duplicate check is what keeps it so.
TEST(apply_rule_model, random_schedules_with_corrupt_writers) {
    std::size_t saved = 0;  // duplicates a version-only rule would have applied
    for (std::uint64_t seed = 1; seed <= 1000; ++seed) {
        random_chooser rng(seed * 7919);
        const scenario s = random_scenario(rng, true);
        const run r = simulate(s, rng);
        const auto ok = check(s, r);
        ASSERT_TRUE(ok) << "seed " << seed;
        std::map<std::string, std::uint64_t> version;
        for (std::size_t o = 0; o < r.log.size(); ++o) {
            if (r.live[o].verdict == verdict::duplicate &&
                r.log[o].expected_version == version[r.log[o].aggregate])
                ++saved;
            if (r.live[o].verdict == verdict::applied)
                version[r.log[o].aggregate] += r.log[o].events;
        }
    }
    EXPECT_GT(saved, 50U);  // the corrupt case does occur, and the duplicate check decides it
}

// ---- the checks have teeth ------------------------------------------------------------
//
// The same model and checks over deliberately broken rules: each must be caught, by the
// invariant named. (Kept here rather than as a mutation run so it stays true as the
// model evolves.)

judgement version_first(const aggregate_head& h, std::string_view command_id,
                        std::uint64_t expected) {
    if (expected == h.version) return {verdict::applied, std::nullopt};
    return judge(h, command_id, expected);
}

judgement no_duplicate_check(const aggregate_head& h, std::string_view, std::uint64_t expected) {
    return {expected == h.version ? verdict::applied : verdict::loser, std::nullopt};
}

judgement wrong_original(const aggregate_head& h, std::string_view command_id,
                         std::uint64_t expected) {
    judgement j = judge(h, command_id, expected);
    if (j.original) j.original->at.offset += 1;
    return j;
}

applied_command one_version_per_commit(aggregate_head& h, std::string command_id, std::size_t,
                                       position p) {
    return record_applied(h, std::move(command_id), 1, p);
}

// The first failure of `rl` over random schedules, or "" if it passed them all.
std::string first_failure(const rule& rl, bool corrupt) {
    for (std::uint64_t seed = 1; seed <= 400; ++seed) {
        random_chooser rng(seed);
        const scenario s = random_scenario(rng, corrupt);
        const run r = simulate(s, rng, rl);
        const auto ok = check(s, r, rl);
        if (!ok) return ok.message();
    }
    return "";
}

TEST(apply_rule_model, the_checks_catch_broken_rules) {
    // Version check first: with correct writers no different (a duplicate is always stale,
    // check (5)), with a corrupt writer a command applies twice.
    EXPECT_EQ(first_failure(rule{version_first, record_applied}, false), "");
    EXPECT_TRUE(first_failure(rule{version_first, record_applied}, true).starts_with("(2)"));
    // No duplicate check at all: with a corrupt writer a command applies twice.
    EXPECT_TRUE(first_failure(rule{no_duplicate_check, record_applied}, true).starts_with("(2)"));
    // A duplicate answered with the wrong original.
    EXPECT_TRUE(first_failure(rule{wrong_original, record_applied}, false).starts_with("(4)"));
    // Versions not advanced by the event count: the chain breaks.
    EXPECT_TRUE(first_failure(rule{judge, one_version_per_commit}, false).starts_with("(3)"));
}

}  // namespace
}  // namespace shopstream::eventstore
