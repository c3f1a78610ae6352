// Strict request reading is done by a SAX handler on nlohmann's parser rather than
// nlohmann::json::parse: only the SAX interface sees what the DOM loses — a key that
// appears twice (the DOM keeps the last), the text of a number (so "2.0" and "1e3" are
// told apart from integers, and 9223372036854775808 is reported as an overflow rather than
// a float), and where in the document a value sits (for JSON pointers in errors). The
// handler still builds an ordinary nlohmann DOM that the route readers then walk.
//
// UTF-8 is checked before parsing, with base/utf8 (which says where the first bad byte
// is): nlohmann's parser reports ill-formed UTF-8 outside strings as a generic syntax
// error.
#include "adapters/http/json_mapping.hpp"

#include "adapters/http/json_writer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <variant>

#include "base/utf8.hpp"
#include "commands/command_handler.hpp"
#include "eventstore/aggregate_reader.hpp"
#include "eventstore/aggregates.hpp"
#include "eventstore/position.hpp"

namespace shopstream::adapters::http {
namespace {

using json = nlohmann::json;

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ---- strict parsing ----------------------------------------------------------------

// A number the DOM cannot hold as an int64: its text, and whether it was written as an
// integer (then it overflows int64) or with a fraction/exponent.
struct number_note {
    bool integral = false;
    std::string lexeme;
};

struct parsed_body {
    json root;
    std::map<std::string, number_note, std::less<>> numbers;  // by JSON pointer
    std::vector<field_error> errors;                          // duplicate keys
};

class dom_builder final : public nlohmann::json_sax<json> {
public:
    parsed_body out;
    std::optional<problem> failure;

    bool null() override { return put(nullptr); }
    bool boolean(bool v) override { return put(v); }
    bool number_integer(number_integer_t v) override { return put(v); }
    bool number_unsigned(number_unsigned_t v) override {
        if (v <= static_cast<number_unsigned_t>(std::numeric_limits<std::int64_t>::max())) {
            return put(static_cast<number_integer_t>(v));
        }
        out.numbers[next_pointer()] = number_note{true, std::to_string(v)};
        return put(v);
    }
    bool number_float(number_float_t v, const string_t& lexeme) override {
        const bool integral = lexeme.find_first_of(".eE") == string_t::npos;
        out.numbers[next_pointer()] = number_note{integral, lexeme};
        return put(v);
    }
    bool string(string_t& v) override { return put(std::move(v)); }
    bool binary(binary_t&) override { return false; }  // JSON text has no binary values
    bool start_object(std::size_t) override { return open(json::object()); }
    bool key(string_t& k) override {
        frame& top = stack_.back();
        top.key = k;
        if (top.value->contains(k)) out.errors.push_back(duplicate_key(next_pointer()));
        return true;
    }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(json::array()); }
    bool end_array() override { return close(); }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& ex) override {
        if (ex.id == 406) {  // a number no double holds ("1e400"): the syntax is fine
            failure =
                validation_failed({out_of_range(next_pointer(), "the number is too large to represent")});
            return false;
        }
        std::string what = ex.what();
        // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error…"
        if (const auto bracket = what.find("] ");
            what.starts_with("[json.") && bracket != std::string::npos) {
            what.erase(0, bracket + 2);
        }
        failure = malformed_json(position == 0 ? 0 : position - 1, "the body is not valid JSON: " + what);
        return false;
    }

private:
    struct frame {
        json* value;
        std::string pointer;
        std::string key;  // the pending key, for objects
    };

    std::string next_pointer() const {
        if (stack_.empty()) return "";
        const frame& top = stack_.back();
        if (top.value->is_array()) return top.pointer + "/" + std::to_string(top.value->size());
        return top.pointer + "/" + escape_pointer_token(top.key);
    }

    // Places `v` where the next value goes; returns where it landed.
    json* place(json v) {
        if (stack_.empty()) {
            out.root = std::move(v);
            return &out.root;
        }
        json& top = *stack_.back().value;
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        json& slot = top[stack_.back().key];
        slot = std::move(v);
        return &slot;
    }

    bool put(json v) {
        place(std::move(v));
        return true;
    }

