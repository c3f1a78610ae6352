#include "eventstore/errc.hpp"

namespace shopstream::eventstore {

const char* category_name(errc) noexcept { return "shopstream.eventstore"; }

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::unreachable: return "the brokers did not answer";
        case errc::timed_out: return "the deadline passed";
        case errc::missing_topic: return "an event topic does not exist";
        case errc::misconfigured: return "a topic or client setting is not what the event store needs";
        case errc::foreign_log: return "the state store was built from another log";
        case errc::records_lost: return "the log no longer holds records the state store needs";
        case errc::store_failed: return "a store (the state store or a read model) cannot be read or written";
        case errc::unreadable_commit: return "an applied commit holds an event this build cannot read";
        case errc::tail_failed: return "the tail stopped applying";
        case errc::client_failed: return "the Kafka client failed";
        case errc::invalid_setting: return "librdkafka refused a configuration setting";
        case errc::log_mismatch: return "the log does not hold the commit the state store serves";
        case errc::invalid_argument: return "an argument is out of range";
        case errc::topic_exists: return "the topic exists already";
        case errc::authentication_failed: return "a broker refused the credentials";
    }
    return "unknown event store error";
}

}  // namespace shopstream::eventstore
