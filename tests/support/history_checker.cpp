// The history checker (history_checker.hpp): judges the log with the event store's own
// decoder and apply rule, then checks every recorded answer, store and read against it.
#include "tests/support/history_checker.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>
#include <type_traits>
#include <utility>

#include "eventstore/aggregates.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/commit.hpp"

namespace shopstream::testing {

namespace es = eventstore;
using nlohmann::json;

// ---- answers and the recorder ---------------------------------------------------------

command_answer answer_of(const commands::command_result& r) {
    command_answer a;
    if (!r) {
        switch (r.error().code) {
            case commands::command_errc::rejected: a.status = 409; break;
            case commands::command_errc::precondition_failed: a.status = 412; break;
            case commands::command_errc::conflict: a.status = 409; break;
            case commands::command_errc::timed_out: a.status = 504; break;
            case commands::command_errc::unavailable: a.status = 503; break;
            case commands::command_errc::internal: a.status = 500; break;
        }
        return a;
    }
    a.status = 200;
    a.no_op = r->kind == commands::outcome_kind::unchanged;
    a.at = r->at;
    a.version = r->version;
    return a;
}

history_recorder::ticket history_recorder::sent(sent_command command) {
    std::lock_guard lock(mu_);
    recorded_attempt a;
    a.sequence = attempts_.size();
    a.command = std::move(command);
    a.sent_at = std::chrono::steady_clock::now();
    attempts_.push_back(std::move(a));
    return attempts_.back().sequence;
}

void history_recorder::answered(ticket t, command_answer answer) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    auto& a = attempts_.at(t);
    a.answer = std::move(answer);
    a.answered_at = now;
}

std::vector<recorded_attempt> history_recorder::attempts() const {
    std::lock_guard lock(mu_);
    return attempts_;
}

namespace {

std::int64_t ticks(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
std::chrono::steady_clock::time_point from_ticks(std::int64_t us) {
    return std::chrono::steady_clock::time_point(std::chrono::microseconds(us));
}

json to_json(const recorded_attempt& a) {
    json j = {{"sequence", a.sequence},
              {"context", std::string(es::name_of(a.command.ctx))},
              {"aggregate", a.command.aggregate_id},
              {"command", a.command.command_id},
              {"key", a.command.idempotency_key},
              {"request", a.command.request},
              {"sent_us", ticks(a.sent_at)}};
    if (a.answer) {
        json answer = {{"status", a.answer->status}, {"no_op", a.answer->no_op}, {"answered_us", ticks(a.answered_at)}};
        if (a.answer->at) answer["at"] = es::to_string(*a.answer->at);
        if (a.answer->version) answer["version"] = *a.answer->version;
        j["answer"] = std::move(answer);
    }
    return j;
}

std::optional<es::context> context_named(std::string_view name) {
    for (const es::context c : es::all_contexts) {
        if (es::name_of(c) == name) return c;
    }
    return std::nullopt;
}

result<recorded_attempt, std::string> from_json(const json& j) {
    try {
        recorded_attempt a;
        a.sequence = j.at("sequence").get<std::uint64_t>();
        const auto ctx = context_named(j.at("context").get<std::string>());
        if (!ctx) return fail("unknown context " + j.at("context").dump());
        a.command.ctx = *ctx;
        a.command.aggregate_id = j.at("aggregate").get<std::string>();
        a.command.command_id = j.at("command").get<std::string>();
        a.command.idempotency_key = j.value("key", "");
        a.command.request = j.value("request", "");
        a.sent_at = from_ticks(j.at("sent_us").get<std::int64_t>());
        if (j.contains("answer")) {
            const json& x = j.at("answer");
            command_answer answer;
            answer.status = x.at("status").get<int>();
            answer.no_op = x.value("no_op", false);
            if (x.contains("at")) {
                answer.at = es::parse_position(x.at("at").get<std::string>());
                if (!answer.at) return fail("bad position " + x.at("at").dump());
            }
            if (x.contains("version")) answer.version = x.at("version").get<std::uint64_t>();
            a.answered_at = from_ticks(x.at("answered_us").get<std::int64_t>());
            a.answer = std::move(answer);
        }
        return a;
    } catch (const json::exception& e) {
        return fail(std::string(e.what()));
    }
}

}  // namespace

result<void, std::string> history_recorder::save(const std::filesystem::path& file) const {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& a : attempts()) out << to_json(a).dump() << '\n';
    out.flush();
    if (!out) return fail("cannot write " + file.string());
    return {};
}

