#include "adapters/http/request.hpp"

#include <algorithm>

namespace shopstream::adapters::http {
namespace {

problem bad_min_position(bool from_header, std::string detail) {
    return from_header ? bad_header("X-Min-Position", std::move(detail))
                       : bad_query_parameter("minPosition", std::move(detail));
}

}  // namespace

std::optional<std::string> query_parameters::get(std::string_view name) const {
    const auto it = std::find_if(all_.begin(), all_.end(), [&](const auto& p) { return p.first == name; });
    if (it == all_.end()) return std::nullopt;
    return it->second;
}

response from_problem(problem p, std::string_view path) {
    if (p.instance.empty()) p.instance = std::string(path);
    response r;
    r.status = p.status;
    r.content_type = std::string(problem_content_type);
    r.headers = p.headers;
    r.body = render(p);
    return r;
}

void request::answer(problem p) const { answer(from_problem(std::move(p), path())); }

result<std::optional<min_position>, problem> read_min_position(const request& rq, const eventstore::commit_tail& tail,
                                                               std::initializer_list<eventstore::context> served,
                                                               eventstore::context bare) {
    auto token = rq.min_position();
    if (!token) return fail(std::move(token.error()));
    if (!*token) return std::nullopt;
    const bool from_header = (*token)->from_header;
    const auto named = eventstore::parse_position_token((*token)->text);
    if (!named) {
        return fail(bad_min_position(from_header, "must be a position token \"" +
                                                      std::string(eventstore::name_of(bare)) +
                                                      ":<partition>:<offset>\" (or \"<partition>:<offset>\") as "
                                                      "command answers carry it"));
    }
    const auto ctx = named->ctx.value_or(bare);
    if (std::find(served.begin(), served.end(), ctx) == served.end()) return std::nullopt;
    if (const auto n = tail.partition_count(ctx); named->at.partition.value() >= n) {
        return fail(bad_min_position(from_header, "names partition " + std::to_string(named->at.partition.value()) +
                                                      "; the log has " + std::to_string(n)));
    }
    return min_position{ctx, named->at, from_header};
}

void answer_unapplied_position(const request& rq, const eventstore::commit_tail& tail, const min_position& wanted,
                               const std::string& why) {
    // A commit is in its partition before its writer is answered (acks=all), so the end
    // of a partition a real answer's position lies in is always beyond it.
    const auto& p = wanted.at;
    const auto end = tail.query_log_end(wanted.ctx, p.partition, std::chrono::milliseconds(1'000));
    if (end && p.offset >= *end) {
        const std::string detail = "names offset " + std::to_string(p.offset.value()) + " of " +
                                   std::string(eventstore::topic_of(wanted.ctx)) + " partition " +
                                   std::to_string(p.partition.value()) + ", which ends at offset " +
                                   std::to_string(end->value()) +
                                   ": no command answer of this log carries it (a token of another log?)";
        return rq.answer(bad_min_position(wanted.from_header, detail));
    }
    rq.answer(unavailable(why + "; retry, or read without X-Min-Position", 1));
}

}  // namespace shopstream::adapters::http