    bool open(json container) {
        std::string pointer = next_pointer();
        json* at = place(std::move(container));
        stack_.push_back(frame{at, std::move(pointer), {}});
        return true;
    }

    bool close() {
        stack_.pop_back();
        return true;
    }

    std::vector<frame> stack_;
};

bool is_json_whitespace(std::string_view s) {
    return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The body as a JSON object (size, UTF-8, syntax and "is an object" checked).
// `empty_is_object`: an empty body stands for {} (routes without body fields).
result<parsed_body, problem> parse_object_body(std::string_view body, bool empty_is_object) {
    if (body.size() > max_body_bytes) return fail(payload_too_large(max_body_bytes));
    if (const auto bad = utf8::first_invalid(body)) return fail(invalid_utf8(*bad));
    if (is_json_whitespace(body)) {
        if (empty_is_object) return parsed_body{json::object(), {}, {}};
        return fail(malformed_json(body.size(), "the body is empty; expected a JSON object"));
    }
    dom_builder builder;
    const bool ok = json::sax_parse(body.begin(), body.end(), &builder);
    if (builder.failure) return fail(std::move(*builder.failure));
    if (!ok) return fail(malformed_json(0, "the body is not valid JSON"));
    if (!builder.out.root.is_object()) {
        const std::string_view got = builder.out.root.is_array() ? "array" : "a single value";
        return fail(validation_failed(
            {field_error{"", "wrong_type", "the body must be a JSON object, got " + std::string(got)}}));
    }
    return std::move(builder.out);
}

std::string_view type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::object:
            return "object";
        case json::value_t::array:
            return "array";
        case json::value_t::string:
            return "string";
        case json::value_t::boolean:
            return "boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
        case json::value_t::number_float:
            return "number";
        case json::value_t::binary:
        case json::value_t::discarded:
            break;
    }
    return "unknown";
}

// Reads the members of one object of a body, collecting every error.
class object_reader {
public:
    object_reader(const json& object, std::string pointer, const parsed_body& body,
                  std::vector<field_error>& errors)
        : object_(object), pointer_(std::move(pointer)), body_(body), errors_(errors) {}

    object_reader(const object_reader&) = delete;
    object_reader& operator=(const object_reader&) = delete;

    std::string pointer_to(std::string_view key) const { return pointer_ + "/" + escape_pointer_token(key); }

    const json* member(std::string_view key, bool required) {
        known_.emplace_back(key);
        const auto it = object_.find(std::string(key));
        if (it == object_.end()) {
            if (required) errors_.push_back(missing_field(pointer_to(key)));
            return nullptr;
        }
        return &*it;
    }

    std::optional<std::string> string(std::string_view key, bool required = true) {
        const json* v = member(key, required);
        if (v == nullptr) return std::nullopt;
        if (!v->is_string()) {
            errors_.push_back(wrong_type(pointer_to(key), "string", type_name(*v)));
            return std::nullopt;
        }
        return v->get<std::string>();
    }

    std::optional<std::int64_t> integer(std::string_view key, bool required = true) {
        const json* v = member(key, required);
        if (v == nullptr) return std::nullopt;
        return integer_value(*v, pointer_to(key), body_, errors_);
    }

    const json* object(std::string_view key, bool required = true) {
        return typed(key, required, json::value_t::object);
    }
    const json* array(std::string_view key, bool required = true) {
        return typed(key, required, json::value_t::array);
    }

    // Every member not asked for is an error: command bodies are closed.
    void reject_unknown() {
        for (const auto& [key, value] : object_.items()) {
            if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
                errors_.push_back(unknown_field(pointer_to(key)));
            }
        }
    }

    static std::optional<std::int64_t> integer_value(const json& v, const std::string& pointer,
                                                     const parsed_body& body,
                                                     std::vector<field_error>& errors) {
        if (v.type() == json::value_t::number_integer) return v.get<std::int64_t>();
        if (!v.is_number()) {
            errors.push_back(wrong_type(pointer, "integer", type_name(v)));
            return std::nullopt;
        }
        const auto note = body.numbers.find(pointer);
        if (note != body.numbers.end() && note->second.integral) {
            errors.push_back(integer_overflow(pointer, note->second.lexeme));
        } else {
            errors.push_back(
                not_an_integer(pointer, note != body.numbers.end() ? note->second.lexeme : v.dump()));
        }
        return std::nullopt;
    }

