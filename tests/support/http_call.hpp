#pragma once
// HTTP requests of the end-to-end tests, through curl (a foreign client, as a user's
// would be): the answer's status, headers (names lower-cased) and body; bearer tokens
// minted with the tests' secret; the check of an RFC 9457 problem.
//
// Thread-safety: free functions; each call runs its own curl process. An http_session
// (libcurl in this process, one kept-alive connection) is for loads, where a process per
// request would be what is measured; one per thread.

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "domain/common.hpp"

namespace shopstream::testing {

// A token of `sub` with `role` signed with `with_secret`, valid for `ttl` from now + `shift`.
[[nodiscard]] std::string mint_token(const std::string& with_secret, const std::string& sub, domain::role role,
                                     std::chrono::seconds ttl = std::chrono::hours(1),
                                     std::chrono::seconds shift = std::chrono::seconds(0));

struct http_response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;

    [[nodiscard]] std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
    [[nodiscard]] nlohmann::json body_json() const { return nlohmann::json::parse(body); }
};

struct request_options {
    std::string body;
    bool has_body = false;
    std::string token;
    std::string content_type = "application/json";
    std::vector<std::string> headers;  // "Name: value"
};

// One request through curl; nullopt when curl gets no answer.
[[nodiscard]] std::optional<http_response> try_call(const std::string& base, const std::string& method,
                                                    const std::string& path, const request_options& o = {});
// The same; throws std::runtime_error (failing the test) when there is no answer.
[[nodiscard]] http_response call(const std::string& base, const std::string& method, const std::string& path,
                                 const request_options& o = {});

class http_session {
public:
    explicit http_session(std::string base);
    http_session(const http_session&) = delete;
    http_session& operator=(const http_session&) = delete;
    ~http_session();

    // As call(): throws std::runtime_error when there is no answer.
    [[nodiscard]] http_response call(const std::string& method, const std::string& path, const request_options& o = {});

private:
    std::string base_;
    void* curl_;  // CURL*
};

[[nodiscard]] request_options with_body(std::string body, std::string token);
[[nodiscard]] request_options bearer(std::string token);

// A problem answer of `status` whose type is https://shopstream.dev/problems/<type_suffix>.
void expect_problem(const http_response& r, int status, const std::string& type_suffix);

}  // namespace shopstream::testing
