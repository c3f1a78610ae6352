#include "tests/support/http_call.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <cctype>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "adapters/auth/jwt.hpp"
#include "base/result.hpp"
#include "tests/support/process.hpp"

namespace shopstream::testing {

std::string mint_token(const std::string& with_secret, const std::string& sub, domain::role role,
                       std::chrono::seconds ttl, std::chrono::seconds shift) {
    auto authority = adapters::auth::jwt_authority::create(with_secret);
    if (!authority) throw std::runtime_error(authority.error().message);
    auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) + shift;
    auto token = authority->mint(sub, role, ttl, now);
    if (!token) throw std::runtime_error(token.error().message);
    return *token;
}

namespace {

// One "Name: value" line of an answer's head into r.headers (the name lower-cased); other
// lines (the status line) are left.
void add_header_line(http_response& r, std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto value = line.find_first_not_of(' ', colon + 1);
    r.headers[name] = value == std::string_view::npos ? std::string() : std::string(line.substr(value));
}

// The answer, or why there is none: curl's exit status and its one-line error (-S), so a
// failed test says whether the server refused, reset, closed or never answered.
result<http_response, std::string> exchange(const std::string& base, const std::string& method,
                                            const std::string& path, const request_options& o) {
    std::vector<std::string> argv = {"curl", "-s", "-S", "-i", "--max-time", "20", "-X", method, "-H", "Expect:"};
    if (!o.token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + o.token});
    for (const auto& h : o.headers) argv.insert(argv.end(), {"-H", h});
    if (o.has_body) {
        argv.insert(argv.end(), {"-H", "Content-Type: " + o.content_type, "--data-binary", o.body});
    }
    argv.push_back(base + path);
    auto out = run(argv, std::chrono::seconds(30));
    if (!out) return fail("curl did not run: " + out.error().message);
    if (!out->status.success()) return fail("curl " + out->status.describe() + ": " + out->standard_error);
    const std::string& raw = out->standard_output;
    const auto end = raw.find("\r\n\r\n");
    if (end == std::string::npos) return fail("no HTTP head in curl's output: " + raw.substr(0, 200));
    http_response r;
    r.body = raw.substr(end + 4);
    std::istringstream head(raw.substr(0, end));
    std::string line;
    std::getline(head, line);
    r.status = std::stoi(line.substr(line.find(' ') + 1, 3));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        add_header_line(r, line);
    }
    return r;
}

}  // namespace

std::optional<http_response> try_call(const std::string& base, const std::string& method, const std::string& path,
                                      const request_options& o) {
    auto r = exchange(base, method, path, o);
    if (!r) return std::nullopt;
    return std::move(*r);
}

http_response call(const std::string& base, const std::string& method, const std::string& path,
                   const request_options& o) {
    auto r = exchange(base, method, path, o);
    if (!r) throw std::runtime_error("no HTTP answer for " + method + " " + path + " (" + r.error() + ")");
    return std::move(*r);
}

namespace {

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* to) {
    static_cast<http_response*>(to)->body.append(data, size * n);
    return size * n;
}

std::size_t add_header(char* data, std::size_t size, std::size_t n, void* to) {
    std::string line(data, size * n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    auto& r = *static_cast<http_response*>(to);
    if (line.starts_with("HTTP/")) {
        r.headers.clear();  // a new answer's head (after a 100 Continue, say)
    } else {
        add_header_line(r, line);
    }
    return size * n;
}

}  // namespace

http_session::http_session(std::string base) : base_(std::move(base)) {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (curl_ == nullptr) throw std::runtime_error("curl_easy_init failed");
}

http_session::~http_session() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

http_response http_session::call(const std::string& method, const std::string& path, const request_options& o) {
    auto* curl = static_cast<CURL*>(curl_);
    http_response r;
    curl_slist* headers = curl_slist_append(nullptr, "Expect:");
    if (!o.token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + o.token).c_str());
    for (const auto& h : o.headers) headers = curl_slist_append(headers, h.c_str());
    if (o.has_body) headers = curl_slist_append(headers, ("Content-Type: " + o.content_type).c_str());
    const std::string url = base_ + path;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20'000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, add_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
    if (o.has_body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, o.body.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(o.body.size()));
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);  // no body from an earlier request on this handle
    }
    const CURLcode done = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    if (done != CURLE_OK) {
        throw std::runtime_error("no HTTP answer for " + method + " " + path + " (" + curl_easy_strerror(done) + ")");
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    r.status = static_cast<int>(status);
    return r;
}

request_options with_body(std::string body, std::string token) {
    request_options o;
    o.body = std::move(body);
    o.has_body = true;
    o.token = std::move(token);
    return o;
}

request_options bearer(std::string token) {
    request_options o;
    o.token = std::move(token);
    return o;
}

void expect_problem(const http_response& r, int status, const std::string& type_suffix) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json");
    auto p = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_FALSE(p.is_discarded()) << r.body;
    EXPECT_EQ(p.value("status", 0), status);
    EXPECT_EQ(p.value("type", ""), "https://shopstream.dev/problems/" + type_suffix) << r.body;
}

}  // namespace shopstream::testing