private:
    const json* typed(std::string_view key, bool required, json::value_t type) {
        const json* v = member(key, required);
        if (v == nullptr) return nullptr;
        if (v->type() != type) {
            errors_.push_back(wrong_type(pointer_to(key), type == json::value_t::object ? "object" : "array",
                                         type_name(*v)));
            return nullptr;
        }
        return v;
    }

    const json& object_;
    std::string pointer_;
    const parsed_body& body_;
    std::vector<field_error>& errors_;
    std::vector<std::string> known_;
};

// A body of a route that defines no fields: empty, or an object without members.
result<void, problem> expect_no_fields(std::string_view body) {
    auto parsed = parse_object_body(body, true);
    if (!parsed) return fail(std::move(parsed.error()));
    std::vector<field_error> errors = std::move(parsed->errors);
    object_reader(parsed->root, "", *parsed, errors).reject_unknown();
    if (!errors.empty()) return fail(validation_failed(std::move(errors)));
    return {};
}

struct review_content {
    std::int64_t rating = 0;
    std::string title;
    std::string body;
};

result<review_content, problem> read_review_content(std::string_view body) {
    auto parsed = parse_object_body(body, false);
    if (!parsed) return fail(std::move(parsed.error()));
    std::vector<field_error> errors = std::move(parsed->errors);
    object_reader r(parsed->root, "", *parsed, errors);
    auto rating = r.integer("rating");
    auto title = r.string("title");
    auto text = r.string("body");
    r.reject_unknown();
    if (!errors.empty()) return fail(validation_failed(std::move(errors)));
    return review_content{*rating, std::move(*title), std::move(*text)};
}

}  // namespace

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

// ---- requests → commands -------------------------------------------------------------

result<domain::order::place_order, problem> place_order_from_request(std::string_view body,
                                                                     const request_context& ctx,
                                                                     std::string_view generated_order_id) {
    auto parsed = parse_object_body(body, false);
    if (!parsed) return fail(std::move(parsed.error()));
    std::vector<field_error> errors = std::move(parsed->errors);
    object_reader r(parsed->root, "", *parsed, errors);

    auto order_id = r.string("orderId", false);
    auto customer_id = r.string("customerId", false);
    const json* lines = r.array("lines");

    std::vector<domain::order::line_input> out_lines;
    std::optional<std::string> currency;
    std::size_t currency_line = 0;
    if (lines != nullptr) {
        for (std::size_t i = 0; i < lines->size(); ++i) {
            const std::string line_pointer = "/lines/" + std::to_string(i);
            const json& line = (*lines)[i];
            if (!line.is_object()) {
                errors.push_back(wrong_type(line_pointer, "object", type_name(line)));
                continue;
            }
            object_reader lr(line, line_pointer, *parsed, errors);
            auto sku = lr.string("sku");
            auto quantity = lr.integer("quantity");
            std::optional<std::int64_t> amount;
            if (const json* price = lr.object("unitPrice")) {
                object_reader pr(*price, line_pointer + "/unitPrice", *parsed, errors);
                amount = pr.integer("amount");
                auto line_currency = pr.string("currency");
                pr.reject_unknown();
                if (line_currency && !currency) {
                    currency = std::move(line_currency);
                    currency_line = i;
                } else if (line_currency && *line_currency != *currency) {
                    errors.push_back(invalid_field(
                        pr.pointer_to("currency"),
                        "all lines must be in one currency: line " + std::to_string(currency_line) +
                            " is in '" + *currency + "', this line in '" + *line_currency + "'"));
                }
            }
            lr.reject_unknown();
            if (sku && quantity && amount) out_lines.push_back({std::move(*sku), *quantity, *amount});
        }
    }
    std::optional<std::string> token;
    if (const json* method = r.object("paymentMethod")) {
        object_reader mr(*method, "/paymentMethod", *parsed, errors);
        token = mr.string("token");
        mr.reject_unknown();
    }
    r.reject_unknown();
    if (!errors.empty()) return fail(validation_failed(std::move(errors)));

    domain::order::place_order cmd;
    cmd.id = domain::order_id{order_id ? std::move(*order_id) : std::string(generated_order_id)};
    cmd.customer = domain::customer_id{customer_id ? std::move(*customer_id) : ctx.actor.id};
    cmd.lines = std::move(out_lines);
    cmd.currency = currency.value_or("");
    cmd.by = ctx.actor;
    cmd.at = ctx.at;
    cmd.payment_method_token = std::move(*token);
    return cmd;
}

