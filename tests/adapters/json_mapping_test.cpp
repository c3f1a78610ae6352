// The JSON edge of the HTTP API: strict request bodies → exactly the expected commands,
// every bad input class of issue #4 → the right problem with every field error at once,
// and states, command answers and event histories → their documented JSON.
#include "adapters/http/json_mapping.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "commands/command_handler.hpp"
#include "eventstore/aggregate_reader.hpp"
#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "eventstore/codec/review_codec.hpp"

namespace shopstream::adapters::http {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace order = domain::order;
namespace review = domain::review;
namespace payment = domain::payment;

const domain::actor alice{"alice", domain::role::customer};
const domain::actor admin{"root", domain::role::admin};
constexpr domain::timestamp_ms now = 1'714'564'800'123;  // 2024-05-01T12:00:00.123Z
const request_context as_alice{alice, now};
const request_context as_admin{admin, now};

std::string validation_uri() { return "https://shopstream.dev/problems/validation"; }

template <class T>
problem problem_of(const result<T, problem>& r) {
    EXPECT_FALSE(r.has_value()) << "expected a problem";
    if (r.has_value()) return problem{};
    return r.error();
}

std::vector<std::string> fields_of(const problem& p) {
    std::vector<std::string> out;
    for (const auto& e : p.errors) out.push_back(e.field);
    return out;
}

std::vector<std::pair<std::string, std::string>> field_codes(const problem& p) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : p.errors) out.emplace_back(e.field, e.code);
    return out;
}

using fc = std::pair<std::string, std::string>;

std::int64_t offset_of(const problem& p) {
    for (const auto& [name, value] : p.extensions) {
        if (name == "offset") return std::get<std::int64_t>(value);
    }
    ADD_FAILURE() << "no offset";
    return -1;
}

// One place_order body field error for a whole-body variation of a valid line.
problem place(std::string_view body) { return problem_of(place_order_from_request(body, as_alice, "gen-1")); }

// ---- POST /v1/orders ------------------------------------------------------------------

TEST(place_order_request, maps_every_field) {
    const auto cmd = place_order_from_request(
        R"({"orderId":"o-1","customerId":"bob","paymentMethod":{"token":"tok_visa"},"lines":[
              {"sku":"A-1","quantity":2,"unitPrice":{"amount":1999,"currency":"EUR"}},
              {"sku":"B.2","quantity":1,"unitPrice":{"amount":0,"currency":"EUR"}}]})",
        as_admin, "gen-1");
    ASSERT_TRUE(cmd.has_value()) << render(cmd.error());
    EXPECT_EQ(cmd->id, domain::order_id{"o-1"});
    EXPECT_EQ(cmd->customer, domain::customer_id{"bob"});
    EXPECT_THAT(cmd->lines, ElementsAre(order::line_input{"A-1", 2, 1999}, order::line_input{"B.2", 1, 0}));
    EXPECT_EQ(cmd->currency, "EUR");
    EXPECT_EQ(cmd->by, admin);
    EXPECT_EQ(cmd->at, now);
    EXPECT_EQ(cmd->payment_method_token, "tok_visa");
}

TEST(place_order_request, order_id_and_customer_default_to_the_generated_id_and_the_actor) {
    const auto cmd = place_order_from_request(
        R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"A","quantity":1,"unitPrice":{"amount":5,"currency":"USD"}}]})", as_alice,
        "gen-7");
    ASSERT_TRUE(cmd.has_value()) << render(cmd.error());
    EXPECT_EQ(cmd->id, domain::order_id{"gen-7"});
    EXPECT_EQ(cmd->customer, domain::customer_id{"alice"});
    EXPECT_EQ(cmd->currency, "USD");
    EXPECT_EQ(cmd->by, alice);
}

TEST(place_order_request, range_rules_are_left_to_the_decider) {
    // Negative quantity, absurd price, empty sku, unknown currency, no lines: all shape-valid.
    const auto cmd = place_order_from_request(
        R"({"orderId":"","paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"","quantity":-5,"unitPrice":{"amount":-9223372036854775808,"currency":"XXX"}}]})",
        as_alice, "g");
    ASSERT_TRUE(cmd.has_value()) << render(cmd.error());
    EXPECT_EQ(cmd->id, domain::order_id{""});
    EXPECT_THAT(cmd->lines, ElementsAre(order::line_input{"", -5, std::numeric_limits<std::int64_t>::min()}));
    EXPECT_EQ(cmd->currency, "XXX");

    const auto empty = place_order_from_request(R"({"paymentMethod":{"token":"tok_visa"},"lines":[]})", as_alice, "g");
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(empty->lines.empty());
    EXPECT_EQ(empty->currency, "");
}

TEST(place_order_request, collects_every_field_error_with_pointers) {
    const problem p = place(R"({
        "customerId": 7,
        "paymentMethod": {"token": 5},
        "lines": [
            {"sku": 1, "quantity": "2", "unitPrice": {"amount": 1.5, "currency": "EUR"}},
            {"quantity": 2, "unitPrice": {"amount": 9223372036854775808, "currency": "USD"}},
            5,
            {"sku": "x", "quantity": 1, "unitPrice": "12.00"}
        ],
        "extra": true
    })");
    EXPECT_EQ(p.status, 422);
    EXPECT_EQ(p.type, validation_uri());
    EXPECT_THAT(
        field_codes(p),
        ElementsAre(fc{"/customerId", "wrong_type"}, fc{"/lines/0/sku", "wrong_type"},
                    fc{"/lines/0/quantity", "wrong_type"}, fc{"/lines/0/unitPrice/amount", "not_an_integer"},
                    fc{"/lines/1/sku", "missing_field"}, fc{"/lines/1/unitPrice/amount", "integer_overflow"},
                    fc{"/lines/1/unitPrice/currency", "invalid"}, fc{"/lines/2", "wrong_type"},
                    fc{"/lines/3/unitPrice", "wrong_type"}, fc{"/paymentMethod/token", "wrong_type"},
                    fc{"/extra", "unknown_field"}));
    EXPECT_EQ(p.detail, "11 fields of the request body are invalid");
    EXPECT_EQ(p.errors[0].message, "must be a string, got number");
    EXPECT_EQ(p.errors[2].message, "must be an integer, got string");
    EXPECT_EQ(p.errors[3].message, "must be an integer without fraction or exponent, got 1.5");
    EXPECT_EQ(p.errors[5].message, "9223372036854775808 is outside the 64-bit integer range");
    EXPECT_EQ(p.errors[7].message, "must be an object, got number");
}

