#pragma once
// What every checkpointed reader of the context topics shares - the tail that feeds the
// state store (eventstore/tail.cpp) and the projection runtime that feeds the read models
// (projections/runtime.cpp): the consumer settings of a reader that keeps its offsets in
// its own store, the headers of a consumed commit, and the start checks of decision 11
// (same log identity; the log still holds the stored checkpoint and does not end before
// it), each refusal naming the data to delete or the fix.
//
// Thread-safety: free functions; those taking an rd_kafka_t* are safe from any thread, as
// librdkafka's calls on one client are.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "eventstore/context.hpp"
#include "eventstore/errc.hpp"
#include "eventstore/position.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::eventstore::kafka {

// A consumer that never commits offsets, assigns (or seeks) at its own checkpoints, sees
// partition EOF and fails on a lost offset instead of resetting. `group_id` only names
// the client to librdkafka unless the caller subscribes. `extra` wins.
[[nodiscard]] std::map<std::string, std::string> reader_settings(const std::string& bootstrap_servers,
                                                                 std::string group_id,
                                                                 std::chrono::milliseconds fetch_wait,
                                                                 const std::map<std::string, std::string>& extra);

// The headers a history shows, and the record's timestamp, from a consumed record.
[[nodiscard]] commit_headers headers_of(const rd_kafka_message_t& m);

// The log's first and end offsets of one partition, asked of the brokers.
struct partition_bounds {
    log_offset low{0};
    log_offset high{0};
};
[[nodiscard]] result<partition_bounds, error> query_bounds(rd_kafka_t* client, context ctx, partition_id partition,
                                                           std::chrono::milliseconds timeout);

// Whether a reader whose data (`holder`, e.g. "the state store in /d") has `next` as the
// next offset of (ctx, partition) may resume on a log with these bounds: records_lost when
// the log now starts after it, foreign_log when the log ends before it. `rebuild` ends the
// foreign-log message ("delete /d to rebuild").
[[nodiscard]] result<void, error> check_resume_point(context ctx, partition_id partition, log_offset next,
                                                     const partition_bounds& bounds, std::string_view holder,
                                                     std::string_view rebuild);

// Whether data built from log `stored` (nullopt: none recorded) may be fed from log
// `current`. Data with checkpoints and no identity was not written by this version.
// Returns the identity to record with the next write (nullopt: already recorded).
[[nodiscard]] result<std::optional<std::string>, error> check_log_identity(const std::optional<std::string>& stored,
                                                                           bool has_checkpoints,
                                                                           const std::string& current,
                                                                           std::string_view holder,
                                                                           std::string_view rebuild);

}  // namespace shopstream::eventstore::kafka
