#pragma once
// Batches for the orders read model as the projection runtime builds them
// (projections/read_model.hpp), written by hand: a commit per call, heads advanced with
// the apply rule's own record_applied(), one checkpoint per partition touched. Used by
// the model's tests and the order queries' tests. Not thread-safe; one per test.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "eventstore/apply_rule.hpp"
#include "postgres/connection.hpp"
#include "projections/read_model.hpp"
#include "tests/support/postgres_fixture.hpp"

namespace shopstream::testing {

inline domain::currency currency_of(std::string_view code) { return *domain::currency::parse(code); }

// order_placed of `lines` as (sku, quantity, unit price), total computed.
inline domain::order::order_placed placed(std::string id, std::string customer, std::int64_t at,
                                          std::vector<domain::order::order_line> lines = {{"sku-1", 2, 1250}},
                                          std::string_view currency = "EUR") {
    std::int64_t total = 0;
    for (const auto& l : lines) total += l.quantity * l.unit_price;
    return {domain::order_id(std::move(id)), domain::customer_id(std::move(customer)), std::move(lines),
            currency_of(currency), total, at, "tok_visa"};
}

class batch_builder {
public:
    // A commit of `events` (all of `ctx`) for `aggregate` at (partition, next offset of it).
    template <class... Events>
    batch_builder& commit(eventstore::context ctx, std::string aggregate, int partition, Events... events) {
        projections::applied_commit c;
        c.ctx = ctx;
        c.at = {eventstore::partition_id(partition), eventstore::log_offset(next_offset_[{ctx, partition}]++)};
        c.timestamp_ms = 0;
        c.aggregate_id = aggregate;
        c.command_id = "cmd-" + aggregate + "-" + std::to_string(++commands_);
        auto& head = heads_[{ctx, aggregate}];
        c.first_version = head.version + 1;
        (c.events.emplace_back(std::move(events)), ...);
        eventstore::record_applied(head, c.command_id, c.events.size(), c.at);
        batch_.commits.push_back(std::move(c));
        touched_[{ctx, aggregate}] = true;
        covered_[{ctx, partition}] = true;
        return *this;
    }
    template <class... Events>
    batch_builder& order(std::string id, Events... events) {
        return commit(eventstore::context::orders, std::move(id), partition_of(id), std::move(events)...);
    }
    template <class... Events>
    batch_builder& payment(std::string id, Events... events) {
        return commit(eventstore::context::payments, std::move(id), partition_of(id), std::move(events)...);
    }
    // A record the rule ignored (a loser or duplicate): it moves the checkpoint only.
    batch_builder& skipped(eventstore::context ctx, int partition) {
        ++next_offset_[{ctx, partition}];
        covered_[{ctx, partition}] = true;
        return *this;
    }

    // The batch so far (heads and checkpoints filled in); the builder starts the next.
    projections::batch take() {
        for (const auto& [key, touched] : touched_) batch_.heads.push_back({key.first, key.second, heads_[key]});
        for (const auto& [key, covered] : covered_) {
            batch_.checkpoints.push_back({key.first, eventstore::partition_id(key.second),
                                          eventstore::log_offset(next_offset_[key])});
        }
        touched_.clear();
        covered_.clear();
        return std::exchange(batch_, {});
    }

    [[nodiscard]] const eventstore::aggregate_head& head(eventstore::context ctx, const std::string& id) {
        return heads_[{ctx, id}];
    }
    static int partition_of(const std::string& id) { return static_cast<int>(std::hash<std::string>{}(id) % 4); }

private:
    projections::batch batch_;
    std::map<std::pair<eventstore::context, std::string>, eventstore::aggregate_head> heads_;
    std::map<std::pair<eventstore::context, std::string>, bool> touched_;
    std::map<std::pair<eventstore::context, int>, std::int64_t> next_offset_;
    std::map<std::pair<eventstore::context, int>, bool> covered_;
    int commands_ = 0;
};

// A fresh database on the shared server and its URL.
inline postgres::database_url fresh_database() {
    auto& server = shared_postgres();
    return *postgres::database_url::parse(server.connection_string(server.create_database()));
}

}  // namespace shopstream::testing