TEST(place_order_request, missing_and_wrongly_typed_lines) {
    EXPECT_THAT(field_codes(place("{}")),
                ElementsAre(fc{"/lines", "missing_field"}, fc{"/paymentMethod", "missing_field"}));
    EXPECT_THAT(field_codes(place(R"({"paymentMethod":{"token":"tok_visa"},"lines":{}})")), ElementsAre(fc{"/lines", "wrong_type"}));
    EXPECT_THAT(field_codes(place(R"({"paymentMethod":{"token":"tok_visa"},"lines":[{}]})")),
                ElementsAre(fc{"/lines/0/sku", "missing_field"}, fc{"/lines/0/quantity", "missing_field"},
                            fc{"/lines/0/unitPrice", "missing_field"}));
    EXPECT_THAT(field_codes(place(R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"a","quantity":1,"unitPrice":{}}]})")),
                ElementsAre(fc{"/lines/0/unitPrice/amount", "missing_field"},
                            fc{"/lines/0/unitPrice/currency", "missing_field"}));
}

TEST(place_order_request, null_is_not_absent) {
    EXPECT_THAT(field_codes(place(R"({"orderId":null,"paymentMethod":{"token":"tok_visa"},"lines":[]})")),
                ElementsAre(fc{"/orderId", "wrong_type"}));
    EXPECT_EQ(place(R"({"orderId":null,"paymentMethod":{"token":"tok_visa"},"lines":[]})").errors[0].message, "must be a string, got null");
}

TEST(place_order_request, unknown_fields_at_every_depth) {
    const problem p = place(
        R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"a","quantity":1,"unitPrice":{"amount":1,"currency":"EUR","cents":1},"note":"x"}],"currency":"EUR"})");
    EXPECT_THAT(field_codes(p),
                ElementsAre(fc{"/lines/0/unitPrice/cents", "unknown_field"},
                            fc{"/lines/0/note", "unknown_field"}, fc{"/currency", "unknown_field"}));
}

TEST(place_order_request, pointer_tokens_escape_tilde_and_slash) {
    const problem p = place(
        R"({"a/b":1,"~c":2,"~1":3,"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"a","quantity":1,"unitPrice":{"amount":1,"currency":"EUR"},"x/~y":0}]})");
    EXPECT_THAT(fields_of(p), ElementsAre("/lines/0/x~1~0y", "/a~1b", "/~01", "/~0c"));
}

TEST(place_order_request, line_currencies_must_agree) {
    const problem p = place(R"({"paymentMethod":{"token":"tok_visa"},"lines":[
        {"sku":"a","quantity":1,"unitPrice":{"amount":1,"currency":"EUR"}},
        {"sku":"b","quantity":1,"unitPrice":{"amount":1,"currency":"USD"}},
        {"sku":"c","quantity":1,"unitPrice":{"amount":1,"currency":"EUR"}},
        {"sku":"d","quantity":1,"unitPrice":{"amount":1,"currency":"eur"}}]})");
    EXPECT_EQ(p.status, 422);
    EXPECT_THAT(field_codes(p), ElementsAre(fc{"/lines/1/unitPrice/currency", "invalid"},
                                            fc{"/lines/3/unitPrice/currency", "invalid"}));
    EXPECT_THAT(p.errors[0].message, HasSubstr("line 0 is in 'EUR', this line in 'USD'"));

    // The first line whose currency is readable sets it.
    const problem q = place(R"({"paymentMethod":{"token":"tok_visa"},"lines":[
        {"sku":"a","quantity":1,"unitPrice":{"amount":1,"currency":1}},
        {"sku":"b","quantity":1,"unitPrice":{"amount":1,"currency":"USD"}},
        {"sku":"c","quantity":1,"unitPrice":{"amount":1,"currency":"EUR"}}]})");
    EXPECT_THAT(field_codes(q), ElementsAre(fc{"/lines/0/unitPrice/currency", "wrong_type"},
                                            fc{"/lines/2/unitPrice/currency", "invalid"}));
    EXPECT_THAT(q.errors[1].message, HasSubstr("line 1 is in 'USD'"));
}

TEST(place_order_request, the_payment_method_token_is_required_and_named_by_its_pointer) {
    const std::string lines = R"("lines":[{"sku":"a","quantity":1,"unitPrice":{"amount":1,"currency":"EUR"}}])";
    EXPECT_THAT(field_codes(place("{" + lines + "}")), ElementsAre(fc{"/paymentMethod", "missing_field"}));
    EXPECT_THAT(field_codes(place("{" + lines + R"(,"paymentMethod":{}})")),
                ElementsAre(fc{"/paymentMethod/token", "missing_field"}));
    EXPECT_THAT(field_codes(place("{" + lines + R"(,"paymentMethod":"tok_visa"})")),
                ElementsAre(fc{"/paymentMethod", "wrong_type"}));
    EXPECT_THAT(field_codes(place("{" + lines + R"(,"paymentMethod":{"token":null}})")),
                ElementsAre(fc{"/paymentMethod/token", "wrong_type"}));
    EXPECT_THAT(field_codes(place("{" + lines + R"(,"paymentMethod":{"token":"tok_visa","cvc":"123"}})")),
                ElementsAre(fc{"/paymentMethod/cvc", "unknown_field"}));
    // Its form is the decider's (domain/payment/method_token.hpp): any string maps.
    const auto odd = place_order_from_request("{" + lines + R"(,"paymentMethod":{"token":"4111 1111 1111 1111"}})",
                                              as_alice, "g");
    ASSERT_TRUE(odd.has_value());
    EXPECT_EQ(odd->payment_method_token, "4111 1111 1111 1111");
}

// ---- numbers --------------------------------------------------------------------------

std::string with_quantity(std::string_view q) {
    return R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"a","quantity":)" + std::string(q) +
           R"(,"unitPrice":{"amount":1,"currency":"EUR"}}]})";
}

TEST(numbers, int64_limits_are_integers) {
    for (const auto& [text, value] : std::vector<std::pair<std::string, std::int64_t>>{
             {"9223372036854775807", std::numeric_limits<std::int64_t>::max()},
             {"-9223372036854775808", std::numeric_limits<std::int64_t>::min()},
             {"0", 0},
             {"-0", 0},  // JSON's grammar makes -0 an integer; it is 0
             {"-1", -1}}) {
        const auto cmd = place_order_from_request(with_quantity(text), as_alice, "g");
        ASSERT_TRUE(cmd.has_value()) << text << ": " << render(cmd.error());
        EXPECT_EQ(cmd->lines.at(0).quantity, value) << text;
    }
}

TEST(numbers, overflow_floats_and_exponents_are_refused) {
    for (const auto& [text, code] : std::vector<std::pair<std::string, std::string>>{
             {"9223372036854775808", "integer_overflow"},
             {"-9223372036854775809", "integer_overflow"},
             {"18446744073709551615", "integer_overflow"},
             {"18446744073709551616", "integer_overflow"},
             {"123456789012345678901234567890", "integer_overflow"},
             {"2.0", "not_an_integer"},
             {"1e3", "not_an_integer"},
             {"1E3", "not_an_integer"},
             {"-0.0", "not_an_integer"},
             {"0.5", "not_an_integer"},
             {"1e-2", "not_an_integer"},
             {"1e400", "out_of_range"}}) {
        const problem p = place(with_quantity(text));
        EXPECT_EQ(p.status, 422) << text;
        EXPECT_EQ(p.type, validation_uri()) << text;
        EXPECT_THAT(field_codes(p), ElementsAre(fc{"/lines/0/quantity", code})) << text;
        if (code != "out_of_range") {
            EXPECT_THAT(p.errors.at(0).message, HasSubstr(text)) << text;
        }
    }
}