result<std::vector<recorded_attempt>, std::string> history_recorder::load(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) return fail("cannot read " + file.string());
    std::vector<recorded_attempt> out;
    int number = 0;
    for (std::string line; std::getline(in, line);) {
        ++number;
        if (line.empty()) continue;
        const json j = json::parse(line, nullptr, false);
        if (j.is_discarded()) return fail(file.string() + ":" + std::to_string(number) + ": not JSON");
        auto a = from_json(j);
        if (!a) return fail(file.string() + ":" + std::to_string(number) + ": " + a.error());
        out.push_back(std::move(*a));
    }
    return out;
}

// ---- the log as every reader judges it ------------------------------------------------

namespace {

// Typed-pos friendly: the one place a record's coordinates become a position.
es::position position_of(const record& r) { return {es::partition_id(r.partition), es::log_offset(r.offset)}; }

struct applied_commit {
    std::string command_id;
    std::uint64_t first_version = 0;
    std::uint32_t event_count = 0;
    es::position at;
    std::vector<es::encoded_event> events;
    [[nodiscard]] std::uint64_t last_version() const { return first_version + event_count - 1; }
};

struct appearance {
    es::position at;
    es::verdict verdict = es::verdict::loser;
    std::uint64_t expected_version = 0;
};

struct aggregate_log {
    es::aggregate_head head;
    es::partition_id partition{-1};
    std::vector<applied_commit> applied;
};

using aggregate_key = std::pair<es::context, std::string>;
using command_key = std::tuple<es::context, std::string, std::string>;

struct judged_log {
    std::map<aggregate_key, aggregate_log> aggregates;
    std::map<command_key, std::vector<appearance>> appearances;  // every commit of a command, any verdict
    std::map<command_key, std::vector<const applied_commit*>> applied_by_command;
    std::map<std::pair<es::context, es::partition_id>, es::log_offset> ends;  // next offset per partition
};

void judge_all(const std::map<es::context, std::vector<record>>& log, judged_log& out, history_counts& counts) {
    for (const auto& [ctx, records] : log) {
        for (const auto& r : records) {
            const es::position at = position_of(r);
            auto& end = out.ends.try_emplace({ctx, at.partition}, 0).first->second;
            end = std::max(end, at.offset + 1);
            const std::string& value = r.value.value_or("");
            auto c = es::decode_commit(
                {reinterpret_cast<const std::uint8_t*>(value.data()), value.size()});  // NOLINT: bytes
            if (!c || r.key != c->aggregate_id) {
                ++counts.not_commits;  // every reader skips it
                continue;
            }
            ++counts.commits;
            auto& agg = out.aggregates[{ctx, c->aggregate_id}];
            const auto j = es::judge(agg.head, c->command_id, c->expected_version);
            out.appearances[{ctx, c->aggregate_id, c->command_id}].push_back(
                {at, j.verdict, c->expected_version});
            if (j.verdict != es::verdict::applied) continue;
            ++counts.applied;
            agg.partition = at.partition;
            const std::uint64_t first = agg.head.version + 1;
            es::record_applied(agg.head, c->command_id, c->events.size(), at);
            agg.applied.push_back({c->command_id, first, static_cast<std::uint32_t>(c->events.size()), at,
                                   std::move(c->events)});
        }
    }
    // Pointers only once every vector is complete.
    for (const auto& [key, agg] : out.aggregates) {
        for (const auto& a : agg.applied) out.applied_by_command[{key.first, key.second, a.command_id}].push_back(&a);
    }
}

std::string where(const es::context ctx, const std::string& aggregate) {
    return std::string(es::name_of(ctx)) + "/" + aggregate;
}

std::string describe_attempt(const recorded_attempt& a) {
    std::ostringstream s;
    s << "#" << a.sequence << " " << where(a.command.ctx, a.command.aggregate_id) << " command "
      << a.command.command_id;
    if (!a.command.idempotency_key.empty()) s << " (Idempotency-Key " << a.command.idempotency_key << ")";
    if (!a.command.request.empty()) s << " [" << a.command.request << "]";
    if (!a.answer || a.answer->status == 0) {
        s << " -> no answer";
    } else {
        s << " -> " << a.answer->status << (a.answer->no_op ? " no-op" : "");
        if (a.answer->at) s << " at " << es::to_string(*a.answer->at);
        if (a.answer->version) s << " version " << *a.answer->version;
    }
    return s.str();
}

std::string describe_log(const judged_log& log, const command_key& key) {
    const auto found = log.appearances.find(key);
    if (found == log.appearances.end()) return "no commit of this command in the log";
    std::ostringstream s;
    s << found->second.size() << " commit(s) of it:";
    for (const auto& a : found->second) {
        s << " " << es::to_string(a.at) << " " << es::name_of(a.verdict) << " (expected v" << a.expected_version;
        if (a.verdict == es::verdict::applied) {
            for (const auto* c : log.applied_by_command.at(key)) {
                if (c->at == a.at) s << ", versions " << c->first_version << ".." << c->last_version();
            }
        }
        s << ")";
    }
    return s.str();
}

enum class answer_class : std::uint8_t { ok, no_op, unavailable, refused, timed_out, unanswered };

answer_class class_of(const recorded_attempt& a) {
    const int status = a.answer ? a.answer->status : 0;
    if (status >= 200 && status < 300) return a.answer->no_op ? answer_class::no_op : answer_class::ok;
    if (status == 503) return answer_class::unavailable;
    if (status >= 400 && status < 500) return answer_class::refused;
    if (status == 504) return answer_class::timed_out;
    return answer_class::unanswered;
}

// ---- the rules -------------------------------------------------------------------------

class checker {
public:
    explicit checker(const history_input& in) : in_(in) { judge_all(in.log, log_, report_.counts); }

