#pragma once
// The event names of one order or payment stream, in version order, from the commits a
// state store applied: what the saga tests compare against the exact sequence a path
// must produce. Header-only (the engine's unit tests and the runtime's integration tests
// both use it, and link different test libraries). A commit that does not decode is a
// test failure, not a gap in the list.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eventstore/aggregates.hpp"
#include "eventstore/commit.hpp"
#include "eventstore/context.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::testing {

inline std::vector<std::string> stream_events(const eventstore::state_store& store, eventstore::context ctx,
                                              const std::string& id) {
    std::vector<std::string> out;
    auto commits = store.commits(ctx, id);
    EXPECT_TRUE(commits.has_value());
    if (!commits) return out;
    for (const auto& c : *commits) {
        auto decoded = eventstore::decode_commit(c.record);
        EXPECT_TRUE(decoded.has_value());
        if (!decoded) continue;
        for (const auto& e : decoded->events) {
            if (ctx == eventstore::context::orders) {
                auto ev = eventstore::order_aggregate::decode_event(e.type, e.schema_version, e.payload);
                if (ev) out.emplace_back(eventstore::order_aggregate::event_name(*ev));
            } else {
                auto ev = eventstore::payment_aggregate::decode_event(e.type, e.schema_version, e.payload);
                if (ev) out.emplace_back(eventstore::payment_aggregate::event_name(*ev));
            }
        }
    }
    return out;
}

}  // namespace shopstream::testing