TEST(numbers, strings_and_booleans_are_not_numbers) {
    for (const std::string text : {R"("2")", "true", "null", "[2]", R"({"n":2})"}) {
        EXPECT_THAT(field_codes(place(with_quantity(text))),
                    ElementsAre(fc{"/lines/0/quantity", "wrong_type"}))
            << text;
    }
}

// ---- malformed JSON, UTF-8, size ------------------------------------------------------

TEST(malformed_json, gives_400_with_the_byte_offset) {
    for (const auto& [body, offset] : std::vector<std::pair<std::string, std::int64_t>>{
             {"{", 1},
             {R"({"lines": [})", 11},
             {R"({"lines":[],})", 12},
             {R"({"a" 1})", 5},
             {"{} x", 3},
             {"{}{}", 2},
             {"tru", 3},
             {R"({'lines':[]})", 1},
             {"{\"a\":\"\x01\"}", 6},    // unescaped control character
             {R"({"a":"\ud800"})", 12},  // lone surrogate escape: no UTF-8 for it
             {R"({"a":01})", 6},
             {R"({"a":NaN})", 5},
         }) {
        const problem p = place(body);
        EXPECT_EQ(p.status, 400) << body;
        EXPECT_EQ(p.type, "https://shopstream.dev/problems/malformed-json") << body;
        EXPECT_EQ(offset_of(p), offset) << body << " — " << p.detail;
        EXPECT_THAT(p.detail, HasSubstr("not valid JSON")) << body;
        EXPECT_THAT(p.detail, ::testing::Not(HasSubstr("json.exception"))) << body;
        EXPECT_TRUE(p.errors.empty());
    }
}

TEST(malformed_json, an_empty_body_is_malformed_where_fields_are_required) {
    for (const std::string body : {"", "  \r\n\t"}) {
        const problem p = place(body);
        EXPECT_EQ(p.status, 400);
        EXPECT_EQ(p.type, "https://shopstream.dev/problems/malformed-json");
        EXPECT_EQ(offset_of(p), static_cast<std::int64_t>(body.size()));
        EXPECT_THAT(p.detail, HasSubstr("empty"));
    }
}

TEST(malformed_json, the_body_must_be_an_object) {
    for (const std::string body : {"[]", R"("lines")", "null", "42", "true"}) {
        const problem p = place(body);
        EXPECT_EQ(p.status, 422) << body;
        EXPECT_THAT(field_codes(p), ElementsAre(fc{"", "wrong_type"})) << body;
    }
}

TEST(invalid_utf8, the_offset_counts_bytes_past_multibyte_text_and_names_the_lead_byte) {
    const std::string prefix = "{\"orderId\":\"\xc3\xa9\xe2\x82\xac";  // 12 + 5 bytes
    for (const auto& [body, offset] : std::vector<std::pair<std::string, std::int64_t>>{
             {prefix + "\xf0\x8f\xbf\xbf\"}", 17},  // overlong U+FFFF in 4 bytes
             {prefix + "\xed\xbf\xbf\"}", 17},      // U+DFFF, a low surrogate
             {prefix + "\xf4\x90\x80\x80\"}", 17},  // U+110000
             {prefix + "\xf0\x9f\x98", 17},          // a 4-byte sequence cut at the end
             {prefix + "\xc3", 17},                  // a 2-byte sequence cut at the end
         }) {
        const problem p = place(body);
        EXPECT_EQ(p.status, 400) << offset;
        EXPECT_EQ(p.type, "https://shopstream.dev/problems/invalid-utf8") << offset;
        EXPECT_EQ(offset_of(p), offset);
    }
}

TEST(invalid_utf8, in_a_string_or_anywhere_in_the_body_gives_400_with_the_offset) {
    const std::string prefix = R"({"orderId":")";
    for (const auto& [body, offset] : std::vector<std::pair<std::string, std::int64_t>>{
             {prefix + "\xff\"}", 12},              // never valid
             {prefix + "ok\xc3\x28\"}", 14},        // bad continuation
             {prefix + "\xc0\xaf\"}", 12},          // overlong '/'
             {prefix + "\xe0\x80\xaf\"}", 12},      // overlong, 3 bytes
             {prefix + "\xed\xa0\x80\"}", 12},      // UTF-16 surrogate as UTF-8
             {prefix + "\xf4\x90\x80\x80\"}", 12},  // past U+10FFFF
             {prefix + "\xe2\x82", 12},             // truncated at the end
             {"{\xff}", 1},                         // outside strings
             {"\x80", 0},
         }) {
        const problem p = place(body);
        EXPECT_EQ(p.status, 400);
        EXPECT_EQ(p.type, "https://shopstream.dev/problems/invalid-utf8") << offset;
        EXPECT_EQ(offset_of(p), offset);
    }
    // A leading byte order mark is ignored (RFC 8259 section 8.1 allows either choice).
    EXPECT_TRUE(place_order_from_request("\xef\xbb\xbf{\"paymentMethod\":{\"token\":\"tok_visa\"},\"lines\":[]}", as_alice, "g").has_value());
    // Valid multi-byte text passes through untouched.
    const auto cmd = place_order_from_request(R"({"orderId":"é€😀","paymentMethod":{"token":"tok_visa"},"lines":[]})", as_alice, "g");
    ASSERT_TRUE(cmd.has_value());
    EXPECT_EQ(cmd->id.value(), "é€😀");
}

TEST(body_size, over_64_kib_is_413) {
    std::string body = R"({"orderId":")" + std::string(max_body_bytes, 'a') + R"(","lines":[]})";
    const problem p = place(body);
    EXPECT_EQ(p.status, 413);
    EXPECT_EQ(p.type, "https://shopstream.dev/problems/payload-too-large");

    // Exactly at the limit is read.
    std::string exact = R"({"paymentMethod":{"token":"tok_visa"},"lines":[],"orderId":")";
    exact += std::string(max_body_bytes - exact.size() - 2, 'a') + "\"}";
    ASSERT_EQ(exact.size(), max_body_bytes);
    EXPECT_TRUE(place_order_from_request(exact, as_alice, "g").has_value());
}

