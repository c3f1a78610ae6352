// Problem details: every error of issue #4 gets its status, stable type URI and the
// headers it needs; command errors and domain rejections map to the right problem, with
// the rejected field translated into a pointer into the request body.
#include "adapters/http/problem.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "commands/command_handler.hpp"
#include "domain/common.hpp"

namespace shopstream::adapters::http {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using header = std::pair<std::string, std::string>;

std::string uri(std::string_view slug) { return "https://shopstream.dev/problems/" + std::string(slug); }

TEST(problem_render, writes_the_rfc_9457_members_errors_and_extensions) {
    problem p =
        validation_failed({wrong_type("/lines/0/quantity", "integer", "string"), missing_field("/title")});
    p.instance = "/v1/orders";
    p.extensions.emplace_back("retryAfter", std::int64_t{3});
    p.extensions.emplace_back("allow", std::vector<std::string>{"GET", "POST"});
    p.extensions.emplace_back("hint", std::string("x"));
    EXPECT_EQ(json::parse(render(p)), json::parse(R"({
        "type":"https://shopstream.dev/problems/validation","title":"Invalid request","status":422,
        "detail":"2 fields of the request body are invalid","instance":"/v1/orders",
        "errors":[{"field":"/lines/0/quantity","code":"wrong_type","message":"must be an integer, got string"},
                  {"field":"/title","code":"missing_field","message":"is required"}],
        "retryAfter":3,"allow":["GET","POST"],"hint":"x"})"));
}

TEST(problem_render, leaves_out_empty_instance_and_errors) {
    const json j = json::parse(render(forbidden("not yours")));
    EXPECT_EQ(j, json::parse(R"({"type":"https://shopstream.dev/problems/forbidden","title":"Forbidden",
                                 "status":403,"detail":"not yours"})"));
}

TEST(problem_render, replaces_text_that_is_not_utf8) {
    const json j = json::parse(render(not_found("no order '\xff'")));
    EXPECT_EQ(j["detail"], "no order '\xef\xbf\xbd'");
}

TEST(problem_render, the_content_type_is_problem_json) {
    EXPECT_EQ(problem_content_type, "application/problem+json");
}

struct expected_problem {
    problem p;
    int status;
    std::string slug;
    std::vector<header> headers;
};

TEST(problem_constructors, give_every_case_its_status_type_and_headers) {
    const std::vector<expected_problem> cases = {
        {malformed_json(5, "x"), 400, "malformed-json", {}},
        {invalid_utf8(9), 400, "invalid-utf8", {}},
        {validation_failed({missing_field("/a")}), 422, "validation", {}},
        {bad_header("If-Match", "x"), 400, "bad-header", {}},
        {bad_query_parameter("minPosition", "x"), 400, "bad-query-parameter", {}},
        {payload_too_large(65536), 413, "payload-too-large", {}},
        {header_fields_too_large("Authorization", "x"), 431, "header-fields-too-large", {}},
        {uri_too_long(8192), 414, "uri-too-long", {}},
        {route_not_found("GET", "/v1/nope"), 404, "route-not-found", {}},
        {method_not_allowed("PUT", {"GET", "POST"}), 405, "method-not-allowed", {{"Allow", "GET, POST"}}},
        {unsupported_media_type("text/plain"), 415, "unsupported-media-type", {}},
        {unauthorized("no token", false),
         401,
         "unauthorized",
         {{"WWW-Authenticate", R"(Bearer realm="shopstream")"}}},
        {unauthorized("expired", true),
         401,
         "unauthorized",
         {{"WWW-Authenticate", R"(Bearer realm="shopstream", error="invalid_token")"}}},
        {forbidden("x"), 403, "forbidden", {}},
        {not_found("x"), 404, "not-found", {}},
        {conflict("x"), 409, "conflict", {}},
        {precondition_failed("x"), 412, "precondition-failed", {}},
        {idempotency_key_reused(), 422, "idempotency-key-reused", {}},
        {too_many_requests(3), 429, "too-many-requests", {{"Retry-After", "3"}}},
        {unavailable("x", 2), 503, "unavailable", {{"Retry-After", "2"}}},
        {timeout("x"), 504, "timeout", {}},
        {internal_error("x"), 500, "internal", {}},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(c.p.status, c.status) << c.slug;
        EXPECT_EQ(c.p.type, uri(c.slug)) << c.slug;
        EXPECT_FALSE(c.p.title.empty()) << c.slug;
        EXPECT_FALSE(c.p.detail.empty()) << c.slug;
        EXPECT_EQ(c.p.headers, c.headers) << c.slug;
        // Every one renders as a JSON object carrying its status.
        EXPECT_EQ(json::parse(render(c.p))["status"], c.status) << c.slug;
    }
}

TEST(problem_constructors, carry_their_extension_members) {
    EXPECT_EQ(json::parse(render(malformed_json(17, "x")))["offset"], 17);
    EXPECT_EQ(json::parse(render(invalid_utf8(4)))["offset"], 4);
    EXPECT_EQ(json::parse(render(payload_too_large(65536)))["maxBytes"], 65536);
    EXPECT_EQ(json::parse(render(uri_too_long(8192)))["maxBytes"], 8192);
    EXPECT_EQ(json::parse(render(header_fields_too_large("Authorization", "x")))["header"], "Authorization");
    EXPECT_FALSE(json::parse(render(header_fields_too_large("", "x"))).contains("header"));
    EXPECT_EQ(json::parse(render(method_not_allowed("PUT", {"GET", "POST"})))["allow"],
              json::parse(R"(["GET","POST"])"));
    EXPECT_EQ(json::parse(render(too_many_requests(7)))["retryAfter"], 7);
    EXPECT_EQ(json::parse(render(unavailable("x", 2)))["retryAfter"], 2);
    EXPECT_EQ(json::parse(render(unsupported_media_type("text/plain")))["supported"],
              json::parse(R"(["application/json"])"));
    EXPECT_THAT(unsupported_media_type("text/plain").detail, HasSubstr("'text/plain'"));
    EXPECT_THAT(unsupported_media_type("").detail, HasSubstr("no Content-Type"));
    EXPECT_THAT(route_not_found("GET", "/v1/nope").detail, HasSubstr("GET /v1/nope"));
}

TEST(problem_constructors, retry_after_is_at_least_one_second) {
    EXPECT_EQ(too_many_requests(0).headers, (std::vector<header>{{"Retry-After", "1"}}));
    EXPECT_EQ(unavailable("x", -5).headers, (std::vector<header>{{"Retry-After", "1"}}));
}

TEST(field_errors, name_their_class_and_explain) {
    EXPECT_EQ(wrong_type("/a", "string", "null"),
              (field_error{"/a", "wrong_type", "must be a string, got null"}));
    EXPECT_EQ(wrong_type("/a", "object", "array"),
              (field_error{"/a", "wrong_type", "must be an object, got array"}));
    EXPECT_EQ(missing_field("/a").code, "missing_field");
    EXPECT_EQ(unknown_field("/a").code, "unknown_field");
    EXPECT_EQ(duplicate_key("/a").code, "duplicate_key");
    EXPECT_EQ(unknown_enum_value("/s", "x", {"a", "b", "c"}),
              (field_error{"/s", "unknown_enum_value", "must be one of 'a', 'b' or 'c', got 'x'"}));
    EXPECT_EQ(unknown_enum_value("/s", "x", {"a"}).message, "must be one of 'a', got 'x'");
    EXPECT_EQ(
        integer_overflow("/n", "9223372036854775808"),
        (field_error{"/n", "integer_overflow", "9223372036854775808 is outside the 64-bit integer range"}));
    EXPECT_EQ(not_an_integer("/n", "2.0").code, "not_an_integer");
    EXPECT_EQ(out_of_range("/n", "m"), (field_error{"/n", "out_of_range", "m"}));
    EXPECT_EQ(invalid_field("/n", "m"), (field_error{"/n", "invalid", "m"}));
    EXPECT_EQ(validation_failed({missing_field("/a")}).detail, "1 field of the request body is invalid");
}

// ---- command errors -----------------------------------------------------------------------

commands::command_error rejected(domain::rejection_code code, std::string field, std::string reason = "why") {
    commands::command_error e;
    e.code = commands::command_errc::rejected;
    e.rejection = domain::rejection{code, std::move(field), std::move(reason)};
    return e;
}

commands::command_error error_of(commands::command_errc code,
                                 std::string message = "store path /var/x broke") {
    commands::command_error e;
    e.code = code;
    e.message = std::move(message);
    return e;
}

TEST(command_errors, rejection_codes_map_to_statuses) {
    using domain::rejection_code;
    const auto r = command_route::cancel_order;
    EXPECT_EQ(from_command_error(rejected(rejection_code::invalid, ""), r).status, 422);
    EXPECT_EQ(from_command_error(rejected(rejection_code::invalid, ""), r).type, uri("validation"));
    EXPECT_EQ(from_command_error(rejected(rejection_code::forbidden, "", "not yours"), r),
              forbidden("not yours"));
    EXPECT_EQ(from_command_error(rejected(rejection_code::not_found, "", "no such order"), r),
              not_found("no such order"));
    EXPECT_EQ(from_command_error(rejected(rejection_code::conflict, "", "shipped"), r), conflict("shipped"));
    EXPECT_EQ(from_command_error(rejected(rejection_code::precondition_failed, "", "moved"), r),
              precondition_failed("moved"));
}

TEST(command_errors, handler_errors_map_to_statuses) {
    using enum commands::command_errc;
    const auto r = command_route::place_order;
    const problem pre = from_command_error(error_of(precondition_failed), r);
    EXPECT_EQ(pre.status, 412);
    EXPECT_EQ(pre.type, uri("precondition-failed"));
    const problem con = from_command_error(error_of(conflict), r);
    EXPECT_EQ(con.status, 409);
    EXPECT_EQ(con.type, uri("conflict"));
    EXPECT_THAT(con.detail, HasSubstr("retry"));
    const problem tim = from_command_error(error_of(timed_out), r);
    EXPECT_EQ(tim.status, 504);
    EXPECT_EQ(tim.type, uri("timeout"));
    EXPECT_THAT(tim.detail, HasSubstr("Idempotency-Key"));
    const problem una = from_command_error(error_of(unavailable), r);
    EXPECT_EQ(una.status, 503);
    EXPECT_EQ(una.headers, (std::vector<header>{{"Retry-After", "1"}}));
    const problem in = from_command_error(error_of(internal), r);
    EXPECT_EQ(in.status, 500);
    EXPECT_EQ(in.type, uri("internal"));
    EXPECT_THAT(render(in), ::testing::Not(HasSubstr("/var/x")));  // internals stay in the log
}

TEST(command_errors, invalid_fields_become_pointers_into_the_body) {
    using domain::rejection_code;
    const problem p =
        from_command_error(rejected(rejection_code::invalid, "/lines/2/quantity", "a quantity is 1-10000"),
                           command_route::place_order);
    EXPECT_EQ(p.status, 422);
    EXPECT_EQ(p.errors,
              (std::vector<field_error>{{"/lines/2/quantity", "invalid", "a quantity is 1-10000"}}));
    // Money is {amount, currency} in the body.
    EXPECT_EQ(from_command_error(rejected(rejection_code::invalid, "/lines/12/unitPrice"),
                                 command_route::place_order)
                  .errors.at(0)
                  .field,
              "/lines/12/unitPrice/amount");
    // The order currency comes from the lines.
    EXPECT_EQ(from_command_error(rejected(rejection_code::invalid, "/currency"), command_route::place_order)
                  .errors.at(0)
                  .field,
              "/lines/0/unitPrice/currency");
    // Review content fields are where the body has them.
    EXPECT_EQ(from_command_error(rejected(rejection_code::invalid, "/rating"), command_route::edit_review)
                  .errors.at(0)
                  .field,
              "/rating");
    EXPECT_EQ(from_command_error(rejected(rejection_code::invalid, "/title"), command_route::submit_review)
                  .errors.at(0)
                  .field,
              "/title");
    EXPECT_EQ(from_command_error(rejected(rejection_code::invalid, "/reason"), command_route::moderate_review)
                  .errors.at(0)
                  .field,
              "/reason");
}

TEST(command_errors, fields_outside_the_body_are_named_in_the_detail) {
    using domain::rejection_code;
    const problem sku = from_command_error(rejected(rejection_code::invalid, "/sku", "bad sku"),
                                           command_route::submit_review);
    EXPECT_EQ(sku.status, 422);
    EXPECT_TRUE(sku.errors.empty());
    EXPECT_EQ(sku.detail, "path parameter 'sku': bad sku");
    const problem who = from_command_error(rejected(rejection_code::invalid, "/customerId", "bad id"),
                                           command_route::submit_review);
    EXPECT_TRUE(who.errors.empty());
    EXPECT_THAT(who.detail, HasSubstr("principal"));
    const problem none =
        from_command_error(rejected(rejection_code::invalid, "", "state rule"), command_route::place_order);
    EXPECT_TRUE(none.errors.empty());
    EXPECT_EQ(none.detail, "state rule");
}

TEST(locate_field, per_route) {
    using k = body_field::kind;
    EXPECT_EQ(locate_field(command_route::place_order, "/lines/0/unitPrice"),
              (body_field{k::body, "/lines/0/unitPrice/amount"}));
    EXPECT_EQ(locate_field(command_route::place_order, "/lines/x/unitPrice"),
              (body_field{k::body, "/lines/x/unitPrice"}));
    EXPECT_EQ(locate_field(command_route::place_order, "/lines//unitPrice"),
              (body_field{k::body, "/lines//unitPrice"}));
    EXPECT_EQ(locate_field(command_route::place_order, "/lines/1/sku"),
              (body_field{k::body, "/lines/1/sku"}));
    EXPECT_EQ(locate_field(command_route::place_order, "/orderId"), (body_field{k::body, "/orderId"}));
    EXPECT_EQ(locate_field(command_route::place_order, "/customerId"), (body_field{k::body, "/customerId"}));
    EXPECT_EQ(locate_field(command_route::place_order, "/lines"), (body_field{k::body, "/lines"}));
    EXPECT_EQ(locate_field(command_route::place_order, "/paymentMethod/token"),
              (body_field{k::body, "/paymentMethod/token"}));
    EXPECT_EQ(locate_field(command_route::place_order, ""), (body_field{k::none, ""}));
    EXPECT_EQ(locate_field(command_route::submit_review, "/sku"), (body_field{k::path, "sku"}));
    EXPECT_EQ(locate_field(command_route::submit_review, "/customerId"), (body_field{k::principal, ""}));
    EXPECT_EQ(locate_field(command_route::submit_review, "/body"), (body_field{k::body, "/body"}));
    EXPECT_EQ(locate_field(command_route::moderate_review, "/action"), (body_field{k::body, "/action"}));
    for (auto r : {command_route::cancel_order, command_route::ship_order, command_route::retract_review,
                   command_route::vote_helpful}) {
        EXPECT_EQ(locate_field(r, "/orderId"), (body_field{k::none, ""}));
    }
}

}  // namespace
}  // namespace shopstream::adapters::http
