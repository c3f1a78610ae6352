#include "adapters/http/order_query_routes.hpp"

#include <array>
#include <charconv>
#include <chrono>

#include "adapters/http/json_mapping.hpp"
#include "adapters/http/json_writer.hpp"

namespace shopstream::adapters::http {
namespace {

problem problem_of(const queries::error& e) {
    switch (e.code) {
        case queries::errc::invalid_argument: {
            // The message starts with the parameter's name and ": " (queries/errc.hpp).
            const auto colon = e.message.find(": ");
            if (colon == std::string::npos) return bad_query_parameter("query", e.message);
            return bad_query_parameter(e.message.substr(0, colon), e.message.substr(colon + 2));
        }
        case queries::errc::not_found: return not_found(e.message);
        case queries::errc::unavailable:
        case queries::errc::not_yet_applied: break;
    }
    return unavailable("the orders read model cannot be read", 1);
}

void money(json_writer& w, const domain::money& m) {
    w.begin_object().member("amount", m.amount).member("currency", m.currency.empty() ? std::string_view() : m.currency.code());
    w.end_object();
}

void monies(json_writer& w, const std::vector<domain::money>& all) {
    w.begin_array();
    for (const auto& m : all) money(w, m);
    w.end_array();
}

void timestamp(json_writer& w, std::int64_t ms) {
    std::array<char, 24> text{};
    if (const auto n = format_rfc3339_into(ms, text)) {
        w.string(std::string_view(text.data(), *n));
    } else {
        w.null();
    }
}

std::string render_order_view(const queries::order_view& o) {
    std::string out;
    json_writer w(out);
    w.begin_object()
        .member("orderId", std::string_view(o.id))
        .member("customerId", std::string_view(o.customer))
        .member("status", name_of(o.status));
    money(w.key("total"), o.total);
    w.key("lines").begin_array();
    for (const auto& l : o.lines) {
        w.begin_object().member("sku", std::string_view(l.sku)).member("quantity", l.quantity);
        money(w.key("unitPrice"), {l.unit_price, o.total.currency});
        w.end_object();
    }
    w.end_array().key("cancelReason");
    if (o.cancel_reason) {
        w.string(name_of(*o.cancel_reason));
    } else {
        w.null();
    }
    w.member("paymentCaptured", o.payment_captured).key("payment");
    if (o.payment) {
        const auto& p = *o.payment;
        w.begin_object().member("paymentId", std::string_view(p.id)).member("status", name_of(p.status));
        money(w.key("amount"), p.amount);
        money(w.key("captured"), {p.captured, p.amount.currency});
        money(w.key("refunded"), {p.refunded, p.amount.currency});
        w.end_object();
    } else {
        w.null();
    }
    w.member("version", o.version);
    timestamp(w.key("placedAt"), o.placed_at_ms);
    timestamp(w.key("updatedAt"), o.updated_at_ms);
    w.end_object();
    return out;
}

std::string render_order_page(const queries::order_page& p) {
    std::string out;
    json_writer w(out);
    w.begin_object().key("items").begin_array();
    for (const auto& i : p.items) {
        w.begin_object().member("orderId", std::string_view(i.id)).member("status", name_of(i.status));
        money(w.key("total"), i.total);
        w.key("paymentStatus");
        if (i.payment_status) {
            w.string(name_of(*i.payment_status));
        } else {
            w.null();
        }
        w.member("version", i.version);
        timestamp(w.key("placedAt"), i.placed_at_ms);
        timestamp(w.key("updatedAt"), i.updated_at_ms);
        w.end_object();
    }
    w.end_array().key("next");
    if (p.next) {
        w.string(*p.next);
    } else {
        w.null();
    }
    w.end_object();
    return out;
}

std::string render_summary(std::int64_t from, std::int64_t to, const queries::order_summary& s) {
    std::string out;
    json_writer w(out);
    w.begin_object();
    timestamp(w.key("from"), from);
    timestamp(w.key("to"), to);
    w.key("days").begin_array();
    for (const auto& r : s.rows) {
        w.begin_object()
            .member("day", std::string_view(r.day))
            .member("status", name_of(r.status))
            .member("count", r.count);
        monies(w.key("revenue"), r.revenue);
        w.end_object();
    }
    w.end_array();
    monies(w.key("revenue"), s.revenue);
    w.end_object();
    return out;
}

result<int, problem> parse_limit(const std::optional<std::string>& text) {
    if (!text) return 20;
    int value = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (text->empty() || ec != std::errc{} || end != text->data() + text->size() || value < 1 ||
        value > queries::max_page_size) {
        return fail(bad_query_parameter("limit", "must be an integer from 1 to " +
                                                     std::to_string(queries::max_page_size) + ", not '" +
                                                     text->substr(0, 40) + "'"));
    }
    return value;
}

result<std::int64_t, problem> parse_time_parameter(std::string_view name, const std::optional<std::string>& text) {
    if (!text) return fail(bad_query_parameter(name, "is required: an RFC 3339 date-time or date"));
    const auto ms = parse_rfc3339(*text);
    if (!ms) {
        return fail(bad_query_parameter(name, "must be an RFC 3339 date-time (2026-12-01T00:00:00Z) or date "
                                              "(2026-12-01) from 1970 to 9999, not '" + text->substr(0, 40) + "'"));
    }
    return *ms;
}

result<query_answer, problem> list_orders(queries::order_queries& q, const order_query_parameters& p,
                                          const domain::actor& who) {
    queries::list_orders_request request;
    if (who.is_admin()) {
        if (!p.customer_id) return fail(bad_query_parameter("customerId", "is required for an admin"));
        request.customer = *p.customer_id;
    } else {
        if (p.customer_id && *p.customer_id != who.id) {
            return fail(forbidden("a customer may list only their own orders"));
        }
        request.customer = who.id;
    }
    if (!domain::is_valid_id(request.customer)) {
        return fail(bad_query_parameter("customerId", "must be 1-128 characters from [A-Za-z0-9._:-]"));
    }
    if (p.status) {
        auto status = queries::parse_order_status(*p.status);
        if (!status) return fail(problem_of(status.error()));
        request.status = *status;
    }
    auto limit = parse_limit(p.limit);
    if (!limit) return fail(std::move(limit.error()));
    request.limit = *limit;
    request.after = p.after;
    auto page = q.list_orders(request);
    if (!page) return fail(problem_of(page.error()));
    return query_answer{200, render_order_page(*page), {}};
}

// `digits` decimal digits of `text` at `at`, nullopt when any is not a digit.
std::optional<int> digits_at(std::string_view text, std::size_t at, std::size_t digits) {
    if (at + digits > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = at; i < at + digits; ++i) {
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view text) noexcept {
    using namespace std::chrono;
    const auto y = digits_at(text, 0, 4), mo = digits_at(text, 5, 2), d = digits_at(text, 8, 2);
    if (!y || !mo || !d || text[4] != '-' || text[7] != '-' || *y < 1970) return std::nullopt;
    const year_month_day date{year(*y), month(static_cast<unsigned>(*mo)), day(static_cast<unsigned>(*d))};
    if (!date.ok()) return std::nullopt;
    std::int64_t ms = duration_cast<milliseconds>(sys_days(date).time_since_epoch()).count();
    if (text.size() == 10) return ms;
    const auto h = digits_at(text, 11, 2), mi = digits_at(text, 14, 2), s = digits_at(text, 17, 2);
    if ((text[10] != 'T' && text[10] != 't') || !h || !mi || !s || text[13] != ':' || text[16] != ':' || *h > 23 ||
        *mi > 59 || *s > 59) {
        return std::nullopt;
    }
    ms += ((*h * 60LL + *mi) * 60 + *s) * 1000;
    std::size_t at = 19;
    if (at < text.size() && text[at] == '.') {
        const std::size_t first = ++at;
        int fraction = 0;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            if (at - first < 3) fraction = fraction * 10 + (text[at] - '0');
            ++at;
        }
        if (at == first || at - first > 9) return std::nullopt;
        for (std::size_t n = at - first; n < 3; ++n) fraction *= 10;
        ms += fraction;  // below a millisecond: truncated
    }
    if (at == text.size()) return std::nullopt;  // a date-time needs its offset
    if (text[at] == 'Z' || text[at] == 'z') {
        if (at + 1 != text.size()) return std::nullopt;
    } else {
        const auto oh = digits_at(text, at + 1, 2), om = digits_at(text, at + 4, 2);
        if ((text[at] != '+' && text[at] != '-') || !oh || !om || text[at + 3] != ':' || at + 6 != text.size() ||
            *oh > 23 || *om > 59) {
            return std::nullopt;
        }
        const std::int64_t offset = (*oh * 60LL + *om) * 60'000;
        ms += text[at] == '+' ? -offset : offset;
    }
    constexpr std::int64_t max_ms = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
    if (ms < 0 || ms > max_ms) return std::nullopt;
    return ms;
}

result<query_answer, problem> answer_order_query(queries::order_queries& q, order_query_route route,
                                                 const std::string& id, const order_query_parameters& parameters,
                                                 const domain::actor& who) {
    switch (route) {
        case order_query_route::get_order: {
            auto o = q.get_order(id);
            if (!o) return fail(problem_of(o.error()));
            if (!who.is_admin() && !(who.role == domain::role::customer && who.id == o->customer)) {
                return fail(forbidden("only the owner or an admin may read this order"));
            }
            return query_answer{200, render_order_view(*o), {{"ETag", etag(o->version)}}};
        }
        case order_query_route::list_orders: return list_orders(q, parameters, who);
        case order_query_route::summary: {
            if (!who.is_admin()) return fail(forbidden("only an admin may read the order summary"));
            auto from = parse_time_parameter("from", parameters.from);
            if (!from) return fail(std::move(from.error()));
            auto to = parse_time_parameter("to", parameters.to);
            if (!to) return fail(std::move(to.error()));
            auto s = q.summary(*from, *to);
            if (!s) return fail(problem_of(s.error()));
            return query_answer{200, render_summary(*from, *to, *s), {}};
        }
    }
    return fail(internal_error("unknown order query route"));
}

}  // namespace shopstream::adapters::http
