#include "eventstore/aggregate_reader.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <span>

#include "eventstore/commit.hpp"

namespace shopstream::eventstore {
namespace {

// Beyond this many unwanted records between two wanted ones, seek instead of reading on.
constexpr std::int64_t seek_gap = 256;

struct messages {
    std::array<rd_kafka_message_t*, 512> slots{};
    ssize_t count = 0;
    ~messages() { clear(); }
    void clear() {
        for (ssize_t i = 0; i < count; ++i) rd_kafka_message_destroy(slots[static_cast<std::size_t>(i)]);
        count = 0;
    }
};

}  // namespace

result<std::unique_ptr<aggregate_reader>, error> aggregate_reader::open(const std::string& bootstrap_servers,
                                                                       std::map<std::string, std::string> extra) {
    std::map<std::string, std::string> settings = {
        {"bootstrap.servers", bootstrap_servers},
        {"group.id", "shopstream-aggregate-reader"},  // never joined: offsets are explicit
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"fetch.wait.max.ms", "5"},
        {"fetch.error.backoff.ms", "10"},
        {"socket.nagle.disable", "true"},
        {"log_level", "3"},
    };
    for (auto& [k, v] : extra) settings[k] = v;
    auto conf = kafka::make_conf(settings);
    if (!conf) return fail(std::move(conf.error()));
    auto client = kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!client) return fail(std::move(client.error()));
    return std::unique_ptr<aggregate_reader>(new aggregate_reader(std::move(*client)));
}

aggregate_reader::aggregate_reader(kafka::handle client) : client_(std::move(client)) {
    for (context c : all_contexts) {
        topics_[c] = rd_kafka_topic_new(client_.get(), std::string(topic_of(c)).c_str(), nullptr);
    }
}

aggregate_reader::~aggregate_reader() {
    for (auto& [c, rkt] : topics_) rd_kafka_topic_destroy(rkt);
}

namespace {

// `record` read in place, once checked to be the commit the store says sits at `l`.
result<commit_view, error> view_recorded(context ctx, std::string_view aggregate_id, const commit_location& l,
                                               std::span<const std::uint8_t> record,
                                               std::vector<std::uint8_t>& aligned_copy, std::string_view where,
                                         errc mismatch) {
    auto c = view_commit(record, aligned_copy);
    if (!c || c->aggregate_id != aggregate_id || c->expected_version + 1 != l.first_version ||
        c->event_count() != l.event_count) {
        return fail(error{mismatch, "the record " + std::string(where) + " of " + std::string(topic_of(ctx)) + "[" +
                    std::to_string(l.at.partition.value()) + "]@" + std::to_string(l.at.offset.value()) + " is not the commit of " +
                    std::string(aggregate_id) + " at version " + std::to_string(l.first_version) +
                    " the state store recorded" + (c ? std::string() : " (" + c.error().detail + ")") +
                    ": rebuild the store from the log"});
    }
    return *c;
}

// Hands `visit` the events of commit `c` (at `l`) with version <= up_to_version; false
// once `visit` asked to stop. A payload off an 8-byte boundary goes through
// `payload_copy` first, so the codecs read it in place.
bool visit_events(const commit_view& c, const commit_location& l, const commit_headers_view& headers,
                  std::uint64_t up_to_version, std::vector<std::uint8_t>& payload_copy,
                  function_ref<bool(const recorded_event_view&)> visit) {
    for (std::size_t k = 0; k < c.event_count(); ++k) {
        const std::uint64_t version = l.first_version + k;
        if (version > up_to_version) break;
        recorded_event_view e{version, l.at, c.command_id, headers, c.event(k)};
        if (reinterpret_cast<std::uintptr_t>(e.event.payload.data()) % alignof(std::uint64_t) != 0) {
            payload_copy.assign(e.event.payload.begin(), e.event.payload.end());
            e.event.payload = payload_copy;
        }
        if (!visit(e)) return false;
    }
    return true;
}

}  // namespace

