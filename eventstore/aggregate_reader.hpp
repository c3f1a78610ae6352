#pragma once
// Single-aggregate reads: one aggregate's history, the base of `GET .../events` and of
// replaying any aggregate as of any version (ARCHITECTURE.md decision 2).
//
// read_history() serves it from the state store, which keeps every applied commit's bytes
// and headers: an LMDB range scan, each commit verified again (FlatBuffers verifier) and
// checked against what the store says it is. The log is read only on demand:
// aggregate_reader fetches the same commits from Kafka at exactly the offsets the store
// recorded (no topic scan) and verify() checks that the log holds, byte for byte, what
// the store serves.
//
// Thread-safety: read_history() and replay() may be called from any threads; an
// aggregate_reader serialises its reads on its Kafka client (open several for parallel
// reads).

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
    commit_headers headers;     // of the commit that holds it
    encoded_event event;
};

// The aggregate's events with version <= up_to_version, in version order, from the state
// store; empty when the store knows no such aggregate.
[[nodiscard]] result<std::vector<recorded_event>, std::string> read_history(
    const state_store& store, context ctx, std::string_view aggregate_id,
    std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max());

class aggregate_reader {
public:
    [[nodiscard]] static result<std::unique_ptr<aggregate_reader>, std::string> open(
        const std::string& bootstrap_servers, std::map<std::string, std::string> extra = {});

    aggregate_reader(const aggregate_reader&) = delete;
    aggregate_reader& operator=(const aggregate_reader&) = delete;
    ~aggregate_reader();

    // The aggregate's events with version <= up_to_version, in version order, read from
    // the log at the offsets the store recorded (headers as the store kept them). Empty
    // when the store knows no such aggregate.
    [[nodiscard]] result<std::vector<recorded_event>, std::string> read_from_log(
        const state_store& store, context ctx, std::string_view aggregate_id,
        std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max(),
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // Checks that the log holds, byte for byte, the commits the store serves for the
    // aggregate up to `up_to_version`; says which one differs otherwise.
    [[nodiscard]] result<void, std::string> verify(const state_store& store, context ctx, std::string_view aggregate_id,
                                                   std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max(),
                                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

private:
    // The commits' records as the log holds them, by offset.
    [[nodiscard]] result<std::map<log_offset, std::vector<std::uint8_t>>, std::string> fetch(
        context ctx, std::string_view aggregate_id, const std::vector<commit_location>& wanted,
        std::chrono::milliseconds timeout);
    // The store's commits of the aggregate and the log's records at their offsets.
    [[nodiscard]] result<std::pair<std::vector<stored_commit>, std::map<log_offset, std::vector<std::uint8_t>>>,
                         std::string>
    fetch_stored(const state_store& store, context ctx, std::string_view aggregate_id, std::uint64_t up_to_version,
                 std::chrono::milliseconds timeout);
    explicit aggregate_reader(kafka::handle client);
    kafka::handle client_;
    std::mutex mu_;
    std::map<context, rd_kafka_topic_t*> topics_;
};

// Folds an aggregate's history up to `up_to_version` into its state: "the aggregate as of
// version N", computed from its commits alone (not from the stored snapshot).
template <class Aggregate>
struct replayed {
    std::uint64_t version = 0;
    typename Aggregate::state state = Aggregate::decider::initial_state();
};

template <class Aggregate>
[[nodiscard]] result<replayed<Aggregate>, std::string> replay(
    const std::vector<recorded_event>& events, std::string_view aggregate_id) {
    replayed<Aggregate> out;
    for (const auto& e : events) {
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

template <class Aggregate>
[[nodiscard]] result<replayed<Aggregate>, std::string> replay(
    const state_store& store, std::string_view aggregate_id,
    std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max()) {
    auto events = read_history(store, Aggregate::ctx, aggregate_id, up_to_version);
    if (!events) return fail(std::move(events.error()));
    return replay<Aggregate>(*events, aggregate_id);
}

}  // namespace shopstream::eventstore