    history_report run() {
        check_answers();
        check_order();
        check_aggregates();
        for (const auto* store : in_.stores) check_store(*store);
        for (const auto& read : in_.reads) check_read(read);
        if (in_.all_writers_recorded) check_recorded();
        return std::move(report_);
    }

private:
    void violate(std::string subject, std::string rule, std::string shows) {
        report_.violations.push_back({std::move(subject), std::move(rule), std::move(shows)});
    }

    [[nodiscard]] const std::vector<const applied_commit*>& applied_of(const command_key& key) const {
        static const std::vector<const applied_commit*> none;
        const auto found = log_.applied_by_command.find(key);
        return found == log_.applied_by_command.end() ? none : found->second;
    }

    void check_answers() {
        // Which command ids had an attempt that may have written the applied commit.
        std::set<command_key> may_have_applied;
        for (const auto& a : in_.attempts) {
            const auto c = class_of(a);
            if (c == answer_class::ok || c == answer_class::timed_out || c == answer_class::unanswered) {
                may_have_applied.insert(key_of(a));
            }
        }
        auto& n = report_.counts;
        for (const auto& a : in_.attempts) {
            const command_key key = key_of(a);
            const auto& applied = applied_of(key);
            const std::string subject = describe_attempt(a);
            switch (class_of(a)) {
                case answer_class::ok: {
                    ++n.ok;
                    if (applied.size() != 1) {
                        violate(subject, "a 2xx is applied exactly once (applied " + std::to_string(applied.size()) + " times)",
                                describe_log(log_, key));
                        break;
                    }
                    const applied_commit& c = *applied.front();
                    if ((a.answer->at && *a.answer->at != c.at) ||
                        (a.answer->version && *a.answer->version != c.last_version())) {
                        violate(subject, "a 2xx is applied at the position and version it was told",
                                describe_log(log_, key));
                        break;
                    }
                    ++n.ok_applied_once;
                    break;
                }
                case answer_class::no_op: {
                    ++n.no_ops;
                    if (applied.size() > 1) {
                        violate(subject, "a 2xx no-op is applied at most once", describe_log(log_, key));
                        break;
                    }
                    if (!told_state_exists(a)) {
                        violate(subject, "a 2xx no-op names an applied commit of its aggregate at the version told",
                                describe_aggregate(a.command.ctx, a.command.aggregate_id));
                        break;
                    }
                    ++n.no_ops_consistent;
                    break;
                }
                case answer_class::unavailable:
                case answer_class::refused: {
                    const bool unavailable = class_of(a) == answer_class::unavailable;
                    ++(unavailable ? n.unavailable : n.refused);
                    const std::size_t allowed = may_have_applied.contains(key) ? 1 : 0;
                    if (applied.size() > allowed) {
                        violate(subject,
                                std::string(unavailable ? "a 503" : "a 4xx") +
                                    " appended nothing that applies" +
                                    (allowed == 1 ? " (other attempts of it account for one commit)" : ""),
                                describe_log(log_, key));
                        break;
                    }
                    ++(unavailable ? n.unavailable_absent : n.refused_absent);
                    break;
                }
                case answer_class::timed_out:
                case answer_class::unanswered: {
                    const bool timed_out = class_of(a) == answer_class::timed_out;
                    ++(timed_out ? n.timed_out : n.unanswered);
                    if (applied.size() > 1) {
                        violate(subject,
                                std::string(timed_out ? "a 504" : "an unanswered command") + " is applied at most once",
                                describe_log(log_, key));
                        break;
                    }
                    ++(timed_out ? n.timed_out_at_most_once : n.unanswered_at_most_once);
                    break;
                }
            }
        }
    }

