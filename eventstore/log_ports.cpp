#include "eventstore/log_ports.hpp"

namespace shopstream::eventstore {
namespace {

class steady final : public clock_source {
public:
    [[nodiscard]] clock::time_point now() const override { return clock::now(); }
};

}  // namespace

const clock_source& steady_clock_source() noexcept {
    static const steady instance;
    return instance;
}

}  // namespace shopstream::eventstore
