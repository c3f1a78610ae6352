#pragma once
// What the routes of both contexts (order_routes.hpp, review_routes.hpp) do the same way
// over their aggregates, each naming its aggregate, owner and renderer:
//
// run_command(): a command the context's route decoded (as_command() makes it the
// aggregate's command) goes to its handler through the pipeline's request::run_command;
// the answer's body is the context's rendering of the outcome, with the aggregate's status
// as of that version when the store has not moved past it.
//
// answer_history(), GET /v1/orders/{id}/events and GET /v1/reviews/{id}/events:
// X-Min-Position (or ?minPosition=) waits, bounded, until this process's tail of the
// context has applied the position; ownership and existence come from the local store, and
// so do the events (the store keeps each commit's bytes, decision 2), read and rendered in
// place on the read pool: {"events": [...]} with ETag. Only the owner (a customer) or an
// admin may read a history.
//
// Thread-safety: both may be called from any thread; a history's lookup runs on the
// caller's thread, or on the read pool after a wait; a command's rendering on the
// pipeline's completion pool. The handler must outlive every request it serves.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "adapters/http/request.hpp"
#include "base/result.hpp"
#include "commands/command_handler.hpp"
#include "eventstore/context.hpp"
#include "eventstore/state_store.hpp"

namespace shopstream::adapters::http {

// What the local store says of the aggregate whose history is asked for.
struct history_subject {
    std::uint64_t version = 0;
    std::string owner;
};
// The aggregate `id` in the local store: nullopt when it does not exist; a message when the
// store cannot be read.
using history_lookup = std::function<result<std::optional<history_subject>, std::string>(const std::string& id)>;

// The lookup of a command handler's aggregates, the owner read from the state by `owner_of`.
template <class Aggregate, class Owner>
history_lookup lookup_in(const commands::command_handler<Aggregate>& handler, Owner owner_of) {
    return [&handler, owner_of](const std::string& id) -> result<std::optional<history_subject>, std::string> {
        auto current = handler.current(id);
        if (!current) return fail(std::move(current.error()));
        if (!*current) return std::nullopt;
        return history_subject{(**current).version, owner_of((**current).state)};
    };
}

// What a context's reads wait on and read: this process's tail (X-Min-Position on the
// histories, the log's partitions), the state store, and how long a read waits.
struct read_sources {
    eventstore::commit_tail& tail;
    const eventstore::state_store& store;
    std::chrono::milliseconds min_position_timeout;
};

// A command a request body decoded into, as its aggregate's command.
template <class Aggregate, class Command>
result<typename Aggregate::command, problem> as_command(result<Command, problem> decoded) {
    if (!decoded) return fail(std::move(decoded.error()));
    return typename Aggregate::command(std::move(*decoded));
}

// Runs `cmd` of the request's route on `handler`; `render_body(outcome, status)` writes the
// answer's body, and a creation's Location is `location_prefix` + the aggregate id.
template <class Aggregate, class Render_body>
void run_command(const request& rq, const commands::command_handler<Aggregate>& handler, command_route route,
                 eventstore::context ctx, typename Aggregate::command cmd, command_call call,
                 std::string_view location_prefix, Render_body render_body) {
    rq.run_command(
        route, ctx,
        [&handler, cmd = std::move(cmd), call = std::move(call)](commands::command_callback done) mutable {
            handler.handle(std::move(cmd), std::move(call.meta), call.options, std::move(done));
        },
        [&handler, location_prefix = std::string(location_prefix), render_body](const commands::command_outcome& o) {
            // The status as of this version, when the store has not moved past it yet.
            auto current = handler.current(o.aggregate_id);
            const bool same = current && *current && (**current).version == o.version;
            return command_rendering{render_body(o, same ? std::optional((**current).state.status) : std::nullopt),
                                     location_prefix + o.aggregate_id};
        });
}

// Answers the history of the aggregate rq.param() of `ctx` (`noun` names it in a 404: "no
// order 'o-1'").
void answer_history(const request& rq, const read_sources& sources, eventstore::context ctx,
                    std::string_view noun, const history_lookup& lookup);

}  // namespace shopstream::adapters::http