TEST(duplicate_keys, are_refused_at_every_depth) {
    const problem p = place(R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"a","sku":"b","quantity":1,
        "unitPrice":{"amount":1,"currency":"EUR","amount":2}}],"lines":[]})");
    EXPECT_EQ(p.status, 422);
    // Reported in document order, before the schema's errors.
    EXPECT_THAT(field_codes(p),
                ElementsAre(fc{"/lines/0/sku", "duplicate_key"},
                            fc{"/lines/0/unitPrice/amount", "duplicate_key"}, fc{"/lines", "duplicate_key"}));
    // Also in a route without fields, and with escaped keys.
    const auto q = cancel_order_from_request("o-1", R"({"a/b":1,"a/b":2})", as_alice);
    EXPECT_THAT(field_codes(problem_of(q)),
                ElementsAre(fc{"/a~1b", "duplicate_key"}, fc{"/a~1b", "unknown_field"}));
}

TEST(deep_nesting, is_reported_at_its_pointer) {
    std::string deep = R"({"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"a","quantity":1,"unitPrice":{"amount":1,"currency":"EUR","x":)";
    for (int i = 0; i < 500; ++i) deep += R"({"k":[)";
    deep += "1";
    for (int i = 0; i < 500; ++i) deep += "]}";
    deep += "}}]}";
    EXPECT_THAT(field_codes(place(deep)), ElementsAre(fc{"/lines/0/unitPrice/x", "unknown_field"}));

    // Duplicates deep down carry their whole pointer.
    const problem p = place(R"({"paymentMethod":{"token":"tok_visa"},"lines":[],"z":{"a":[0,{"b~/":{"c":1,"c":2}}]}})");
    EXPECT_THAT(field_codes(p),
                ElementsAre(fc{"/z/a/1/b~0~1/c", "duplicate_key"}, fc{"/z", "unknown_field"}));
}

// ---- order routes without fields --------------------------------------------------------

TEST(cancel_and_ship_request, take_an_empty_body_or_an_empty_object) {
    for (const std::string body : {"", "  ", "{}", " { } "}) {
        const auto c = cancel_order_from_request("o-1", body, as_alice);
        ASSERT_TRUE(c.has_value()) << body;
        EXPECT_EQ(c->id, domain::order_id{"o-1"});
        EXPECT_EQ(c->by, alice);
        EXPECT_EQ(c->at, now);
        const auto s = ship_order_from_request("o-2", body, as_admin);
        ASSERT_TRUE(s.has_value()) << body;
        EXPECT_EQ(s->id, domain::order_id{"o-2"});
        EXPECT_EQ(s->by, admin);
        EXPECT_EQ(s->at, now);
    }
}

TEST(cancel_and_ship_request, refuse_fields_and_bad_bodies) {
    EXPECT_THAT(field_codes(problem_of(cancel_order_from_request("o", R"({"reason":"x"})", as_alice))),
                ElementsAre(fc{"/reason", "unknown_field"}));
    EXPECT_EQ(problem_of(ship_order_from_request("o", "[]", as_admin)).status, 422);
    EXPECT_EQ(problem_of(ship_order_from_request("o", "{", as_admin)).status, 400);
    EXPECT_EQ(problem_of(ship_order_from_request("o", "\xfe", as_admin)).type,
              "https://shopstream.dev/problems/invalid-utf8");
    EXPECT_EQ(
        problem_of(cancel_order_from_request("o", std::string(max_body_bytes + 1, ' '), as_alice)).status,
        413);
}

// ---- review routes ----------------------------------------------------------------------

TEST(submit_review_request, maps_the_body_the_sku_and_the_author) {
    const auto cmd =
        submit_review_from_request("SKU-1", R"({"rating":4,"title":"Gut","body":"Schön ✓"})", as_alice);
    ASSERT_TRUE(cmd.has_value()) << render(cmd.error());
    EXPECT_EQ(cmd->sku, "SKU-1");
    EXPECT_EQ(cmd->customer, domain::customer_id{"alice"});
    EXPECT_EQ(cmd->rating, 4);
    EXPECT_EQ(cmd->title, "Gut");
    EXPECT_EQ(cmd->body, "Schön ✓");
    EXPECT_EQ(cmd->by, alice);
    EXPECT_EQ(cmd->at, now);

    // Ratings out of range and empty titles are the decider's to refuse.
    const auto wild = submit_review_from_request("S", R"({"rating":-99,"title":"","body":""})", as_alice);
    ASSERT_TRUE(wild.has_value());
    EXPECT_EQ(wild->rating, -99);
}

TEST(submit_review_request, collects_every_error) {
    const auto p = problem_of(submit_review_from_request("S", R"({"stars":5})", as_alice));
    EXPECT_EQ(p.status, 422);
    EXPECT_THAT(field_codes(p), ElementsAre(fc{"/rating", "missing_field"}, fc{"/title", "missing_field"},
                                            fc{"/body", "missing_field"}, fc{"/stars", "unknown_field"}));
    const auto q =
        problem_of(submit_review_from_request("S", R"({"rating":4.0,"title":null,"body":["x"]})", as_alice));
    EXPECT_THAT(field_codes(q), ElementsAre(fc{"/rating", "not_an_integer"}, fc{"/title", "wrong_type"},
                                            fc{"/body", "wrong_type"}));
    EXPECT_EQ(q.errors[2].message, "must be a string, got array");
    const auto r =
        problem_of(submit_review_from_request("S", R"({"rating":"5","title":"t","body":"b"})", as_alice));
    EXPECT_THAT(field_codes(r), ElementsAre(fc{"/rating", "wrong_type"}));
    EXPECT_EQ(problem_of(submit_review_from_request("S", "", as_alice)).status, 400);
}

TEST(edit_review_request, maps_the_body_and_the_id) {
    const auto cmd = edit_review_from_request("S~alice", R"({"title":"T","body":"","rating":1})", as_alice);
    ASSERT_TRUE(cmd.has_value()) << render(cmd.error());
    EXPECT_EQ(cmd->id, domain::review_id{"S~alice"});
    EXPECT_EQ(cmd->rating, 1);
    EXPECT_EQ(cmd->title, "T");
    EXPECT_EQ(cmd->body, "");
    EXPECT_EQ(cmd->by, alice);
    EXPECT_EQ(cmd->at, now);
    const auto p = problem_of(
        edit_review_from_request("S~alice", R"({"rating":9223372036854775808,"title":"T"})", as_alice));
    EXPECT_THAT(field_codes(p), ElementsAre(fc{"/rating", "integer_overflow"}, fc{"/body", "missing_field"}));
}

TEST(retract_and_helpful_request, take_an_empty_body) {
    const auto r = retract_review_from_request("S~bob", "", as_admin);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->id, domain::review_id{"S~bob"});
    EXPECT_EQ(r->by, admin);
    EXPECT_EQ(r->at, now);
    const auto v = vote_helpful_from_request("S~bob", "{}", as_alice);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->id, domain::review_id{"S~bob"});
    EXPECT_EQ(v->by, alice);
    EXPECT_EQ(v->at, now);
    EXPECT_THAT(field_codes(problem_of(vote_helpful_from_request("S~bob", R"({"helpful":true})", as_alice))),
                ElementsAre(fc{"/helpful", "unknown_field"}));
    EXPECT_EQ(problem_of(retract_review_from_request("S~bob", "null", as_alice)).status, 422);
}