result<void, error> visit_history(const state_store& store, context ctx, std::string_view aggregate_id,
                                        std::uint64_t up_to_version,
                                        function_ref<bool(const recorded_event_view&)> visit) {
    std::optional<error> problem;
    std::vector<std::uint8_t> aligned_copy;
    std::vector<std::uint8_t> payload_copy;
    auto visited = store.visit_commits(ctx, aggregate_id, up_to_version, [&](const stored_commit_view& stored) {
        auto c = view_recorded(ctx, aggregate_id, stored.location, stored.record, aligned_copy,
                               "the state store keeps", errc::store_failed);
        if (!c) {
            problem = std::move(c.error());
            return false;
        }
        return visit_events(*c, stored.location, stored.headers, up_to_version, payload_copy, visit);
    });
    if (!visited) return fail(error{errc::store_failed, std::move(visited.error().message)});
    if (problem) return fail(std::move(*problem));
    return {};
}

result<std::vector<recorded_event>, error> read_history(const state_store& store, context ctx,
                                                              std::string_view aggregate_id,
                                                              std::uint64_t up_to_version) {
    std::vector<recorded_event> out;
    auto visited = visit_history(store, ctx, aggregate_id, up_to_version, [&](const recorded_event_view& e) {
        out.push_back(e.owned());
        return true;
    });
    if (!visited) return fail(std::move(visited.error()));
    return out;
}

result<std::map<log_offset, std::vector<std::uint8_t>>, error> aggregate_reader::fetch(
    context ctx, std::string_view aggregate_id, const std::vector<commit_location>& locations,
    std::chrono::milliseconds timeout) {
    std::map<log_offset, std::vector<std::uint8_t>> out;
    if (locations.empty()) return out;
    // Every commit of one aggregate sits in one partition (same key); read in offset order.
    std::vector<commit_location> wanted = locations;
    const partition_id partition = wanted.front().at.partition;
    for (const auto& l : wanted) {
        if (l.at.partition != partition) {
            return fail(error{errc::store_failed, "the state store places the commits of " + std::string(aggregate_id) +
                                                      " in more than one partition: it is corrupt; rebuild it from offset 0"});
        }
    }
    std::sort(wanted.begin(), wanted.end(),
              [](const commit_location& a, const commit_location& b) { return a.at.offset < b.at.offset; });

    std::lock_guard lock(mu_);
    rd_kafka_topic_t* rkt = topics_.at(ctx);
    if (rd_kafka_consume_start(rkt, partition.value(), wanted.front().at.offset.value()) == -1) {
        return fail(error{errc::client_failed, std::string("cannot read ") + std::string(topic_of(ctx)) + ": " +
                                                   rd_kafka_err2str(rd_kafka_last_error())});
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t next = 0;  // index into wanted
    std::string problem;
    errc problem_code = errc::unreachable;
    messages batch;
    while (next < wanted.size() && problem.empty()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            problem = "timed out reading " + std::string(aggregate_id) + " from " + std::string(topic_of(ctx));
            problem_code = errc::timed_out;
            break;
        }
        batch.clear();
        batch.count = rd_kafka_consume_batch(rkt, partition.value(), 100, batch.slots.data(), batch.slots.size());
        if (batch.count < 0) {
            problem = std::string("read failed: ") + rd_kafka_err2str(rd_kafka_last_error());
            break;
        }
        for (ssize_t i = 0; i < batch.count && next < wanted.size(); ++i) {
            const rd_kafka_message_t* m = batch.slots[static_cast<std::size_t>(i)];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
            if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                problem = "reading " + std::string(topic_of(ctx)) + ": " + rd_kafka_message_errstr(m);
                break;
            }
            const log_offset offset(m->offset);
            if (offset < wanted[next].at.offset) continue;
            if (offset == wanted[next].at.offset) {
                const auto* bytes = static_cast<const std::uint8_t*>(m->payload);
                out.emplace(offset, std::vector<std::uint8_t>(bytes, bytes + m->len));
            }
            while (next < wanted.size() && wanted[next].at.offset <= offset) ++next;
        }
        if (next < wanted.size() && problem.empty() && batch.count > 0) {
            const log_offset last(batch.slots[static_cast<std::size_t>(batch.count - 1)]->offset);
            if (wanted[next].at.offset - last > seek_gap) {
                batch.clear();
                if (rd_kafka_seek(rkt, partition.value(), wanted[next].at.offset.value(), 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    problem = "cannot seek in " + std::string(topic_of(ctx));
                    problem_code = errc::client_failed;
                }
            }
        }
    }
    batch.clear();
    rd_kafka_consume_stop(rkt, partition.value());
    if (!problem.empty()) return fail(error{problem_code, std::move(problem)});
    return out;
}

