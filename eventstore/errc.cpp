#include "eventstore/errc.hpp"

namespace shopstream::eventstore {
namespace {

class category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "shopstream.eventstore"; }
    [[nodiscard]] std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::unreachable: return "the brokers did not answer";
            case errc::timed_out: return "the deadline passed";
            case errc::missing_topic: return "an event topic does not exist";
            case errc::misconfigured: return "a topic or client setting is not what the event store needs";
            case errc::foreign_log: return "the state store was built from another log";
            case errc::records_lost: return "the log no longer holds records the state store needs";
            case errc::store_failed: return "the state store cannot be read or written";
            case errc::unreadable_commit: return "an applied commit holds an event this build cannot read";
            case errc::tail_failed: return "the tail stopped applying";
            case errc::client_failed: return "the Kafka client failed";
        }
        return "unknown event store error";
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace shopstream::eventstore