result<domain::order::cancel_order, problem> cancel_order_from_request(std::string_view order_id,
                                                                       std::string_view body,
                                                                       const request_context& ctx) {
    if (auto ok = expect_no_fields(body); !ok) return fail(std::move(ok.error()));
    return domain::order::cancel_order{domain::order_id{std::string(order_id)}, ctx.actor, ctx.at};
}

result<domain::order::ship_order, problem> ship_order_from_request(std::string_view order_id,
                                                                   std::string_view body,
                                                                   const request_context& ctx) {
    if (auto ok = expect_no_fields(body); !ok) return fail(std::move(ok.error()));
    return domain::order::ship_order{domain::order_id{std::string(order_id)}, ctx.actor, ctx.at};
}

result<domain::review::submit_review, problem> submit_review_from_request(std::string_view sku,
                                                                          std::string_view body,
                                                                          const request_context& ctx) {
    auto content = read_review_content(body);
    if (!content) return fail(std::move(content.error()));
    domain::review::submit_review cmd;
    cmd.sku = std::string(sku);
    cmd.customer = domain::customer_id{ctx.actor.id};
    cmd.rating = content->rating;
    cmd.title = std::move(content->title);
    cmd.body = std::move(content->body);
    cmd.by = ctx.actor;
    cmd.at = ctx.at;
    return cmd;
}

result<domain::review::edit_review, problem> edit_review_from_request(std::string_view review_id,
                                                                      std::string_view body,
                                                                      const request_context& ctx) {
    auto content = read_review_content(body);
    if (!content) return fail(std::move(content.error()));
    domain::review::edit_review cmd;
    cmd.id = domain::review_id{std::string(review_id)};
    cmd.rating = content->rating;
    cmd.title = std::move(content->title);
    cmd.body = std::move(content->body);
    cmd.by = ctx.actor;
    cmd.at = ctx.at;
    return cmd;
}

result<domain::review::retract_review, problem> retract_review_from_request(std::string_view review_id,
                                                                            std::string_view body,
                                                                            const request_context& ctx) {
    if (auto ok = expect_no_fields(body); !ok) return fail(std::move(ok.error()));
    return domain::review::retract_review{domain::review_id{std::string(review_id)}, ctx.actor, ctx.at};
}

result<domain::review::vote_helpful, problem> vote_helpful_from_request(std::string_view review_id,
                                                                        std::string_view body,
                                                                        const request_context& ctx) {
    if (auto ok = expect_no_fields(body); !ok) return fail(std::move(ok.error()));
    return domain::review::vote_helpful{domain::review_id{std::string(review_id)}, ctx.actor, ctx.at};
}

result<domain::review::moderate_review, problem> moderate_review_from_request(std::string_view review_id,
                                                                              std::string_view body,
                                                                              const request_context& ctx) {
    auto parsed = parse_object_body(body, false);
    if (!parsed) return fail(std::move(parsed.error()));
    std::vector<field_error> errors = std::move(parsed->errors);
    object_reader r(parsed->root, "", *parsed, errors);
    std::optional<domain::review::moderation_action> action;
    if (auto text = r.string("action")) {
        if (*text == name_of(domain::review::moderation_action::hide)) {
            action = domain::review::moderation_action::hide;
        } else if (*text == name_of(domain::review::moderation_action::restore)) {
            action = domain::review::moderation_action::restore;
        } else {
            errors.push_back(unknown_enum_value(r.pointer_to("action"), *text,
                                                {name_of(domain::review::moderation_action::hide),
                                                 name_of(domain::review::moderation_action::restore)}));
        }
    }
    auto reason = r.string("reason");
    r.reject_unknown();
    if (!errors.empty()) return fail(validation_failed(std::move(errors)));
    domain::review::moderate_review cmd;
    cmd.id = domain::review_id{std::string(review_id)};
    cmd.action = *action;
    cmd.reason = std::move(*reason);
    cmd.by = ctx.actor;
    cmd.at = ctx.at;
    return cmd;
}

