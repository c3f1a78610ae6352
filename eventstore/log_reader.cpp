#include "eventstore/log_reader.hpp"

#include <algorithm>
#include <limits>

#include "eventstore/commit.hpp"
#include "eventstore/kafka_config.hpp"

namespace shopstream::eventstore::kafka {

std::map<std::string, std::string> reader_settings(const std::string& bootstrap_servers, std::string group_id,
                                                   std::chrono::milliseconds fetch_wait,
                                                   const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> settings = {
        {"bootstrap.servers", bootstrap_servers},
        {"group.id", std::move(group_id)},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "error"},
        {"fetch.wait.max.ms", std::to_string(fetch_wait.count())},
        {"fetch.error.backoff.ms", "10"},
        {"socket.nagle.disable", "true"},
        {"queued.min.messages", "100000"},
        {"log_level", "3"},
    };
    for (const auto& [k, v] : extra) settings[k] = v;
    return settings;
}

commit_headers headers_of(const rd_kafka_message_t& m) {
    commit_headers out;
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    const std::int64_t ts = rd_kafka_message_timestamp(&m, &type);
    out.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
    rd_kafka_headers_t* hdrs = nullptr;
    // The message owns its headers; rd_kafka_message_headers() parses them once.
    if (rd_kafka_message_headers(&m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == nullptr) return out;
    auto get = [&](std::string_view name, std::string& into) {
        const void* v = nullptr;
        std::size_t size = 0;
        if (rd_kafka_header_get_last(hdrs, std::string(name).c_str(), &v, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            v != nullptr) {
            into.assign(static_cast<const char*>(v), size);
        }
    };
    get(header::type, out.command_type);
    get(header::correlation_id, out.correlation_id);
    get(header::causation_id, out.causation_id);
    get(header::actor, out.actor);
    get(header::traceparent, out.traceparent);
    return out;
}

result<partition_bounds, error> query_bounds(rd_kafka_t* client, context ctx, partition_id partition,
                                             std::chrono::milliseconds timeout) {
    const std::string topic(topic_of(ctx));
    std::int64_t low = 0;
    std::int64_t high = 0;
    // A broker just started may not lead its partitions yet (issue 10: serve on the local
    // broker right after it answered): retried until a leader answers or `timeout` passes.
    const auto err = watermarks_once_led(client, topic, partition.value(), low, high, timeout);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(error{errc::unreachable, "cannot read the offsets of " + topic + " partition " +
                                                 std::to_string(partition.value()) + ": " + rd_kafka_err2str(err)});
    }
    return partition_bounds{log_offset(low), log_offset(high)};
}

result<void, error> check_resume_point(context ctx, partition_id partition, log_offset next,
                                       const partition_bounds& bounds, std::string_view holder,
                                       std::string_view rebuild) {
    const std::string topic(topic_of(ctx));
    const std::string part = std::to_string(partition.value());
    if (bounds.low > next) {
        return fail(error{errc::records_lost,
                          "records lost: " + topic + " partition " + part + " now starts at offset " +
                              std::to_string(bounds.low.value()) + " but " + std::string(holder) + " needs offset " +
                              std::to_string(next.value()) +
                              " next. The log lost records to retention, so no reader can rebuild this "
                              "state any more: set the topic's retention to unlimited (retention.ms=-1, "
                              "retention.bytes=-1) and restore the lost records from a backup of the log "
                              "into a new cluster, then point --brokers at it"});
    }
    if (next > bounds.high) {
        return fail(error{errc::foreign_log, std::string(holder) + " has applied " + topic + " partition " + part +
                                                 " up to offset " + std::to_string(next.value()) +
                                                 " but the log ends at " + std::to_string(bounds.high.value()) +
                                                 ": the log is not the one it was built from; " + std::string(rebuild)});
    }
    return {};
}

result<std::optional<std::string>, error> check_log_identity(const std::optional<std::string>& stored,
                                                             bool has_checkpoints, const std::string& current,
                                                             std::string_view holder, std::string_view rebuild) {
    if (!stored) {
        if (has_checkpoints) {
            return fail(error{errc::foreign_log, std::string(holder) +
                                                     " has checkpoints but no log identity: it is not data this "
                                                     "version wrote; " + std::string(rebuild) + " from the log"});
        }
        return std::optional<std::string>(current);
    }
    if (*stored != current) {
        return fail(error{errc::foreign_log, std::string(holder) + " was built from log " + *stored +
                                                 ", but the brokers hold log " + current +
                                                 ": point --brokers at the cluster it was built from, or " +
                                                 std::string(rebuild) + " from this log"});
    }
    return std::optional<std::string>{};
}

}  // namespace shopstream::eventstore::kafka
