#pragma once
// Single-aggregate reads: one aggregate's history, fetched from the log at exactly the
// offsets the state store recorded for its applied commits (no topic scan), each record
// verified and checked against what the store says it is. The base of
// `GET .../events` and of replaying any aggregate as of any version.
//
// Thread-safety: read() may be called from any threads; reads are serialised on the
// reader's Kafka client (open several readers for parallel reads).

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "eventstore/codec/event_codec.hpp"
#include "eventstore/context.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/position.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::eventstore {

struct recorded_event {
    std::uint64_t version = 0;  // the aggregate's version this event produced
    position at;                // the commit that holds it
    std::string command_id;
    encoded_event event;
};

class aggregate_reader {
public:
    [[nodiscard]] static result<std::unique_ptr<aggregate_reader>, std::string> open(
        const std::string& bootstrap_servers, std::map<std::string, std::string> extra = {});

    aggregate_reader(const aggregate_reader&) = delete;
    aggregate_reader& operator=(const aggregate_reader&) = delete;
    ~aggregate_reader();

    // The aggregate's events with version <= up_to_version, in version order. Empty when
    // the store knows no such aggregate.
    [[nodiscard]] result<std::vector<recorded_event>, std::string> read(
        const state_store& store, context ctx, std::string_view aggregate_id,
        std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max(),
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

private:
    explicit aggregate_reader(kafka::handle client);
    kafka::handle client_;
    std::mutex mu_;
    std::map<context, rd_kafka_topic_t*> topics_;
};

// Folds an aggregate's history up to `up_to_version` into its state: "the aggregate as of
// version N", computed from the log alone (the store only says where the commits are).
template <class Aggregate>
struct replayed {
    std::uint64_t version = 0;
    typename Aggregate::state state = Aggregate::decider::initial_state();
};

template <class Aggregate>
[[nodiscard]] result<replayed<Aggregate>, std::string> replay(
    aggregate_reader& reader, const state_store& store, std::string_view aggregate_id,
    std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max()) {
    auto events = reader.read(store, Aggregate::ctx, aggregate_id, up_to_version);
    if (!events) return fail(std::move(events.error()));
    replayed<Aggregate> out;
    for (const auto& e : *events) {
        auto decoded = Aggregate::decode_event(e.event.type, e.event.schema_version, e.event.payload);
        if (!decoded) {
            return fail("event " + std::to_string(e.version) + " of " + std::string(aggregate_id) +
                        " cannot be decoded: " + decoded.error().detail);
        }
        out.state = Aggregate::decider::evolve(std::move(out.state), *decoded);
        out.version = e.version;
    }
    return out;
}

}  // namespace shopstream::eventstore