    [[nodiscard]] static command_key key_of(const recorded_attempt& a) {
        return {a.command.ctx, a.command.aggregate_id, a.command.command_id};
    }

    [[nodiscard]] bool told_state_exists(const recorded_attempt& a) const {
        const auto agg = log_.aggregates.find({a.command.ctx, a.command.aggregate_id});
        if (!a.answer->version) return true;
        if (*a.answer->version == 0) return agg == log_.aggregates.end() || !a.answer->at;
        if (agg == log_.aggregates.end()) return false;
        for (const auto& c : agg->second.applied) {
            if (c.last_version() == *a.answer->version) return !a.answer->at || *a.answer->at == c.at;
        }
        return false;
    }

    [[nodiscard]] std::string describe_aggregate(es::context ctx, const std::string& id) const {
        const auto agg = log_.aggregates.find({ctx, id});
        if (agg == log_.aggregates.end() || agg->second.applied.empty()) return "no applied commit of " + where(ctx, id);
        std::ostringstream s;
        s << where(ctx, id) << " applied:";
        for (const auto& c : agg->second.applied) {
            s << " v" << c.first_version << (c.event_count > 1 ? ".." + std::to_string(c.last_version()) : "") << "@"
              << es::to_string(c.at) << " " << c.command_id << ";";
        }
        return s.str();
    }