result<std::pair<std::vector<stored_commit>, std::map<log_offset, std::vector<std::uint8_t>>>, error>
aggregate_reader::fetch_stored(const state_store& store, context ctx, std::string_view aggregate_id,
                               std::uint64_t up_to_version, std::chrono::milliseconds timeout) {
    auto commits = store.commits(ctx, aggregate_id, up_to_version);
    if (!commits) return fail(error{errc::store_failed, std::move(commits.error().message)});
    std::vector<commit_location> locations;
    for (const auto& c : *commits) locations.push_back(c.location);
    auto records = fetch(ctx, aggregate_id, locations, timeout);
    if (!records) return fail(std::move(records.error()));
    return std::pair{std::move(*commits), std::move(*records)};
}

result<std::vector<recorded_event>, error> aggregate_reader::read_from_log(const state_store& store, context ctx,
                                                                          std::string_view aggregate_id,
                                                                          std::uint64_t up_to_version,
                                                                          std::chrono::milliseconds timeout) {
    auto fetched = fetch_stored(store, ctx, aggregate_id, up_to_version, timeout);
    if (!fetched) return fail(std::move(fetched.error()));
    auto& [commits, records] = *fetched;
    std::vector<recorded_event> out;
    std::vector<std::uint8_t> aligned_copy;
    std::vector<std::uint8_t> payload_copy;
    for (const auto& c : commits) {
        const auto found = records.find(c.location.at.offset);
        if (found == records.end()) {
            return fail(error{errc::records_lost, "the log no longer holds " + std::string(topic_of(ctx)) + "[" +
                                                      std::to_string(c.location.at.partition.value()) + "]@" +
                                                      std::to_string(c.location.at.offset.value()) + ", a commit of " +
                                                      std::string(aggregate_id)});
        }
        auto viewed = view_recorded(ctx, aggregate_id, c.location, found->second, aligned_copy, "the log holds", errc::log_mismatch);
        if (!viewed) return fail(std::move(viewed.error()));
        const commit_headers_view headers{c.headers.timestamp_ms, c.headers.command_type, c.headers.correlation_id,
                                          c.headers.causation_id, c.headers.actor,        c.headers.traceparent};
        visit_events(*viewed, c.location, headers, up_to_version, payload_copy, [&](const recorded_event_view& e) {
            out.push_back(e.owned());
            return true;
        });
    }
    return out;
}

result<void, error> aggregate_reader::verify(const state_store& store, context ctx, std::string_view aggregate_id,
                                             std::uint64_t up_to_version, std::chrono::milliseconds timeout) {
    auto fetched = fetch_stored(store, ctx, aggregate_id, up_to_version, timeout);
    if (!fetched) return fail(std::move(fetched.error()));
    auto& [commits, records] = *fetched;
    for (const auto& c : commits) {
        const auto found = records.find(c.location.at.offset);
        const std::string where = std::string(topic_of(ctx)) + "[" + std::to_string(c.location.at.partition.value()) + "]@" +
                                  std::to_string(c.location.at.offset.value());
        if (found == records.end()) return fail(error{errc::records_lost, "the log no longer holds " + where});
        if (found->second != c.record) {
            return fail(error{errc::log_mismatch, "the log's record at " + where +
                                                      " differs from the copy the state store serves for " +
                                                      std::string(aggregate_id) + " version " +
                                                      std::to_string(c.location.first_version) +
                                                      ": rebuild the store from the log"});
        }
    }
    return {};
}

}  // namespace shopstream::eventstore