TEST(moderate_review_request, maps_both_actions) {
    const auto hide = moderate_review_from_request("S~bob", R"({"action":"hide","reason":"spam"})", as_admin);
    ASSERT_TRUE(hide.has_value()) << render(hide.error());
    EXPECT_EQ(hide->id, domain::review_id{"S~bob"});
    EXPECT_EQ(hide->action, review::moderation_action::hide);
    EXPECT_EQ(hide->reason, "spam");
    EXPECT_EQ(hide->by, admin);
    EXPECT_EQ(hide->at, now);
    const auto restore =
        moderate_review_from_request("S~bob", R"({"reason":"ok","action":"restore"})", as_admin);
    ASSERT_TRUE(restore.has_value());
    EXPECT_EQ(restore->action, review::moderation_action::restore);
}

TEST(moderate_review_request, unknown_actions_list_the_allowed_values) {
    for (const std::string action : {"delete", "Hide", "HIDE", "", "hide "}) {
        const auto p = problem_of(moderate_review_from_request(
            "S~bob", R"({"action":")" + action + R"(","reason":"x"})", as_admin));
        EXPECT_EQ(p.status, 422) << action;
        ASSERT_THAT(field_codes(p), ElementsAre(fc{"/action", "unknown_enum_value"})) << action;
        EXPECT_EQ(p.errors[0].message, "must be one of 'hide' or 'restore', got '" + action + "'");
    }
    const auto p = problem_of(moderate_review_from_request("S~bob", R"({"action":0})", as_admin));
    EXPECT_THAT(field_codes(p), ElementsAre(fc{"/action", "wrong_type"}, fc{"/reason", "missing_field"}));
}

// ---- If-Match ----------------------------------------------------------------------------

TEST(if_match, reads_one_strong_version_tag_or_star) {
    EXPECT_EQ(expected_version_from_if_match(R"("7")").value(), std::optional<std::uint64_t>{7});
    EXPECT_EQ(expected_version_from_if_match(R"( "0" )").value(), std::optional<std::uint64_t>{0});
    EXPECT_EQ(expected_version_from_if_match(R"("18446744073709551615")").value(),
              std::optional<std::uint64_t>{std::numeric_limits<std::uint64_t>::max()});
    EXPECT_EQ(expected_version_from_if_match("*").value(), std::nullopt);
    for (const std::string bad : {"7", R"(W/"7")", R"("")", R"("-1")", R"("7", "8")",
                                  R"("18446744073709551616")", R"("7a")", "", R"("+7")", R"(" 7")"}) {
        const auto r = expected_version_from_if_match(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().status, 400) << bad;
        EXPECT_EQ(r.error().type, "https://shopstream.dev/problems/bad-header");
    }
}

// Found by tests/fuzz/json_commands: "0537" was read as version 537, though entity tags
// compare character by character and etag(537) is "537".
TEST(if_match, a_version_with_leading_zeros_is_not_a_tag_this_server_sends) {
    for (const std::string bad : {R"("0537")", R"("00")", R"("007370955322304")"}) {
        const auto r = expected_version_from_if_match(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().status, 400) << bad;
    }
    EXPECT_EQ(expected_version_from_if_match(R"("0")").value(), std::optional<std::uint64_t>{0});
}

TEST(etag, quotes_the_version) {
    EXPECT_EQ(etag(0), R"("0")");
    EXPECT_EQ(etag(42), R"("42")");
    EXPECT_EQ(etag(std::numeric_limits<std::uint64_t>::max()), R"("18446744073709551615")");
    // Round trip with If-Match.
    EXPECT_EQ(expected_version_from_if_match(etag(42)).value(), std::optional<std::uint64_t>{42});
}

// ---- command answers ---------------------------------------------------------------------

TEST(command_response, carries_id_status_version_and_position) {
    commands::command_outcome o;
    o.aggregate_id = "o-1";
    o.version = 3;
    o.at = eventstore::position{eventstore::partition_id(7), eventstore::log_offset(1234)};
    EXPECT_EQ(json::parse(render_order_command_response(o, order::order_status::pending)),
              json::parse(R"({"orderId":"o-1","status":"pending","version":3,"position":"orders:7:1234"})"));
    EXPECT_EQ(json::parse(render_order_command_response(o, std::nullopt)),
              json::parse(R"({"orderId":"o-1","version":3,"position":"orders:7:1234"})"));

    commands::command_outcome r;
    r.kind = commands::outcome_kind::unchanged;
    r.aggregate_id = "S~alice";
    r.version = 0;
    EXPECT_EQ(json::parse(render_review_command_response(r, review::review_status::visible)),
              json::parse(R"({"reviewId":"S~alice","status":"visible","version":0,"position":null})"));
    r.at = eventstore::position{eventstore::partition_id(0), eventstore::log_offset(5)};
    EXPECT_EQ(json::parse(render_review_command_response(r, std::nullopt)).at("position"), "reviews:0:5");
}

// ---- timestamps ----------------------------------------------------------------------------

