#pragma once
// given(events).when(command).then(events | rejection): decider tests that read like
// the business rules they check. Works with any aggregate's `decider` struct
// (domain/common.hpp):
//
//   given<order::decider>({placed}).when(cancel_by_owner).then({cancelled});
//   given<order::decider>({}).when(bad).then_rejected(rejection_code::invalid, "/lines/0/sku");
//   given<order::decider>({placed, cancelled}).when(cancel_by_owner).then_nothing();
//
// then() also checks that the produced events evolve cleanly and that deciding the same
// command again on the resulting state produces nothing (every command is idempotent);
// a decider with `static command repeated(command)` is given that form of it again.

#include <gtest/gtest.h>

#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "domain/common.hpp"

namespace shopstream::testing {

template <class D>
class decider_scenario {
public:
    using state = typename D::state;
    using command = typename D::command;
    using event = typename D::event;

    explicit decider_scenario(std::vector<event> history) : history_(std::move(history)) {}

    decider_scenario& when(command cmd) {
        command_ = std::move(cmd);
        return *this;
    }

    [[nodiscard]] state state_before() const {
        state s = D::initial_state();
        for (const auto& e : history_) s = D::evolve(std::move(s), e);
        return s;
    }

    // The command yields exactly `expected`, and repeating it afterwards yields nothing.
    state then(const std::vector<event>& expected,
               std::source_location where = std::source_location::current()) {
        SCOPED_TRACE(::testing::Message() << where.file_name() << ":" << where.line());
        auto out = decide();
        if (!out) {
            ADD_FAILURE() << "expected events, got rejection (code "
                          << static_cast<int>(out.error().code) << ", field '" << out.error().field
                          << "'): " << out.error().reason;
            return state_before();
        }
        EXPECT_EQ(out->size(), expected.size()) << "number of events";
        EXPECT_TRUE(*out == expected) << "events differ from the expected ones";
        state after = state_before();
        for (const auto& e : *out) after = D::evolve(std::move(after), e);
        // A decider whose commands carry facts from outside the state (review votes: the
        // voter index) says how its command arrives the second time.
        auto again = [&] {
            if constexpr (requires { D::repeated(*command_); }) return D::decide(D::repeated(*command_), after);
            else return D::decide(*command_, after);
        }();
        EXPECT_TRUE(again.has_value() && again->empty())
            << "repeating the command after it applied must be an idempotent no-op";
        return after;
    }

    // The command is accepted as an idempotent repeat: no events.
    void then_nothing(std::source_location where = std::source_location::current()) {
        SCOPED_TRACE(::testing::Message() << where.file_name() << ":" << where.line());
        auto out = decide();
        ASSERT_TRUE(out.has_value()) << "expected no events, got rejection: " << out.error().reason;
        EXPECT_TRUE(out->empty()) << "expected no events, got " << out->size();
    }

    // The command is refused with `code`; when `field` is given, it names that field.
    void then_rejected(domain::rejection_code code, std::optional<std::string> field = std::nullopt,
                       std::source_location where = std::source_location::current()) {
        SCOPED_TRACE(::testing::Message() << where.file_name() << ":" << where.line());
        auto out = decide();
        ASSERT_FALSE(out.has_value()) << "expected a rejection, got " << out->size() << " event(s)";
        EXPECT_EQ(static_cast<int>(out.error().code), static_cast<int>(code))
            << "reason: " << out.error().reason;
        if (field) {
            EXPECT_EQ(out.error().field, *field) << "reason: " << out.error().reason;
        }
        EXPECT_FALSE(out.error().reason.empty()) << "a rejection must say why";
    }

private:
    domain::decision<event> decide() const {
        if (!command_) throw std::logic_error("given(...) without when(...)");
        return D::decide(*command_, state_before());
    }

    std::vector<event> history_;
    std::optional<command> command_;
};

template <class D>
decider_scenario<D> given(std::vector<typename D::event> history) {
    return decider_scenario<D>(std::move(history));
}

}  // namespace shopstream::testing