result<std::optional<std::uint64_t>, problem> expected_version_from_if_match(std::string_view header) {
    const auto first = header.find_first_not_of(" \t");
    const auto last = header.find_last_not_of(" \t");
    const std::string_view v =
        first == std::string_view::npos ? std::string_view{} : header.substr(first, last - first + 1);
    if (v == "*") return std::optional<std::uint64_t>{};
    const auto refuse = [] {
        return fail(
            bad_header("If-Match", "expected one strong entity tag of a version, such as \"7\", or *"));
    };
    if (v.size() < 3 || v.front() != '"' || v.back() != '"') return refuse();
    const std::string_view digits = v.substr(1, v.size() - 2);
    // Entity tags compare character by character (RFC 9110 8.8.3.2): "07" is not the tag
    // "7" that etag() sends, so it names no version and is refused like any other tag
    // this server never issues.
    if (digits.size() > 1 && digits.front() == '0') return refuse();
    std::uint64_t version = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
    if (ec != std::errc{} || end != digits.data() + digits.size()) return refuse();
    return std::optional<std::uint64_t>{version};
}

// ---- responses -----------------------------------------------------------------------

std::optional<std::size_t> format_rfc3339_into(domain::timestamp_ms t, std::span<char, 24> out) noexcept {
    constexpr std::int64_t ms_per_day = 86'400'000;
    constexpr std::int64_t earliest = -62'167'219'200'000;  // 0000-01-01T00:00:00.000Z
    constexpr std::int64_t latest = 253'402'300'799'999;    // 9999-12-31T23:59:59.999Z
    if (t < earliest || t > latest) return std::nullopt;
    std::int64_t days = t / ms_per_day;
    std::int64_t in_day = t % ms_per_day;
    if (in_day < 0) {  // floor, not truncation, before 1970
        in_day += ms_per_day;
        --days;
    }
    const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
    // "YYYY-MM-DDThh:mm:ss.mmmZ", digits written in place (snprintf was a visible cost of
    // rendering histories).
    char* p = out.data();
    const auto digits = [&p](unsigned v, int n) {
        for (int i = n - 1; i >= 0; --i) {
            p[i] = static_cast<char>('0' + v % 10);
            v /= 10;
        }
        p += n;
    };
    const auto put = [&p](char c) { *p++ = c; };
    digits(static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
    put('-');
    digits(static_cast<unsigned>(ymd.month()), 2);
    put('-');
    digits(static_cast<unsigned>(ymd.day()), 2);
    put('T');
    digits(static_cast<unsigned>(in_day / 3'600'000), 2);
    put(':');
    digits(static_cast<unsigned>(in_day / 60'000 % 60), 2);
    put(':');
    digits(static_cast<unsigned>(in_day / 1000 % 60), 2);
    put('.');
    digits(static_cast<unsigned>(in_day % 1000), 3);
    put('Z');
    return static_cast<std::size_t>(p - out.data());
}

std::optional<std::string> format_rfc3339(domain::timestamp_ms t) {
    std::array<char, 24> text{};
    const auto n = format_rfc3339_into(t, text);
    if (!n) return std::nullopt;
    return std::string(text.data(), *n);
}

std::string_view name_of(domain::order::order_status s) noexcept {
    using enum domain::order::order_status;
    switch (s) {
        case none:
            return "none";
        case pending:
            return "pending";
        case confirmed:
            return "confirmed";
        case cancelled:
            return "cancelled";
        case shipped:
            return "shipped";
    }
    return "unknown";
}

std::string_view name_of(domain::order::cancel_reason r) noexcept {
    using enum domain::order::cancel_reason;
    switch (r) {
        case customer_request:
            return "customer_request";
        case payment_declined:
            return "payment_declined";
        case payment_timeout:
            return "payment_timeout";
    }
    return "unknown";
}

std::string_view name_of(domain::review::review_status s) noexcept {
    using enum domain::review::review_status;
    switch (s) {
        case none:
            return "none";
        case visible:
            return "visible";
        case hidden:
            return "hidden";
        case retracted:
            return "retracted";
    }
    return "unknown";
}

std::string_view name_of(domain::review::moderation_action a) noexcept {
    using enum domain::review::moderation_action;
    switch (a) {
        case hide:
            return "hide";
        case restore:
            return "restore";
    }
    return "unknown";
}

std::string_view name_of(domain::payment::payment_status s) noexcept {
    using enum domain::payment::payment_status;
    switch (s) {
        case none:
            return "none";
        case requested:
            return "requested";
        case authorized:
            return "authorized";
        case declined:
            return "declined";
        case captured:
            return "captured";
        case voided:
            return "voided";
    }
    return "unknown";
}

std::string_view name_of(domain::role r) noexcept {
    using enum domain::role;
    switch (r) {
        case customer:
            return "customer";
        case admin:
            return "admin";
        case system:
            return "system";
    }
    return "unknown";
}

std::string etag(std::uint64_t version) { return "\"" + std::to_string(version) + "\""; }

namespace {

// ---- rendering (json_writer: members written in place, in the order listed) ----------

void timestamp(json_writer& w, domain::timestamp_ms t) {
    std::array<char, 24> text{};
    if (const auto n = format_rfc3339_into(t, text)) {
        w.string(std::string_view(text.data(), *n));
    } else {
        w.null();
    }
}

void money(json_writer& w, std::int64_t amount, const domain::currency& c) {
    w.begin_object().member("amount", amount).member("currency", c.empty() ? std::string_view() : c.code());
    w.end_object();
}

void money(json_writer& w, const domain::money& m) { money(w, m.amount, m.currency); }

void actor(json_writer& w, const domain::actor& a) {
    w.begin_object().member("id", std::string_view(a.id)).member("role", name_of(a.role)).end_object();
}

template <class Id>
void optional_id(json_writer& w, const std::optional<Id>& id) {
    if (id) {
        w.string(id->value());
    } else {
        w.null();
    }
}

void text_or_null(json_writer& w, const std::string& s) {
    if (s.empty()) {
        w.null();
    } else {
        w.string(s);
    }
}

void order_lines(json_writer& w, const std::vector<domain::order::order_line>& lines, const domain::currency& c) {
    w.begin_array();
    for (const auto& l : lines) {
        w.begin_object().member("sku", std::string_view(l.sku)).member("quantity", l.quantity);
        money(w.key("unitPrice"), l.unit_price, c);
        w.end_object();
    }
    w.end_array();
}

json command_response(std::string_view id_key, eventstore::context ctx, const commands::command_outcome& o,
                      std::optional<std::string_view> status) {
    json j = json::object();
    j[std::string(id_key)] = o.aggregate_id;
    if (status) j["status"] = *status;
    j["version"] = o.version;
    j["position"] = o.at ? json(eventstore::to_token(ctx, *o.at)) : json(nullptr);
    return j;
}

// Each event's `data`: its fields in camelCase.
void event_data(json_writer& w, const domain::order::event& e) {
    using namespace domain::order;
    w.begin_object();
    std::visit(overloaded{
                   [&](const order_placed& x) {
                       w.member("orderId", x.id.value()).member("customerId", x.customer.value());
                       order_lines(w.key("lines"), x.lines, x.currency);
                       money(w.key("total"), x.total, x.currency);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const order_cancelled& x) {
                       w.member("orderId", x.id.value()).member("reason", name_of(x.reason));
                       actor(w.key("by"), x.by);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const order_confirmed& x) {
                       w.member("orderId", x.id.value()).member("paymentId", x.payment.value());
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const order_shipped& x) {
                       w.member("orderId", x.id.value());
                       actor(w.key("by"), x.by);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const order_payment_captured& x) {
                       w.member("orderId", x.id.value()).member("paymentId", x.payment.value());
                       money(w.key("amount"), x.amount);
                       timestamp(w.key("at"), x.at);
                   },
               },
               e);
    w.end_object();
}

void event_data(json_writer& w, const domain::payment::event& e) {
    using namespace domain::payment;
    w.begin_object();
    std::visit(overloaded{
                   [&](const payment_requested& x) {
                       w.member("paymentId", x.id.value()).member("orderId", x.order.value());
                       money(w.key("amount"), x.amount);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const payment_authorized& x) {
                       w.member("paymentId", x.id.value())
                           .member("authorizationCode", std::string_view(x.authorization_code));
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const payment_declined& x) {
                       w.member("paymentId", x.id.value()).member("reason", std::string_view(x.reason));
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const payment_captured& x) {
                       w.member("paymentId", x.id.value());
                       money(w.key("amount"), x.amount);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const payment_voided& x) {
                       w.member("paymentId", x.id.value()).member("reason", std::string_view(x.reason));
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const payment_refunded& x) {
                       w.member("paymentId", x.id.value()).member("refundId", std::string_view(x.refund_id));
                       money(w.key("amount"), x.amount);
                       w.member("reason", std::string_view(x.reason));
                       timestamp(w.key("at"), x.at);
                   },
               },
               e);
    w.end_object();
}

void event_data(json_writer& w, const domain::review::event& e) {
    using namespace domain::review;
    w.begin_object();
    std::visit(overloaded{
                   [&](const review_submitted& x) {
                       w.member("reviewId", x.id.value())
                           .member("sku", std::string_view(x.sku))
                           .member("authorId", x.author.value())
                           .member("rating", x.rating)
                           .member("title", std::string_view(x.title))
                           .member("body", std::string_view(x.body));
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const review_edited& x) {
                       w.member("reviewId", x.id.value())
                           .member("rating", x.rating)
                           .member("title", std::string_view(x.title))
                           .member("body", std::string_view(x.body));
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const review_retracted& x) {
                       w.member("reviewId", x.id.value());
                       actor(w.key("by"), x.by);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const review_hidden& x) {
                       w.member("reviewId", x.id.value()).member("reason", std::string_view(x.reason));
                       actor(w.key("by"), x.by);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const review_restored& x) {
                       w.member("reviewId", x.id.value()).member("reason", std::string_view(x.reason));
                       actor(w.key("by"), x.by);
                       timestamp(w.key("at"), x.at);
                   },
                   [&](const review_marked_helpful& x) {
                       w.member("reviewId", x.id.value()).member("voterId", x.voter.value());
                       timestamp(w.key("at"), x.at);
                   },
               },
               e);
    w.end_object();
}

// One event of a history as GET .../events shows it. `Event` is
// eventstore::recorded_event or its in-place view (same field names).
template <class Aggregate, class Event>
result<void, problem> write_history_event(json_writer& w, const Event& r) {
    auto decoded = Aggregate::decode_event(r.event.type, r.event.schema_version, r.event.payload);
    if (!decoded) {
        return fail(internal_error("event " + std::to_string(r.version) + " of this history cannot be read"));
    }
    w.begin_object()
        .member("version", r.version)
        .member("type", Aggregate::event_name(*decoded))
        .member("position", std::string_view(eventstore::to_string(r.at)))
        .member("commandId", std::string_view(r.command_id));
    // The commit's record headers, as the log holds them (absent ones are left out).
    const auto& h = r.headers;
    if (h.timestamp_ms >= 0) timestamp(w.key("recordedAt"), h.timestamp_ms);
    for (const auto& [name, value] : {std::pair{"correlationId", std::string_view(h.correlation_id)},
                                      std::pair{"causationId", std::string_view(h.causation_id)},
                                      std::pair{"actor", std::string_view(h.actor)},
                                      std::pair{"traceparent", std::string_view(h.traceparent)}}) {
        if (!value.empty()) w.member(name, value);
    }
    event_data(w.key("data"), *decoded);
    w.end_object();
    return {};
}

template <class Event>
result<void, problem> write_history_event(eventstore::context ctx, json_writer& w, const Event& r) {
    switch (ctx) {
        case eventstore::context::orders:
            return write_history_event<eventstore::order_aggregate>(w, r);
        case eventstore::context::payments:
            return write_history_event<eventstore::payment_aggregate>(w, r);
        case eventstore::context::reviews:
            return write_history_event<eventstore::review_aggregate>(w, r);
    }
    return fail(internal_error("unknown context"));
}


}  // namespace

std::string render_order_command_response(const commands::command_outcome& outcome,
                                          std::optional<domain::order::order_status> status) {
    return dump(
        command_response("orderId", eventstore::context::orders, outcome, status ? std::optional(name_of(*status)) : std::nullopt));
}

std::string render_review_command_response(const commands::command_outcome& outcome,
                                           std::optional<domain::review::review_status> status) {
    return dump(
        command_response("reviewId", eventstore::context::reviews, outcome, status ? std::optional(name_of(*status)) : std::nullopt));
}

std::string render_order(const domain::order::state& s, std::uint64_t version) {
    std::string out;
    json_writer w(out);
    w.begin_object()
        .member("orderId", s.id.value())
        .member("customerId", s.customer.value())
        .member("status", name_of(s.status));
    order_lines(w.key("lines"), s.lines, s.currency);
    money(w.key("total"), s.total, s.currency);
    timestamp(w.key("placedAt"), s.placed_at);
    optional_id(w.key("paymentId"), s.payment);
    w.member("paymentCaptured", s.payment_captured).key("cancelReason");
    if (s.cancel_reason) {
        w.string(name_of(*s.cancel_reason));
    } else {
        w.null();
    }
    w.member("version", version).end_object();
    return out;
}

std::string render_review(const domain::review::state& s, std::uint64_t version) {
    std::string out;
    json_writer w(out);
    w.begin_object()
        .member("reviewId", s.id.value())
        .member("sku", std::string_view(s.sku))
        .member("authorId", s.author.value())
        .member("status", name_of(s.status))
        .member("rating", s.rating)
        .member("title", std::string_view(s.title))
        .member("body", std::string_view(s.body));
    timestamp(w.key("submittedAt"), s.submitted_at);
    w.key("editedAt");
    if (s.edited_at) {
        timestamp(w, *s.edited_at);
    } else {
        w.null();
    }
    w.member("helpfulCount", s.helpful_count()).member("version", version).end_object();
    return out;
}

std::string render_payment(const domain::payment::state& s, std::uint64_t version) {
    std::string out;
    json_writer w(out);
    w.begin_object()
        .member("paymentId", s.id.value())
        .member("orderId", s.order.value())
        .member("status", name_of(s.status));
    money(w.key("amount"), s.amount);
    text_or_null(w.key("authorizationCode"), s.authorization_code);
    text_or_null(w.key("declineReason"), s.decline_reason);
    text_or_null(w.key("voidReason"), s.void_reason);
    money(w.key("captured"), s.captured, s.amount.currency);
    money(w.key("refunded"), s.refunded, s.amount.currency);
    money(w.key("refundable"), s.refundable(), s.amount.currency);
    w.key("refunds").begin_array();
    for (const auto& r : s.refunds) {
        w.begin_object().member("refundId", std::string_view(r.refund_id));
        money(w.key("amount"), r.amount, s.amount.currency);
        w.end_object();
    }
    w.end_array().member("version", version).end_object();
    return out;
}

result<std::string, problem> render_history(eventstore::context ctx,
                                            const std::vector<eventstore::recorded_event>& events) {
    history_renderer r(ctx);
    for (const auto& e : events) {
        if (auto added = r.add(e); !added) return fail(std::move(added.error()));
    }
    return r.finish();
}

// The document's writer lives across add() calls: one RapidJSON writer per response.
struct history_renderer::impl {
    std::string body;
    json_writer w{body};
    impl() { w.begin_object().key("events").begin_array(); }
};

history_renderer::history_renderer(eventstore::context ctx) : ctx_(ctx), impl_(std::make_unique<impl>()) {}

history_renderer::~history_renderer() = default;

result<void, problem> history_renderer::add(const eventstore::recorded_event_view& e) {
    return write_history_event(ctx_, impl_->w, e);
}

result<void, problem> history_renderer::add(const eventstore::recorded_event& e) {
    return write_history_event(ctx_, impl_->w, e);
}

std::string history_renderer::finish() {
    impl_->w.end_array().end_object();
    std::string out = std::move(impl_->body);
    impl_ = std::make_unique<impl>();
    return out;
}

}  // namespace shopstream::adapters::http
