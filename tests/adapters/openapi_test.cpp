// The embedded OpenAPI document (adapters/http/openapi.json): it is OpenAPI 3.1, it lists
// exactly the routes the server answers, every reference in it resolves, every path
// parameter is declared, the open routes are the four that need no token, and every
// error response is a shared problem+json Problem.
#include "adapters/http/openapi.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "adapters/http/server.hpp"

namespace shopstream::adapters::http {
namespace {

using json = nlohmann::json;

const std::set<std::string> http_methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

json document() { return json::parse(openapi_document()); }

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

// Follows a local "$ref" ("#/components/...") through the document, if `node` is one.
const json& resolve(const json& doc, const json& node) {
    if (!node.is_object() || !node.contains("$ref")) return node;
    const auto ref = node.at("$ref").get<std::string>();
    EXPECT_TRUE(ref.starts_with("#/")) << ref;
    return resolve(doc, doc.at(json::json_pointer(ref.substr(1))));
}

// Every (method, path) pair of the document's operations.
std::set<route_info> operations_of(const json& doc) {
    std::set<route_info> out;
    for (const auto& [path, item] : doc.at("paths").items()) {
        for (const auto& [method, op] : item.items()) {
            if (http_methods.count(method)) out.insert({upper(method), path});
        }
    }
    return out;
}

TEST(openapi_document, is_json_of_openapi_3_1) {
    const json doc = document();
    ASSERT_TRUE(doc.is_object());
    EXPECT_TRUE(std::regex_match(doc.at("openapi").get<std::string>(), std::regex(R"(3\.1\.[0-9]+)")))
        << doc.at("openapi");
    EXPECT_FALSE(doc.at("info").at("title").get<std::string>().empty());
    EXPECT_TRUE(std::regex_match(doc.at("info").at("version").get<std::string>(),
                                 std::regex(R"([0-9]+\.[0-9]+\.[0-9]+)")));
    EXPECT_EQ(doc.at("components").at("securitySchemes").at("bearerAuth").at("scheme"), "bearer");
    EXPECT_EQ(doc.at("components").at("securitySchemes").at("bearerAuth").at("bearerFormat"), "JWT");
}

TEST(openapi_document, lists_exactly_the_routes_of_the_server) {
    const auto table = route_table();
    const std::set<route_info> served(table.begin(), table.end());
    ASSERT_EQ(served.size(), table.size()) << "the route table has a duplicate";
    const std::set<route_info> documented = operations_of(document());
    for (const auto& r : served) {
        EXPECT_TRUE(documented.count(r)) << "served but not documented: " << r.method << " " << r.path;
    }
    for (const auto& r : documented) {
        EXPECT_TRUE(served.count(r)) << "documented but not served: " << r.method << " " << r.path;
    }
    EXPECT_TRUE(served.count({"GET", "/v1/openapi.json"}));
}

TEST(openapi_document, every_reference_resolves) {
    const json doc = document();
    std::vector<const json*> pending = {&doc};
    std::size_t refs = 0;
    while (!pending.empty()) {
        const json* node = pending.back();
        pending.pop_back();
        if (node->is_object()) {
            if (auto it = node->find("$ref"); it != node->end() && it->is_string()) {
                ++refs;
                const auto ref = it->get<std::string>();
                ASSERT_TRUE(ref.starts_with("#/")) << ref;
                EXPECT_TRUE(doc.contains(json::json_pointer(ref.substr(1)))) << "dangling " << ref;
            }
        }
        if (node->is_structured()) {
            for (const auto& child : *node) pending.push_back(&child);
        }
    }
    EXPECT_GT(refs, 0U);
}

TEST(openapi_document, declares_every_path_parameter_and_no_other) {
    const json doc = document();
    const std::regex parameter(R"(\{([A-Za-z]+)\})");
    for (const auto& [path, item] : doc.at("paths").items()) {
        std::set<std::string> in_template;
        for (std::sregex_iterator it(path.begin(), path.end(), parameter), end; it != end; ++it) {
            in_template.insert((*it)[1]);
        }
        for (const auto& [method, op] : item.items()) {
            if (!http_methods.count(method)) continue;
            std::set<std::string> declared;
            for (const auto& p : op.value("parameters", json::array())) {
                const json& param = resolve(doc, p);
                if (param.at("in") == "path") {
                    EXPECT_TRUE(param.at("required").get<bool>()) << method << " " << path;
                    declared.insert(param.at("name").get<std::string>());
                }
            }
            EXPECT_EQ(declared, in_template) << method << " " << path;
        }
    }
}

TEST(openapi_document, only_health_readiness_metrics_the_document_and_public_review_reads_need_no_token) {
    const json doc = document();
    EXPECT_EQ(doc.at("security"), json::parse(R"([{"bearerAuth": []}])"));
    const std::set<std::string> open = {"/healthz", "/readyz", "/metrics", "/v1/openapi.json"};
    const std::set<std::string> optional_token = {"/v1/products/{sku}/reviews", "/v1/products/{sku}/rating"};
    for (const auto& [path, item] : doc.at("paths").items()) {
        for (const auto& [method, op] : item.items()) {
            if (!http_methods.count(method)) continue;
            if (open.count(path)) {
                EXPECT_EQ(op.at("security"), json::array()) << method << " " << path;
            } else if (method == "get" && optional_token.count(path)) {
                // Public reads: anonymous, or with a token that is then checked.
                EXPECT_EQ(op.at("security"), json::parse(R"([{}, {"bearerAuth": []}])")) << method << " " << path;
                EXPECT_TRUE(op.at("responses").contains("401")) << method << " " << path;
            } else {
                EXPECT_FALSE(op.contains("security")) << method << " " << path << " overrides the bearer token";
                EXPECT_TRUE(op.at("responses").contains("401")) << method << " " << path;
                EXPECT_TRUE(op.at("responses").contains("429")) << method << " " << path;
            }
        }
    }
}

TEST(openapi_document, error_responses_are_problems_and_command_bodies_are_closed) {
    const json doc = document();
    const json problem_ref = {{"$ref", "#/components/schemas/Problem"}};
    const json& problem_schema = doc.at("components").at("schemas").at("Problem");
    const auto required = problem_schema.at("required").get<std::set<std::string>>();
    EXPECT_EQ(required, (std::set<std::string>{"type", "title", "status", "detail"}));
    for (const auto member : {"type", "title", "status", "detail", "instance", "errors", "retryAfter"}) {
        EXPECT_TRUE(problem_schema.at("properties").contains(member)) << member;
    }
    const json& field_error = doc.at("components").at("schemas").at("FieldError");
    EXPECT_EQ(field_error.at("required"), json::parse(R"(["field", "code", "message"])"));
    for (const auto& [path, item] : doc.at("paths").items()) {
        for (const auto& [method, op] : item.items()) {
            if (!http_methods.count(method)) continue;
            for (const auto& [status, r] : op.at("responses").items()) {
                const json& response = resolve(doc, r);
                if (std::stoi(status) < 400) continue;
                ASSERT_TRUE(response.at("content").contains("application/problem+json"))
                    << method << " " << path << " " << status;
                EXPECT_EQ(response.at("content").at("application/problem+json").at("schema"), problem_ref);
                if (status == "429") {
                    EXPECT_TRUE(response.at("headers").contains("Retry-After"));
                }
            }
            if (op.contains("requestBody")) {
                const json& schema =
                    resolve(doc, op.at("requestBody").at("content").at("application/json").at("schema"));
                EXPECT_EQ(schema.at("additionalProperties"), false) << method << " " << path;
            }
        }
    }
}

}  // namespace
}  // namespace shopstream::adapters::http