    // A command sent after another one of its aggregate was answered 2xx at version v
    // applies above v.
    void check_order() {
        struct told {
            std::chrono::steady_clock::time_point at;
            std::uint64_t version;
            const recorded_attempt* attempt;
        };
        std::map<aggregate_key, std::vector<told>> acknowledged;
        for (const auto& a : in_.attempts) {
            const auto c = class_of(a);
            if (c != answer_class::ok && c != answer_class::no_op) continue;
            std::optional<std::uint64_t> v = a.answer->version;
            if (!v) {
                const auto& applied = applied_of(key_of(a));
                if (applied.size() == 1) v = applied.front()->last_version();
            }
            if (v) acknowledged[{a.command.ctx, a.command.aggregate_id}].push_back({a.answered_at, *v, &a});
        }
        // Per aggregate, by answer time, the highest version told so far.
        for (auto& [key, list] : acknowledged) {
            std::sort(list.begin(), list.end(), [](const told& x, const told& y) { return x.at < y.at; });
            for (std::size_t i = 1; i < list.size(); ++i) {
                if (list[i].version < list[i - 1].version) {
                    const auto keep = list[i - 1];
                    list[i].version = keep.version;
                    list[i].attempt = keep.attempt;
                }
            }
        }
        auto& n = report_.counts;
        std::set<command_key> seen;
        for (const auto& a : in_.attempts) {
            const command_key key = key_of(a);
            const auto& applied = applied_of(key);
            if (applied.size() != 1) continue;
            const auto list = acknowledged.find({a.command.ctx, a.command.aggregate_id});
            if (list == acknowledged.end()) continue;
            // The first attempt of a command id decides when it was first sent.
            if (!seen.insert(key).second) continue;
            const auto before = std::lower_bound(list->second.begin(), list->second.end(), a.sent_at,
                                                 [](const told& t, auto sent) { return t.at < sent; });
            if (before == list->second.begin()) continue;
            const told& last = *std::prev(before);
            ++n.ordered;
            if (applied.front()->first_version <= last.version) {
                violate(describe_attempt(a),
                        "a command sent after a 2xx at version " + std::to_string(last.version) +
                            " of its aggregate applies above it (that 2xx: " + describe_attempt(*last.attempt) + ")",
                        describe_log(log_, key));
                continue;
            }
            ++n.ordered_kept;
        }
    }

    static bool contiguous(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges, std::string& gap) {
        std::uint64_t next = 1;
        for (const auto& [first, last] : ranges) {
            if (first != next || last < first) {
                gap = "expected version " + std::to_string(next) + ", found " + std::to_string(first) +
                      (last != first ? ".." + std::to_string(last) : "");
                return false;
            }
            next = last + 1;
        }
        return true;
    }

    void check_aggregates() {
        std::set<aggregate_key> all;
        for (const auto& [key, agg] : log_.aggregates) {
            if (!agg.applied.empty()) all.insert(key);
        }
        for (const auto& r : in_.reads) all.insert({r.ctx, r.aggregate_id});
        auto& n = report_.counts;
        for (const auto& key : all) {
            ++n.aggregates;
            bool ok = true;
            auto check = [&](const std::string& source, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
                std::string gap;
                if (contiguous(ranges, gap)) return;
                ok = false;
                violate(where(key.first, key.second) + " in " + source, "versions are contiguous from 1", gap);
            };
            std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
            if (const auto agg = log_.aggregates.find(key); agg != log_.aggregates.end()) {
                for (const auto& c : agg->second.applied) ranges.emplace_back(c.first_version, c.last_version());
            }
            check("the log", ranges);
            for (const auto* store : in_.stores) {
                auto locations = store->commit_locations(key.first, key.second);
                if (!locations) continue;  // the store check names it
                ranges.clear();
                for (const auto& l : *locations) ranges.emplace_back(l.first_version, l.first_version + l.event_count - 1);
                if (!ranges.empty()) check("the store " + store->directory().string(), ranges);
            }
            for (const auto& r : in_.reads) {
                if (r.ctx != key.first || r.aggregate_id != key.second) continue;
                ranges.clear();
                for (const auto& e : r.events) ranges.emplace_back(e.version, e.version);
                check(r.source, ranges);
            }
            if (ok) ++n.aggregates_contiguous;
        }
    }

