#include "eventstore/aggregate_reader.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <unordered_map>

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

result<std::vector<recorded_event>, std::string> aggregate_reader::read(const state_store& store, context ctx,
                                                                       std::string_view aggregate_id,
                                                                       std::uint64_t up_to_version,
                                                                       std::chrono::milliseconds timeout) {
    auto locations = store.commit_locations(ctx, aggregate_id, up_to_version);
    if (!locations) return fail(std::move(locations.error().message));
    std::vector<recorded_event> out;
    if (locations->empty()) return out;

    // Every commit of one aggregate sits in one partition (same key); read in offset order.
    std::vector<commit_location> wanted = *locations;
    const std::int32_t partition = wanted.front().at.partition;
    for (const auto& l : wanted) {
        if (l.at.partition != partition) {
            return fail("the state store places the commits of " + std::string(aggregate_id) +
                        " in more than one partition: it is corrupt; rebuild it from offset 0");
        }
    }
    std::sort(wanted.begin(), wanted.end(),
              [](const commit_location& a, const commit_location& b) { return a.at.offset < b.at.offset; });
    std::unordered_map<std::int64_t, const commit_location*> by_offset;
    for (const auto& l : wanted) by_offset[l.at.offset] = &l;

    std::lock_guard lock(mu_);
    rd_kafka_topic_t* rkt = topics_.at(ctx);
    if (rd_kafka_consume_start(rkt, partition, wanted.front().at.offset) == -1) {
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
        batch.count = rd_kafka_consume_batch(rkt, partition, 100, batch.slots.data(), batch.slots.size());
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
            const auto found = by_offset.find(m->offset);
            if (found == by_offset.end()) continue;
            const commit_location& l = *found->second;
            auto c = decode_commit({static_cast<const std::uint8_t*>(m->payload), m->len});
            if (!c || c->aggregate_id != aggregate_id || c->expected_version + 1 != l.first_version ||
                c->events.size() != l.event_count) {
                problem = "the record at " + std::string(topic_of(ctx)) + "[" + std::to_string(partition) + "]@" +
                          std::to_string(m->offset) + " is not the commit of " + std::string(aggregate_id) +
                          " the state store recorded: the store belongs to another log; rebuild it";
                break;
            }
            for (std::size_t k = 0; k < c->events.size(); ++k) {
                const std::uint64_t version = l.first_version + k;
                if (version > up_to_version) break;
                out.push_back({version, l.at, c->command_id, std::move(c->events[k])});
            }
            ++next;
            while (next < wanted.size() && wanted[next].at.offset <= m->offset) ++next;
        }
        if (next < wanted.size() && problem.empty() && batch.count > 0) {
            const std::int64_t last = batch.slots[static_cast<std::size_t>(batch.count - 1)]->offset;
            if (wanted[next].at.offset - last > seek_gap) {
                batch.clear();
                if (rd_kafka_seek(rkt, partition, wanted[next].at.offset, 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    problem = "cannot seek in " + std::string(topic_of(ctx));
                }
            }
        }
    }
    batch.clear();
    rd_kafka_consume_stop(rkt, partition);
    if (!problem.empty()) return fail(std::move(problem));
    std::sort(out.begin(), out.end(), [](const recorded_event& a, const recorded_event& b) { return a.version < b.version; });
    return out;
}

}  // namespace shopstream::eventstore
