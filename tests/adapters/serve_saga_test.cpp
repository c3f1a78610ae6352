// serve's saga flags (adapters/cli/serve_saga.hpp): --roles, any non-empty subset of the
// four roles; each refusal names what was expected.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "adapters/cli/serve_saga.hpp"

namespace shopstream::adapters {
namespace {

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

}  // namespace
}  // namespace shopstream::adapters