    template <class Aggregate>
    void check_store_aggregate(const es::state_store& store, const aggregate_key& key, const aggregate_log& agg,
                               std::vector<std::string>& wrong) {
        const std::string id = where(key.first, key.second);
        auto loaded = store.load(key.first, key.second);
        if (!loaded) return wrong.push_back(id + ": cannot be read: " + loaded.error().message);
        if (!*loaded) return wrong.push_back(id + " is missing (the log applied " + std::to_string(agg.head.version) + " versions)");
        const auto& stored = **loaded;
        if (stored.head.version != agg.head.version) {
            wrong.push_back(id + " at version " + std::to_string(stored.head.version) + ", a replay at " +
                            std::to_string(agg.head.version));
        } else if (stored.head.recent_commands != agg.head.recent_commands) {
            wrong.push_back(id + ": recent command ids differ from a replay's");
        }
        if (stored.partition != agg.partition) {
            wrong.push_back(id + " in partition " + std::to_string(stored.partition.value()) + ", the log's is " +
                            std::to_string(agg.partition.value()));
        }
        auto locations = store.commit_locations(key.first, key.second);
        if (!locations) return wrong.push_back(id + ": commit locations cannot be read: " + locations.error().message);
        std::vector<es::commit_location> want;
        std::vector<es::recorded_event> events;
        for (const auto& c : agg.applied) {
            want.push_back({c.first_version, c.event_count, c.at});
            for (std::size_t i = 0; i < c.events.size(); ++i) {
                events.push_back({c.first_version + i, c.at, c.command_id, {}, c.events[i]});
            }
        }
        if (*locations != want) wrong.push_back(id + ": its commit locations differ from the log's applied commits");
        auto fresh = es::replay<Aggregate>(events, key.second);
        if (!fresh) return wrong.push_back(id + ": the log's events do not replay: " + fresh.error().message);
        auto snapshot = Aggregate::decode_state(stored.snapshot);
        if (!snapshot) {
            wrong.push_back(id + ": its snapshot does not decode: " + snapshot.error().detail);
        } else if (!(*snapshot == fresh->state)) {
            wrong.push_back(id + ": its snapshot differs from a fresh replay of the log");
        }
        if constexpr (es::has_side_index<Aggregate>) {
            // The side index (the review's voters) against the entries a fresh fold of the
            // log's events writes, in member order as the store lists them.
            std::map<std::string, std::string> entries;
            typename Aggregate::state folded{};
            bool decodable = true;
            for (const auto& e : events) {
                auto decoded = Aggregate::decode_event(e.event.type, e.event.schema_version, e.event.payload);
                if (!decoded) {
                    decodable = false;
                    break;
                }
                folded = Aggregate::decider::evolve(std::move(folded), *decoded);
                if (auto entry = Aggregate::member_written(folded, *decoded)) entries[entry->member] = entry->value;
            }
            auto members = store.members(key.first, key.second);
            if (!members) {
                wrong.push_back(id + ": its side index cannot be read: " + members.error().message);
            } else if (decodable) {
                std::vector<es::member_entry> want_members;
                for (auto& [member, value] : entries) want_members.push_back({member, value});
                if (*members != want_members) wrong.push_back(id + ": its side index differs from a fresh fold of the log");
            }
        }
        auto own = es::replay<Aggregate>(store, key.second);
        if (!own) {
            wrong.push_back(id + ": its own history does not replay: " + own.error().message);
        } else if (own->version != fresh->version || !(own->state == fresh->state)) {
            wrong.push_back(id + ": a replay of its own copies differs from a replay of the log");
        }
        if (in_.reader != nullptr) {
            if (auto same = in_.reader->verify(store, key.first, key.second); !same) {
                wrong.push_back(id + ": " + same.error().message);
            }
        }
    }

