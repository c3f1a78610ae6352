#include "adapters/http/aggregate_routes.hpp"

#include <spdlog/spdlog.h>

#include "adapters/http/json_mapping.hpp"
#include "eventstore/aggregate_reader.hpp"

namespace shopstream::adapters::http {
namespace {

void read_history(const request& rq, const read_sources& sources, eventstore::context ctx, std::string_view noun,
                  const history_lookup& lookup) {
    const auto& id = rq.param();
    auto subject = lookup(id);
    if (!subject) {
        spdlog::error("request {}: store read failed: {}", rq.id(), subject.error());
        return rq.answer(internal_error("the state store cannot be read"));
    }
    if (!*subject) return rq.answer(not_found("no " + std::string(noun) + " '" + id + "'"));
    const auto& who = *rq.actor();
    if (!who.is_admin() && !(who.role == domain::role::customer && who.id == (**subject).owner)) {
        return rq.answer(forbidden("only the owner or an admin may read this history"));
    }
    std::function<void()> job = [rq, &store = sources.store, ctx, version = (**subject).version] {
        // Rendered in place inside the store's read transaction: no copy of the history.
        history_renderer renderer(ctx);
        std::optional<problem> unreadable;
        auto visited = eventstore::visit_history(store, ctx, rq.param(), version, [&](const auto& e) {
            auto added = renderer.add(e);
            if (!added) unreadable = std::move(added.error());
            return added.has_value();
        });
        if (!visited) {
            spdlog::error("request {}: history read failed: {}", rq.id(), visited.error());
            return rq.answer(unavailable("the event log cannot be read right now", 1));
        }
        if (unreadable) return rq.answer(std::move(*unreadable));
        response r;
        r.body = renderer.finish();
        r.headers.emplace_back("ETag", etag(version));
        rq.answer(std::move(r));
    };
    (void)rq.post(work_pool_id::reads, job);  // closed only after the event loop stopped
}

}  // namespace

void answer_history(const request& rq, const read_sources& sources, eventstore::context ctx,
                    std::string_view noun, const history_lookup& lookup) {
    auto wanted = read_min_position(rq, sources.tail, {ctx}, ctx);
    if (!wanted) return rq.answer(std::move(wanted.error()));
    if (!*wanted) return read_history(rq, sources, ctx, noun, lookup);
    const auto deadline = eventstore::clock::now() + sources.min_position_timeout;
    sources.tail.await_position(
        ctx, (*wanted)->at, deadline,
        [rq, sources, ctx, noun = std::string(noun), lookup, wanted = **wanted](result<void, eventstore::wait_error> r) {
            if (!r) {
                if (r.error().code == eventstore::wait_errc::stopped) {
                    return rq.answer(unavailable("the server is shutting down", 1));
                }
                std::function<void()> job = [rq, &tail = sources.tail, wanted] {
                    answer_unapplied_position(rq, tail, wanted, "the position is not applied yet");
                };
                (void)rq.post(work_pool_id::reads, job);
                return;
            }
            // On the tail's thread now: the store read goes to the read pool (closed: the
            // event loop is gone, so the request cannot be answered; dropping the job ends
            // its flight).
            std::function<void()> job = [rq, sources, ctx, noun, lookup] { read_history(rq, sources, ctx, noun, lookup); };
            (void)rq.post(work_pool_id::reads, job);
        });
}

}  // namespace shopstream::adapters::http
