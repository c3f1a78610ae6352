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

result<std::unique_ptr<aggregate_reader>, std::string> aggregate_reader::open(const std::string& bootstrap_servers,
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

// The events of one stored commit with version <= up_to_version, after checking that
// `record` is the commit the store says it is.
result<void, std::string> append_events(std::vector<recorded_event>& out, context ctx, std::string_view aggregate_id,
                                        const commit_location& l, commit_headers headers,
                                        std::span<const std::uint8_t> record, std::uint64_t up_to_version,
                                        std::string_view where) {
    auto c = decode_commit(record);
    if (!c || c->aggregate_id != aggregate_id || c->expected_version + 1 != l.first_version ||
        c->events.size() != l.event_count) {
        return fail("the record " + std::string(where) + " of " + std::string(topic_of(ctx)) + "[" +
                    std::to_string(l.at.partition.value()) + "]@" + std::to_string(l.at.offset.value()) + " is not the commit of " +
                    std::string(aggregate_id) + " at version " + std::to_string(l.first_version) +
                    " the state store recorded" + (c ? std::string() : " (" + c.error().detail + ")") +
                    ": rebuild the store from the log");
    }
    for (std::size_t k = 0; k < c->events.size(); ++k) {
        const std::uint64_t version = l.first_version + k;
        if (version > up_to_version) break;
        const bool last = k + 1 == c->events.size();
        out.push_back({version, l.at, last ? std::move(c->command_id) : c->command_id,
                       last ? std::move(headers) : headers, std::move(c->events[k])});
    }
    return {};
}

}  // namespace

result<std::vector<recorded_event>, std::string> read_history(const state_store& store, context ctx,
                                                              std::string_view aggregate_id,
                                                              std::uint64_t up_to_version) {
    auto commits = store.commits(ctx, aggregate_id, up_to_version);
    if (!commits) return fail(std::move(commits.error().message));
    std::vector<recorded_event> out;
    out.reserve(commits->size());
    for (auto& c : *commits) {
        if (auto r = append_events(out, ctx, aggregate_id, c.location, std::move(c.headers), c.record, up_to_version,
                                   "the state store keeps");
            !r) {
            return fail(std::move(r.error()));
        }
    }
    return out;
}

result<std::map<log_offset, std::vector<std::uint8_t>>, std::string> aggregate_reader::fetch(
    context ctx, std::string_view aggregate_id, const std::vector<commit_location>& locations,
    std::chrono::milliseconds timeout) {
    std::map<log_offset, std::vector<std::uint8_t>> out;
    if (locations.empty()) return out;
    // Every commit of one aggregate sits in one partition (same key); read in offset order.
    std::vector<commit_location> wanted = locations;
    const partition_id partition = wanted.front().at.partition;
    for (const auto& l : wanted) {
        if (l.at.partition != partition) {
            return fail("the state store places the commits of " + std::string(aggregate_id) +
                        " in more than one partition: it is corrupt; rebuild it from offset 0");
        }
    }
    std::sort(wanted.begin(), wanted.end(),
              [](const commit_location& a, const commit_location& b) { return a.at.offset < b.at.offset; });

    std::lock_guard lock(mu_);
    rd_kafka_topic_t* rkt = topics_.at(ctx);
    if (rd_kafka_consume_start(rkt, partition.value(), wanted.front().at.offset.value()) == -1) {
        return fail(std::string("cannot read ") + std::string(topic_of(ctx)) + ": " +
                    rd_kafka_err2str(rd_kafka_last_error()));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t next = 0;  // index into wanted
    std::string problem;
    messages batch;
    while (next < wanted.size() && problem.empty()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            problem = "timed out reading " + std::string(aggregate_id) + " from " + std::string(topic_of(ctx));
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
                }
            }
        }
    }
    batch.clear();
    rd_kafka_consume_stop(rkt, partition.value());
    if (!problem.empty()) return fail(std::move(problem));
    return out;
}

result<std::pair<std::vector<stored_commit>, std::map<log_offset, std::vector<std::uint8_t>>>, std::string>
aggregate_reader::fetch_stored(const state_store& store, context ctx, std::string_view aggregate_id,
                               std::uint64_t up_to_version, std::chrono::milliseconds timeout) {
    auto commits = store.commits(ctx, aggregate_id, up_to_version);
    if (!commits) return fail(std::move(commits.error().message));
    std::vector<commit_location> locations;
    for (const auto& c : *commits) locations.push_back(c.location);
    auto records = fetch(ctx, aggregate_id, locations, timeout);
    if (!records) return fail(std::move(records.error()));
    return std::pair{std::move(*commits), std::move(*records)};
}

result<std::vector<recorded_event>, std::string> aggregate_reader::read_from_log(const state_store& store, context ctx,
                                                                                std::string_view aggregate_id,
                                                                                std::uint64_t up_to_version,
                                                                                std::chrono::milliseconds timeout) {
    auto fetched = fetch_stored(store, ctx, aggregate_id, up_to_version, timeout);
    if (!fetched) return fail(std::move(fetched.error()));
    auto& [commits, records] = *fetched;
    std::vector<recorded_event> out;
    for (const auto& c : commits) {
        const auto found = records.find(c.location.at.offset);
        if (found == records.end()) {
            return fail("the log no longer holds " + std::string(topic_of(ctx)) + "[" +
                        std::to_string(c.location.at.partition.value()) + "]@" + std::to_string(c.location.at.offset.value()) +
                        ", a commit of " + std::string(aggregate_id));
        }
        if (auto r = append_events(out, ctx, aggregate_id, c.location, c.headers, found->second, up_to_version,
                                   "the log holds");
            !r) {
            return fail(std::move(r.error()));
        }
    }
    return out;
}

result<void, std::string> aggregate_reader::verify(const state_store& store, context ctx, std::string_view aggregate_id,
                                                   std::uint64_t up_to_version, std::chrono::milliseconds timeout) {
    auto fetched = fetch_stored(store, ctx, aggregate_id, up_to_version, timeout);
    if (!fetched) return fail(std::move(fetched.error()));
    auto& [commits, records] = *fetched;
    for (const auto& c : commits) {
        const auto found = records.find(c.location.at.offset);
        const std::string where = std::string(topic_of(ctx)) + "[" + std::to_string(c.location.at.partition.value()) + "]@" +
                                  std::to_string(c.location.at.offset.value());
        if (found == records.end()) return fail("the log no longer holds " + where);
        if (found->second != c.record) {
            return fail("the log's record at " + where + " differs from the copy the state store serves for " +
                        std::string(aggregate_id) + " version " + std::to_string(c.location.first_version) +
                        ": rebuild the store from the log");
        }
    }
    return {};
}

}  // namespace shopstream::eventstore