    void check_store(const es::state_store& store) {
        auto& n = report_.counts;
        ++n.stores;
        std::vector<std::string> wrong;
        for (const auto& [key, agg] : log_.aggregates) {
            if (agg.applied.empty()) continue;
            switch (key.first) {
                case es::context::orders: check_store_aggregate<es::order_aggregate>(store, key, agg, wrong); break;
                case es::context::payments: check_store_aggregate<es::payment_aggregate>(store, key, agg, wrong); break;
                case es::context::reviews: check_store_aggregate<es::review_aggregate>(store, key, agg, wrong); break;
            }
        }
        for (const auto& [ctx, records] : in_.log) {
            auto checkpoints = store.checkpoints(ctx);
            if (!checkpoints) {
                wrong.push_back(std::string(es::name_of(ctx)) + " checkpoints cannot be read: " + checkpoints.error().message);
                continue;
            }
            for (const auto& [partition_key, end] : log_.ends) {
                if (partition_key.first != ctx) continue;
                const auto found = checkpoints->find(partition_key.second);
                const es::log_offset at = found == checkpoints->end() ? es::log_offset(0) : found->second;
                if (at != end) {
                    wrong.push_back(std::string(es::name_of(ctx)) + " partition " +
                                    std::to_string(partition_key.second.value()) + ": checkpoint " +
                                    std::to_string(at.value()) + ", the log ends at " + std::to_string(end.value()));
                }
            }
        }
        if (wrong.empty()) {
            ++n.stores_equal_replay;
            return;
        }
        std::string shows;
        for (const auto& w : wrong) shows += (shows.empty() ? "" : "; ") + w;
        violate("the store " + store.directory().string(), "a store equals a fresh replay of the log", shows);
    }

    void check_read(const observed_history& read) {
        auto& n = report_.counts;
        ++n.reads;
        const auto agg = log_.aggregates.find({read.ctx, read.aggregate_id});
        std::vector<std::tuple<std::uint64_t, es::position, std::string>> log_events;
        if (agg != log_.aggregates.end()) {
            for (const auto& c : agg->second.applied) {
                for (std::uint64_t v = c.first_version; v <= c.last_version(); ++v) log_events.emplace_back(v, c.at, c.command_id);
            }
        }
        const std::string subject = read.source + " of " + where(read.ctx, read.aggregate_id);
        if (read.events.size() > log_events.size()) {
            violate(subject, "a read serves a prefix of the log's applied history",
                    std::to_string(read.events.size()) + " events read, " + std::to_string(log_events.size()) +
                        " applied in the log");
            return;
        }
        for (std::size_t i = 0; i < read.events.size(); ++i) {
            const auto& e = read.events[i];
            if (std::tie(e.version, e.at, e.command_id) != log_events[i]) {
                const auto& [v, at, command] = log_events[i];
                violate(subject, "a read serves a prefix of the log's applied history",
                        "event " + std::to_string(i + 1) + " read as v" + std::to_string(e.version) + "@" +
                            es::to_string(e.at) + " " + e.command_id + ", the log applied v" + std::to_string(v) + "@" +
                            es::to_string(at) + " " + command);
                return;
            }
        }
        ++n.reads_equal_log;
    }

    void check_recorded() {
        std::set<command_key> recorded;
        for (const auto& a : in_.attempts) recorded.insert(key_of(a));
        auto& n = report_.counts;
        for (const auto& [key, commits] : log_.applied_by_command) {
            for (const auto* c : commits) {
                ++n.applied_checked;
                if (recorded.contains(key)) {
                    ++n.applied_recorded;
                    continue;
                }
                violate(where(std::get<0>(key), std::get<1>(key)) + " command " + std::get<2>(key),
                        "every applied commit is of a recorded command",
                        "applied at " + es::to_string(c->at) + " as versions " + std::to_string(c->first_version) +
                            ".." + std::to_string(c->last_version()) + ", and no client sent it");
            }
        }
    }

