// serve's saga flags (adapters/cli/serve_saga.hpp): --roles, any non-empty subset of the
// four roles, and --payment-breaker, the circuit breaker's rule; each refusal names what
// was expected.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "adapters/cli/serve_saga.hpp"

namespace shopstream::adapters {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(serve_roles, any_non_empty_subset_in_any_order) {
    const auto all = parse_roles("projections,gateway,saga,api");
    ASSERT_TRUE(all.has_value()) << all.error();
    EXPECT_TRUE(all->api && all->saga && all->gateway && all->projections);
    const auto worker = parse_roles("saga,gateway");
    ASSERT_TRUE(worker.has_value()) << worker.error();
    EXPECT_FALSE(worker->api);
    EXPECT_FALSE(worker->projections);
    EXPECT_TRUE(worker->saga && worker->gateway);
    const auto projector = parse_roles("projections");
    ASSERT_TRUE(projector.has_value()) << projector.error();
    EXPECT_TRUE(projector->projections);
    EXPECT_FALSE(projector->api || projector->saga || projector->gateway);
}

TEST(serve_roles, an_empty_list_or_an_unknown_role_is_refused_naming_the_roles) {
    for (const char* text : {"", "api,", ",saga", "api,,saga", "apis", "api,payments"}) {
        const auto r = parse_roles(text);
        ASSERT_FALSE(r.has_value()) << "'" << text << "'";
        EXPECT_THAT(r.error(), HasSubstr("api")) << text;
        EXPECT_THAT(r.error(), HasSubstr("projections")) << text;
    }
    EXPECT_THAT(parse_roles("api,payments").error(), HasSubstr("'payments'"));
}

TEST(payment_breaker_flag, parses_rate_calls_window_and_open_time) {
    const auto b = parse_breaker("0.25/40/30s/500ms");
    ASSERT_TRUE(b.has_value()) << b.error();
    EXPECT_EQ(b->failure_rate, 0.25);
    EXPECT_EQ(b->minimum_calls, 40);
    EXPECT_EQ(b->window, 30s);
    EXPECT_EQ(b->open_for, 500ms);
    const auto defaults = parse_breaker("0.5/20/10s/5s");  // serve_config's default
    ASSERT_TRUE(defaults.has_value());
    const payment::breaker_settings built_in;
    EXPECT_EQ(defaults->failure_rate, built_in.failure_rate);
    EXPECT_EQ(defaults->minimum_calls, built_in.minimum_calls);
    EXPECT_EQ(defaults->window, built_in.window);
    EXPECT_EQ(defaults->open_for, built_in.open_for);
}

TEST(payment_breaker_flag, refuses_anything_else_saying_the_form) {
    for (const char* text : {"", "0.5/20/10s", "0.5/20/10s/5s/1s", "0/20/10s/5s", "1.5/20/10s/5s", "x/20/10s/5s",
                             "0.5/0/10s/5s", "0.5/-1/10s/5s", "0.5/20/0s/5s", "0.5/20/10/5s", "0.5/20/10s/0ms"}) {
        const auto b = parse_breaker(text);
        ASSERT_FALSE(b.has_value()) << "'" << text << "'";
        EXPECT_THAT(b.error(), HasSubstr("RATE/CALLS/WINDOW/OPEN")) << text;
    }
}

}  // namespace
}  // namespace shopstream::adapters
