#pragma once
// Single-aggregate reads: one aggregate's history, the base of `GET .../events` and of
// replaying any aggregate as of any version (ARCHITECTURE.md decision 2).
//
// read_history() serves it from the state store, which keeps every applied commit's bytes
// and headers: an LMDB range scan, each commit verified again (FlatBuffers verifier) and
// checked against what the store says it is. visit_history() is the same scan without the
// copies: each event handed over in place, inside the read transaction. The log is read only on demand:
// aggregate_reader fetches the same commits from Kafka at exactly the offsets the store
// recorded (no topic scan) and verify() checks that the log holds, byte for byte, what
// the store serves.
//
// Thread-safety: read_history(), visit_history() and replay() may be called from any threads; an
// aggregate_reader serialises its reads on its Kafka client (open several for parallel
// reads).

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/function_ref.hpp"
#include "base/result.hpp"
#include "eventstore/codec/event_codec.hpp"
#include "eventstore/context.hpp"
#include "eventstore/errc.hpp"
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

// One event of a history read in place (visit_history): every view is valid only inside
// the callback that receives it. `event.payload` starts at an 8-byte boundary, so the
// context's codec decodes it without copying it first.
struct recorded_event_view {
    std::uint64_t version = 0;
    position at;
    std::string_view command_id;
    commit_headers_view headers;
    encoded_event_view event;

    [[nodiscard]] recorded_event owned() const {
        return {version, at, std::string(command_id), headers.owned(),
                encoded_event{event.type, event.schema_version, {event.payload.begin(), event.payload.end()}}};
    }
};

// The aggregate's events with version <= up_to_version, in version order, from the state
// store; empty when the store knows no such aggregate. A store that cannot be read, or
// holds a commit that is not what it says, is errc::store_failed.
[[nodiscard]] result<std::vector<recorded_event>, error> read_history(
    const state_store& store, context ctx, std::string_view aggregate_id,
    std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max());

// The same events handed to `visit` one by one, in place, inside one read transaction of
// the store, with the same checks and errors as read_history() and no allocation per
// event (what GET .../events and replay use). `visit` returns false to stop early (the
// result is then still success).
[[nodiscard]] result<void, error> visit_history(const state_store& store, context ctx,
                                                      std::string_view aggregate_id, std::uint64_t up_to_version,
                                                      function_ref<bool(const recorded_event_view&)> visit);

class aggregate_reader {
public:
    [[nodiscard]] static result<std::unique_ptr<aggregate_reader>, error> open(
        const std::string& bootstrap_servers, std::map<std::string, std::string> extra = {});

    aggregate_reader(const aggregate_reader&) = delete;
    aggregate_reader& operator=(const aggregate_reader&) = delete;
    ~aggregate_reader();

    // The aggregate's events with version <= up_to_version, in version order, read from
    // the log at the offsets the store recorded (headers as the store kept them). Empty
    // when the store knows no such aggregate. Errors: records_lost (the log no longer holds
    // a commit), log_mismatch (the log holds another record there), timed_out, unreachable.
    [[nodiscard]] result<std::vector<recorded_event>, error> read_from_log(
        const state_store& store, context ctx, std::string_view aggregate_id,
        std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max(),
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // Checks that the log holds, byte for byte, the commits the store serves for the
    // aggregate up to `up_to_version`; says which one differs otherwise (log_mismatch,
    // records_lost).
    [[nodiscard]] result<void, error> verify(const state_store& store, context ctx, std::string_view aggregate_id,
                                             std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max(),
                                             std::chrono::milliseconds timeout = std::chrono::seconds(5));

private:
    // The commits' records as the log holds them, by offset.
    [[nodiscard]] result<std::map<log_offset, std::vector<std::uint8_t>>, error> fetch(
        context ctx, std::string_view aggregate_id, const std::vector<commit_location>& wanted,
        std::chrono::milliseconds timeout);
    // The store's commits of the aggregate and the log's records at their offsets.
    [[nodiscard]] result<std::pair<std::vector<stored_commit>, std::map<log_offset, std::vector<std::uint8_t>>>,
                         error>
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

// An event this build cannot decode is errc::unreadable_commit.
template <class Aggregate>
[[nodiscard]] result<replayed<Aggregate>, error> replay(
    const std::vector<recorded_event>& events, std::string_view aggregate_id) {
    replayed<Aggregate> out;
    for (const auto& e : events) {
        auto decoded = Aggregate::decode_event(e.event.type, e.event.schema_version, e.event.payload);
        if (!decoded) {
            return fail(error{errc::unreadable_commit, "event " + std::to_string(e.version) + " of " +
                                                           std::string(aggregate_id) +
                                                           " cannot be decoded: " + decoded.error().detail});
        }
        out.state = Aggregate::decider::evolve(std::move(out.state), *decoded);
        out.version = e.version;
    }
    return out;
}

template <class Aggregate>
[[nodiscard]] result<replayed<Aggregate>, error> replay(
    const state_store& store, std::string_view aggregate_id,
    std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max()) {
    replayed<Aggregate> out;
    std::optional<error> problem;
    auto visited = visit_history(store, Aggregate::ctx, aggregate_id, up_to_version, [&](const recorded_event_view& e) {
        auto decoded = Aggregate::decode_event(e.event.type, e.event.schema_version, e.event.payload);
        if (!decoded) {
            problem = error{errc::unreadable_commit, "event " + std::to_string(e.version) + " of " +
                                                         std::string(aggregate_id) +
                                                         " cannot be decoded: " + decoded.error().detail};
            return false;
        }
        out.state = Aggregate::decider::evolve(std::move(out.state), *decoded);
        out.version = e.version;
        return true;
    });
    if (!visited) return fail(std::move(visited.error()));
    if (problem) return fail(std::move(*problem));
    return out;
}

}  // namespace shopstream::eventstore