    const history_input& in_;
    judged_log log_;
    history_report report_;
};

}  // namespace

history_report check_history(const history_input& input) { return checker(input).run(); }

std::string history_report::summary() const {
    const auto& n = counts;
    std::ostringstream s;
    s << "2xx " << n.ok << " applied-once " << n.ok_applied_once << "; 2xx-no-op " << n.no_ops << " consistent "
      << n.no_ops_consistent << "; 503 " << n.unavailable << " absent " << n.unavailable_absent << "; 4xx "
      << n.refused << " absent " << n.refused_absent << "; 504 " << n.timed_out << " at-most-once "
      << n.timed_out_at_most_once << "; unanswered " << n.unanswered << " at-most-once " << n.unanswered_at_most_once
      << "; order " << n.ordered << " kept " << n.ordered_kept << "; aggregates " << n.aggregates << " contiguous "
      << n.aggregates_contiguous << "; stores " << n.stores << " equal-replay " << n.stores_equal_replay
      << "; reads " << n.reads << " equal-log " << n.reads_equal_log;
    if (n.applied_checked > 0) s << "; applied " << n.applied_checked << " recorded " << n.applied_recorded;
    s << " (log: " << n.commits << " commits, "
      << n.applied << " applied, " << n.not_commits << " not commits)";
    return s.str();
}

std::string history_report::describe() const {
    std::string out = summary();
    for (const auto& v : violations) out += "\nVIOLATION " + v.rule + ": " + v.subject + "; the log shows: " + v.log_shows;
    return out;
}

result<history_report, std::string> check_history_on_cluster(std::string_view bootstrap,
                                                             const std::vector<es::context>& contexts,
                                                             history_input input, std::chrono::milliseconds timeout) {
    for (const es::context ctx : contexts) {
        auto records = consume_all(bootstrap, es::topic_of(ctx), timeout);
        if (!records) return fail("reading " + std::string(es::topic_of(ctx)) + ": " + records.error());
        input.log[ctx] = std::move(*records);
    }
    auto reader = es::aggregate_reader::open(std::string(bootstrap));
    if (!reader) return fail("opening a reader: " + reader.error().message);
    input.reader = reader->get();
    return check_history(input);
}

result<caught_up_store, std::string> catch_up_store(const std::filesystem::path& dir, std::string_view bootstrap,
                                                   const std::vector<es::context>& contexts,
                                                   std::chrono::milliseconds timeout) {
    caught_up_store out;
    auto s = es::state_store::open(dir, {std::uint64_t{1} << 30, es::state_store::durability::relaxed});
    if (!s) return fail("the store in " + dir.string() + ": " + s.error().message);
    out.store = std::move(*s);
    es::tail_options options;
    options.bootstrap_servers = std::string(bootstrap);
    options.contexts = contexts;
    auto t = es::tail::start(options, *out.store);
    if (!t) return fail("the tail on " + dir.string() + ": " + t.error().message);
    out.tail = std::move(*t);
    for (const es::context ctx : contexts) {
        auto ends = out.tail->await_log_end(ctx, es::clock::now() + timeout);
        if (!ends) return fail("the tail on " + dir.string() + " did not reach the log end: " + ends.error().message);
    }
    return out;
}

history_report expect_history_holds(std::string_view bootstrap, const std::vector<es::context>& contexts,
                                    history_input input) {
    auto report = check_history_on_cluster(bootstrap, contexts, std::move(input));
    if (!report) {
        ADD_FAILURE() << "the history could not be checked: " << report.error();
        return {};
    }
    std::cout << "[ history  ] " << report->summary() << "\n";
    for (const auto& v : report->violations) {
        ADD_FAILURE() << "history violation - " << v.rule << ": " << v.subject << "; the log shows: " << v.log_shows;
    }
    return std::move(*report);
}

}  // namespace shopstream::testing