TEST(rfc3339, renders_utc_with_milliseconds) {
    EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339(1), "1970-01-01T00:00:00.001Z");
    EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(format_rfc3339(-86'400'000), "1969-12-31T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339(-86'400'001), "1969-12-30T23:59:59.999Z");
    EXPECT_EQ(format_rfc3339(now), "2024-05-01T12:00:00.123Z");
    EXPECT_EQ(format_rfc3339(951'782'400'000), "2000-02-29T00:00:00.000Z");    // leap day
    EXPECT_EQ(format_rfc3339(4'107'542'399'999), "2100-02-28T23:59:59.999Z");  // 2100 is no leap year
    EXPECT_EQ(format_rfc3339(4'107'542'400'000), "2100-03-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339(-62'167'219'200'000), "0000-01-01T00:00:00.000Z");
    EXPECT_EQ(format_rfc3339(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
}

TEST(rfc3339, refuses_years_it_cannot_write) {
    EXPECT_EQ(format_rfc3339(-62'167'219'200'001), std::nullopt);
    EXPECT_EQ(format_rfc3339(253'402'300'800'000), std::nullopt);
    EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::max()), std::nullopt);
    EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::min()), std::nullopt);
    // ...and renderers write null for them.
    order::state s;
    s.status = order::order_status::pending;
    s.placed_at = std::numeric_limits<std::int64_t>::max();
    EXPECT_TRUE(json::parse(render_order(s, 1))["placedAt"].is_null());
}

// ---- states ------------------------------------------------------------------------------

domain::currency eur() { return *domain::currency::parse("EUR"); }

order::state fold(const std::vector<order::event>& events) {
    order::state s = order::initial_state();
    for (const auto& e : events) s = order::evolve(std::move(s), e);
    return s;
}

const order::order_placed placed{
    domain::order_id{"o-1"}, domain::customer_id{"alice"}, {{"A-1", 2, 1999}, {"B", 1, 2}}, eur(), 4000, now,
    "tok_visa"};
const order::order_confirmed confirmed{domain::order_id{"o-1"}, domain::payment_id{"p-1"}, now + 1};
const order::order_payment_captured captured{
    domain::order_id{"o-1"}, domain::payment_id{"p-1"}, {4000, eur()}, now + 2};
const order::order_shipped shipped{domain::order_id{"o-1"}, admin, now + 3};
const order::order_cancelled cancelled{domain::order_id{"o-1"}, order::cancel_reason::payment_timeout,
                                       domain::actor{"saga", domain::role::system}, now + 4};

TEST(order_state, renders_every_status) {
    const json pending = json::parse(render_order(fold({placed}), 1));
    EXPECT_EQ(pending, json::parse(R"({
        "orderId":"o-1","customerId":"alice","status":"pending",
        "lines":[{"sku":"A-1","quantity":2,"unitPrice":{"amount":1999,"currency":"EUR"}},
                 {"sku":"B","quantity":1,"unitPrice":{"amount":2,"currency":"EUR"}}],
        "total":{"amount":4000,"currency":"EUR"},"placedAt":"2024-05-01T12:00:00.123Z",
        "paymentId":null,"paymentCaptured":false,"cancelReason":null,"version":1})"));

    const json conf = json::parse(render_order(fold({placed, confirmed}), 2));
    EXPECT_EQ(conf["status"], "confirmed");
    EXPECT_EQ(conf["paymentId"], "p-1");
    EXPECT_EQ(conf["version"], 2);

    const json ship = json::parse(render_order(fold({placed, confirmed, captured, shipped}), 4));
    EXPECT_EQ(ship["status"], "shipped");
    EXPECT_EQ(ship["paymentCaptured"], true);

    const json canc = json::parse(render_order(fold({placed, cancelled}), 2));
    EXPECT_EQ(canc["status"], "cancelled");
    EXPECT_EQ(canc["cancelReason"], "payment_timeout");

    const json none = json::parse(render_order(order::initial_state(), 0));
    EXPECT_EQ(none["status"], "none");
    EXPECT_EQ(none["total"], json::parse(R"({"amount":0,"currency":""})"));
}

TEST(enum_names, are_lower_case_and_distinct) {
    EXPECT_EQ(name_of(order::order_status::none), "none");
    EXPECT_EQ(name_of(order::order_status::pending), "pending");
    EXPECT_EQ(name_of(order::order_status::confirmed), "confirmed");
    EXPECT_EQ(name_of(order::order_status::cancelled), "cancelled");
    EXPECT_EQ(name_of(order::order_status::shipped), "shipped");
    EXPECT_EQ(name_of(order::cancel_reason::customer_request), "customer_request");
    EXPECT_EQ(name_of(order::cancel_reason::payment_declined), "payment_declined");
    EXPECT_EQ(name_of(order::cancel_reason::payment_timeout), "payment_timeout");
    EXPECT_EQ(name_of(review::review_status::none), "none");
    EXPECT_EQ(name_of(review::review_status::visible), "visible");
    EXPECT_EQ(name_of(review::review_status::hidden), "hidden");
    EXPECT_EQ(name_of(review::review_status::retracted), "retracted");
    EXPECT_EQ(name_of(review::moderation_action::hide), "hide");
    EXPECT_EQ(name_of(review::moderation_action::restore), "restore");
    EXPECT_EQ(name_of(payment::payment_status::none), "none");
    EXPECT_EQ(name_of(payment::payment_status::requested), "requested");
    EXPECT_EQ(name_of(payment::payment_status::authorized), "authorized");
    EXPECT_EQ(name_of(payment::payment_status::declined), "declined");
    EXPECT_EQ(name_of(payment::payment_status::captured), "captured");
    EXPECT_EQ(name_of(payment::payment_status::voided), "voided");
    EXPECT_EQ(name_of(domain::role::customer), "customer");
    EXPECT_EQ(name_of(domain::role::admin), "admin");
    EXPECT_EQ(name_of(domain::role::system), "system");
}

review::state review_after(const std::vector<review::event>& events) {
    review::state s = review::initial_state();
    for (const auto& e : events) s = review::evolve(std::move(s), e);
    return s;
}

const domain::review_id rid{"S-1~alice"};
const review::review_submitted submitted{rid, "S-1", domain::customer_id{"alice"}, 4, "Gut", "Schön", now};
const review::review_edited edited{rid, 5, "Sehr gut", "", now + 10};
const review::review_marked_helpful helpful_bob{rid, domain::customer_id{"bob"}, now + 20};
const review::review_marked_helpful helpful_carol{rid, domain::customer_id{"carol"}, now + 21};
const review::review_hidden hidden{rid, "spam", admin, now + 30};
const review::review_restored restored{rid, "not spam", admin, now + 40};
const review::review_retracted retracted{rid, alice, now + 50};

TEST(review_state, renders_every_status) {
    const json visible = json::parse(render_review(review_after({submitted, helpful_bob, helpful_carol}), 3));
    EXPECT_EQ(visible, json::parse(R"({
        "reviewId":"S-1~alice","sku":"S-1","authorId":"alice","status":"visible","rating":4,
        "title":"Gut","body":"Schön","submittedAt":"2024-05-01T12:00:00.123Z","editedAt":null,
        "helpfulCount":2,"version":3})"));

    const json ed = json::parse(render_review(review_after({submitted, edited}), 2));
    EXPECT_EQ(ed["rating"], 5);
    EXPECT_EQ(ed["editedAt"], "2024-05-01T12:00:00.133Z");

    EXPECT_EQ(json::parse(render_review(review_after({submitted, hidden}), 2))["status"], "hidden");
    EXPECT_EQ(json::parse(render_review(review_after({submitted, hidden, restored}), 3))["status"],
              "visible");
    EXPECT_EQ(json::parse(render_review(review_after({submitted, retracted}), 2))["status"], "retracted");
    EXPECT_EQ(json::parse(render_review(review::initial_state(), 0))["status"], "none");
}

TEST(review_state, text_that_is_not_utf8_is_replaced_not_thrown) {
    review::state s = review_after({submitted});
    s.title = "bad \xff text";
    const json j = json::parse(render_review(s, 1));
    EXPECT_EQ(j["title"], "bad \xef\xbf\xbd text");
}

payment::state payment_after(const std::vector<payment::event>& events) {
    payment::state s = payment::initial_state();
    for (const auto& e : events) s = payment::evolve(std::move(s), e);
    return s;
}

const domain::payment_id pid{"p-1"};
const payment::payment_requested requested{pid, domain::order_id{"o-1"}, {4000, eur()}, "tok_secret", now};
const payment::payment_authorized authorized{pid, "AUTH-9", now + 1};
const payment::payment_declined declined{pid, "insufficient funds", now + 1};
const payment::payment_captured pay_captured{pid, {4000, eur()}, now + 2};
const payment::payment_voided voided{pid, "order cancelled", now + 2};
const payment::payment_refunded refunded{pid, "r-1", {1500, eur()}, "damaged", now + 3};

TEST(payment_state, renders_every_status) {
    const json req = json::parse(render_payment(payment_after({requested}), 1));
    EXPECT_EQ(req, json::parse(R"({
        "paymentId":"p-1","orderId":"o-1","status":"requested","amount":{"amount":4000,"currency":"EUR"},
        "authorizationCode":null,"declineReason":null,"voidReason":null,
        "captured":{"amount":0,"currency":"EUR"},"refunded":{"amount":0,"currency":"EUR"},
        "refundable":{"amount":0,"currency":"EUR"},"refunds":[],"version":1})"));
    EXPECT_THAT(render_payment(payment_after({requested}), 1), ::testing::Not(HasSubstr("tok_secret")));

    const json auth = json::parse(render_payment(payment_after({requested, authorized}), 2));
    EXPECT_EQ(auth["status"], "authorized");
    EXPECT_EQ(auth["authorizationCode"], "AUTH-9");

    const json dec = json::parse(render_payment(payment_after({requested, declined}), 2));
    EXPECT_EQ(dec["status"], "declined");
    EXPECT_EQ(dec["declineReason"], "insufficient funds");

    const json cap =
        json::parse(render_payment(payment_after({requested, authorized, pay_captured, refunded}), 4));
    EXPECT_EQ(cap["status"], "captured");
    EXPECT_EQ(cap["captured"]["amount"], 4000);
    EXPECT_EQ(cap["refunded"]["amount"], 1500);
    EXPECT_EQ(cap["refundable"]["amount"], 2500);
    EXPECT_EQ(cap["refunds"],
              json::parse(R"([{"refundId":"r-1","amount":{"amount":1500,"currency":"EUR"}}])"));

    const json voi = json::parse(render_payment(payment_after({requested, authorized, voided}), 3));
    EXPECT_EQ(voi["status"], "voided");
    EXPECT_EQ(voi["voidReason"], "order cancelled");

    EXPECT_EQ(json::parse(render_payment(payment::initial_state(), 0))["status"], "none");
}

// ---- event histories ------------------------------------------------------------------------

template <class Encode, class Event>
std::vector<eventstore::recorded_event> record(Encode encode, const std::vector<Event>& events) {
    std::vector<eventstore::recorded_event> out;
    for (std::size_t i = 0; i < events.size(); ++i) {
        // The first event's commit carries every header a history shows; the others none.
        eventstore::commit_headers headers;
        if (i == 0) headers = {1'700'000'000'123, "place_order", "corr-1", "cause-1", "customer:c-1", "00-trace"};
        out.push_back({i + 1, eventstore::position{eventstore::partition_id(3), eventstore::log_offset(static_cast<std::int64_t>(100 + i))},
                       "cmd-" + std::to_string(i + 1), headers, encode(events[i])});
    }
    return out;
}

json history_of(eventstore::context ctx, const std::vector<eventstore::recorded_event>& events) {
    const auto text = render_history(ctx, events);
    EXPECT_TRUE(text.has_value());
    return text ? json::parse(*text) : json();
}

TEST(history, renders_every_order_event) {
    const auto events = record([](const order::event& e) { return eventstore::order_codec::encode(e); },
                               std::vector<order::event>{placed, confirmed, captured, shipped, cancelled});
    const json h = history_of(eventstore::context::orders, events);
    ASSERT_EQ(h["events"].size(), 5u);
    EXPECT_EQ(h["events"][0],
              json::parse(R"({"version":1,"type":"order_placed","position":"3:100","commandId":"cmd-1",
        "recordedAt":"2023-11-14T22:13:20.123Z","correlationId":"corr-1","causationId":"cause-1",
        "actor":"customer:c-1","traceparent":"00-trace",
        "data":{"orderId":"o-1","customerId":"alice",
                "lines":[{"sku":"A-1","quantity":2,"unitPrice":{"amount":1999,"currency":"EUR"}},
                         {"sku":"B","quantity":1,"unitPrice":{"amount":2,"currency":"EUR"}}],
                "total":{"amount":4000,"currency":"EUR"},"at":"2024-05-01T12:00:00.123Z"}})"));
    EXPECT_EQ(h["events"][1]["type"], "order_confirmed");
    EXPECT_EQ(h["events"][1]["data"],
              json::parse(R"({"orderId":"o-1","paymentId":"p-1","at":"2024-05-01T12:00:00.124Z"})"));
    EXPECT_EQ(h["events"][2]["type"], "order_payment_captured");
    EXPECT_EQ(h["events"][2]["data"], json::parse(R"({"orderId":"o-1","paymentId":"p-1",
        "amount":{"amount":4000,"currency":"EUR"},"at":"2024-05-01T12:00:00.125Z"})"));
    EXPECT_EQ(h["events"][3]["type"], "order_shipped");
    EXPECT_EQ(h["events"][3]["data"], json::parse(R"({"orderId":"o-1","by":{"id":"root","role":"admin"},
        "at":"2024-05-01T12:00:00.126Z"})"));
    EXPECT_EQ(h["events"][4]["type"], "order_cancelled");
    EXPECT_EQ(h["events"][4]["data"], json::parse(R"({"orderId":"o-1","reason":"payment_timeout",
        "by":{"id":"saga","role":"system"},"at":"2024-05-01T12:00:00.127Z"})"));
    EXPECT_EQ(h["events"][4]["version"], 5);
    EXPECT_EQ(h["events"][4]["position"], "3:104");
    EXPECT_EQ(h["events"][4]["commandId"], "cmd-5");
    // A commit without headers shows none (not empty strings).
    EXPECT_FALSE(h["events"][4].contains("correlationId"));
    EXPECT_FALSE(h["events"][4].contains("recordedAt"));
}

TEST(history, renders_every_review_event) {
    const auto events =
        record([](const review::event& e) { return eventstore::review_codec::encode(e); },
               std::vector<review::event>{submitted, edited, helpful_bob, hidden, restored, retracted});
    const json h = history_of(eventstore::context::reviews, events);
    ASSERT_EQ(h["events"].size(), 6u);
    EXPECT_EQ(h["events"][0]["type"], "review_submitted");
    EXPECT_EQ(h["events"][0]["data"], json::parse(R"({"reviewId":"S-1~alice","sku":"S-1","authorId":"alice",
        "rating":4,"title":"Gut","body":"Schön","at":"2024-05-01T12:00:00.123Z"})"));
    EXPECT_EQ(h["events"][1]["type"], "review_edited");
    EXPECT_EQ(h["events"][1]["data"], json::parse(R"({"reviewId":"S-1~alice","rating":5,"title":"Sehr gut",
        "body":"","at":"2024-05-01T12:00:00.133Z"})"));
    EXPECT_EQ(h["events"][2]["type"], "review_marked_helpful");
    EXPECT_EQ(h["events"][2]["data"],
              json::parse(R"({"reviewId":"S-1~alice","voterId":"bob","at":"2024-05-01T12:00:00.143Z"})"));
    EXPECT_EQ(h["events"][3]["type"], "review_hidden");
    EXPECT_EQ(h["events"][3]["data"], json::parse(R"({"reviewId":"S-1~alice","reason":"spam",
        "by":{"id":"root","role":"admin"},"at":"2024-05-01T12:00:00.153Z"})"));
    EXPECT_EQ(h["events"][4]["type"], "review_restored");
    EXPECT_EQ(h["events"][4]["data"]["reason"], "not spam");
    EXPECT_EQ(h["events"][5]["type"], "review_retracted");
    EXPECT_EQ(h["events"][5]["data"], json::parse(R"({"reviewId":"S-1~alice",
        "by":{"id":"alice","role":"customer"},"at":"2024-05-01T12:00:00.173Z"})"));
}

TEST(history, renders_every_payment_event) {
    const auto events =
        record([](const payment::event& e) { return eventstore::payment_codec::encode(e); },
               std::vector<payment::event>{requested, authorized, declined, pay_captured, voided, refunded});
    const json h = history_of(eventstore::context::payments, events);
    ASSERT_EQ(h["events"].size(), 6u);
    EXPECT_EQ(h["events"][0]["type"], "payment_requested");
    EXPECT_EQ(h["events"][0]["data"], json::parse(R"({"paymentId":"p-1","orderId":"o-1",
        "amount":{"amount":4000,"currency":"EUR"},"at":"2024-05-01T12:00:00.123Z"})"));
    EXPECT_EQ(h["events"][1]["type"], "payment_authorized");
    EXPECT_EQ(h["events"][1]["data"]["authorizationCode"], "AUTH-9");
    EXPECT_EQ(h["events"][2]["type"], "payment_declined");
    EXPECT_EQ(h["events"][2]["data"]["reason"], "insufficient funds");
    EXPECT_EQ(h["events"][3]["type"], "payment_captured");
    EXPECT_EQ(h["events"][3]["data"]["amount"], json::parse(R"({"amount":4000,"currency":"EUR"})"));
    EXPECT_EQ(h["events"][4]["type"], "payment_voided");
    EXPECT_EQ(h["events"][4]["data"]["reason"], "order cancelled");
    EXPECT_EQ(h["events"][5]["type"], "payment_refunded");
    EXPECT_EQ(h["events"][5]["data"], json::parse(R"({"paymentId":"p-1","refundId":"r-1",
        "amount":{"amount":1500,"currency":"EUR"},"reason":"damaged","at":"2024-05-01T12:00:00.126Z"})"));
}

// The renderer writes events one at a time (GET .../events renders them in place while
// it visits the store); the document must be byte for byte what dumping the whole DOM
// writes, from owned events and from in-place views alike.
TEST(history, rendering_event_by_event_writes_the_whole_document_s_bytes) {
    const auto events = record([](const order::event& e) { return eventstore::order_codec::encode(e); },
                               std::vector<order::event>{placed, confirmed, captured, shipped, cancelled});
    const auto whole = render_history(eventstore::context::orders, events);
    ASSERT_TRUE(whole.has_value());
    EXPECT_TRUE(json::accept(*whole)) << *whole;
    history_renderer from_views(eventstore::context::orders);
    for (const auto& e : events) {
        const eventstore::recorded_event_view v{
            e.version, e.at, e.command_id,
            eventstore::commit_headers_view{e.headers.timestamp_ms, e.headers.command_type, e.headers.correlation_id,
                                            e.headers.causation_id, e.headers.actor, e.headers.traceparent},
            eventstore::encoded_event_view{e.event.type, e.event.schema_version, e.event.payload}};
        ASSERT_TRUE(from_views.add(v).has_value());
    }
    EXPECT_EQ(from_views.finish(), *whole);
    // finish() leaves an empty renderer behind.
    EXPECT_EQ(from_views.finish(), R"({"events":[]})");
}

// The writer escapes what JSON requires and writes text that is not UTF-8 (a foreign
// producer's record header) with U+FFFD, so the document always parses.
TEST(history, header_text_is_escaped_and_ill_formed_utf8_replaced) {
    auto events = record([](const order::event& e) { return eventstore::order_codec::encode(e); },
                         std::vector<order::event>{placed});
    events[0].headers.correlation_id = "q\"b\\s\x01\n\u00e9";
    events[0].headers.actor = std::string("ok\xff\xc0x");
    const auto text = render_history(eventstore::context::orders, events);
    ASSERT_TRUE(text.has_value());
    EXPECT_THAT(*text, HasSubstr(std::string(R"("correlationId":"q\"b\\s\u0001\n)") + "\u00e9\"")) << *text;
    const json h = json::parse(*text);
    EXPECT_EQ(h["events"][0]["correlationId"], "q\"b\\s\x01\n\u00e9");
    EXPECT_EQ(h["events"][0]["actor"], "ok\uFFFD\uFFFDx");
    EXPECT_EQ(h["events"][0]["version"], 1);
}

TEST(history, an_empty_history_is_an_empty_list) {
    EXPECT_EQ(history_of(eventstore::context::orders, {}), json::parse(R"({"events":[]})"));
}

TEST(history, an_undecodable_event_is_a_500_naming_its_version) {
    auto events = record([](const order::event& e) { return eventstore::order_codec::encode(e); },
                         std::vector<order::event>{placed, confirmed});
    events[1].event.payload = {1, 2, 3};
    const auto h = render_history(eventstore::context::orders, events);
    ASSERT_FALSE(h.has_value());
    EXPECT_EQ(h.error().status, 500);
    EXPECT_THAT(h.error().detail, HasSubstr("event 2"));
    // Another context's codec does not read order events.
    const auto wrong =
        render_history(eventstore::context::reviews,
                       record([](const order::event& e) { return eventstore::order_codec::encode(e); },
                              std::vector<order::event>{placed}));
    EXPECT_FALSE(wrong.has_value());
}

TEST(pointer_tokens, escape_per_rfc_6901) {
    EXPECT_EQ(escape_pointer_token("plain"), "plain");
    EXPECT_EQ(escape_pointer_token("a/b"), "a~1b");
    EXPECT_EQ(escape_pointer_token("m~n"), "m~0n");
    EXPECT_EQ(escape_pointer_token("~/"), "~0~1");
    EXPECT_EQ(escape_pointer_token("~1"), "~01");  // not "~1": the order of replacement matters
    EXPECT_EQ(escape_pointer_token(""), "");
}

}  // namespace
}  // namespace shopstream::adapters::http
