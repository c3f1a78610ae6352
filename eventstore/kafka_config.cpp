#include "eventstore/kafka_config.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <thread>

namespace shopstream::eventstore::kafka {
namespace {

spdlog::level::level_enum spdlog_level(int syslog_level) noexcept {
    switch (syslog_level) {
        case 0:  // LOG_EMERG
        case 1:  // LOG_ALERT
        case 2:  // LOG_CRIT
            return spdlog::level::critical;
        case 3: return spdlog::level::err;
        case 4: return spdlog::level::warn;
        case 5:  // LOG_NOTICE
        case 6: return spdlog::level::info;
        default: return spdlog::level::debug;
    }
}

// The logger "kafka": a clone of the default logger (same sinks, hence the same
// formatting), registered so spdlog::set_level applies to it too.
std::shared_ptr<spdlog::logger> kafka_logger() {
    if (auto existing = spdlog::get("kafka")) return existing;
    auto created = spdlog::default_logger()->clone("kafka");
    try {
        spdlog::register_logger(created);
    } catch (const spdlog::spdlog_ex&) {  // another librdkafka thread registered it first
        if (auto existing = spdlog::get("kafka")) return existing;
    }
    return created;
}

}  // namespace

void log_to_spdlog(const rd_kafka_t* rk, int level, const char* facility, const char* message) noexcept {
    try {
        const char* name = rk != nullptr ? rd_kafka_name(rk) : "rdkafka";
        kafka_logger()->log(spdlog_level(level), "{} {}: {}", name != nullptr ? name : "rdkafka",
                            facility != nullptr ? facility : "", message != nullptr ? message : "");
    } catch (...) {  // a C callback: nothing may escape; a lost log line is the lesser harm
    }
}

result<conf, error> make_conf(const std::map<std::string, std::string>& settings) {
    conf c(rd_kafka_conf_new());
    rd_kafka_conf_set_log_cb(c.get(), &log_to_spdlog);
    std::array<char, 512> reason{};
    for (const auto& [key, value] : settings) {
        if (rd_kafka_conf_set(c.get(), key.c_str(), value.c_str(), reason.data(), reason.size()) !=
            RD_KAFKA_CONF_OK) {
            return fail(eventstore::error{errc::invalid_setting, "kafka setting " + key + "=" + value + ": " + reason.data()});
        }
    }
    return c;
}

result<handle, error> make_client(rd_kafka_type_t type, conf settings) {
    std::array<char, 512> reason{};
    rd_kafka_t* rk = rd_kafka_new(type, settings.get(), reason.data(), reason.size());
    if (rk == nullptr) return fail(eventstore::error{errc::client_failed, std::string("cannot create kafka client: ") + reason.data()});
    settings.release();  // owned by rk now
    return handle(rk);
}

result<std::map<std::string, int>, error> partition_counts(rd_kafka_t* client, std::chrono::milliseconds timeout) {
    const rd_kafka_metadata_t* md = nullptr;
    const auto err = rd_kafka_metadata(client, 1, nullptr, &md, static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(error{errc::unreachable, std::string("metadata: ") + rd_kafka_err2str(err)});
    std::map<std::string, int> out;
    for (int i = 0; i < md->topic_cnt; ++i) {
        if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) out[md->topics[i].topic] = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return out;
}

rd_kafka_resp_err_t watermarks_once_led(rd_kafka_t* rk, const std::string& topic, std::int32_t partition,
                                        std::int64_t& low, std::int64_t& high, std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        const auto err = rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &low, &high,
                                                          static_cast<int>(std::max<std::int64_t>(left.count(), 1)));
        const bool electing = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                              err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                              err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
        if (!electing || clock::now() >= deadline) return err;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // before asking the new leader
    }
}

}  // namespace shopstream::eventstore::kafka
