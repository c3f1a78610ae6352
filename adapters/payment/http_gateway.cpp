#include "adapters/payment/http_gateway.hpp"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace shopstream::adapters::payment {
namespace {

using json = nlohmann::json;

struct curl_cleanup {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct slist_cleanup {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

CURL* thread_handle() {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    thread_local std::unique_ptr<CURL, curl_cleanup> handle(curl_easy_init());
    if (handle) curl_easy_reset(handle.get());
    return handle.get();
}

std::size_t collect(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

std::string escape_segment(CURL* curl, const std::string& text) {
    std::unique_ptr<char, decltype(&curl_free)> escaped(
        curl_easy_escape(curl, text.c_str(), static_cast<int>(text.size())), &curl_free);
    return escaped ? std::string(escaped.get()) : std::string();
}

std::string body_of(const gateway_request& r) {
    json body{{"amount", {{"amount", r.amount.amount}, {"currency", std::string(r.amount.currency.code())}}}};
    if (!r.method_token.empty()) body["token"] = r.method_token;
    if (!r.refund_id.empty()) body["refundId"] = r.refund_id;
    return body.dump();
}

std::string field(const json& j, const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

outcome from_response(long status, const std::string& text) {
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    const std::string what = j.is_object() ? field(j, "outcome") : std::string();
    if (status == 200 && what == "approved") return approved(field(j, "reference"));
    if (status == 402 && what == "declined") return declined(field(j, "reason"));
    if (status == 429 || status == 503) {
        return transient_failure("the payment provider answered HTTP " + std::to_string(status));
    }
    if (status >= 400 && status < 500 && status != 402) {
        return declined("the payment provider refused the request (HTTP " + std::to_string(status) + ")");
    }
    return unknown_outcome("the payment provider answered HTTP " + std::to_string(status) +
                           " without a readable outcome");
}

}  // namespace

http_gateway::http_gateway(std::string base_url) : base_url_(std::move(base_url)) {
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

outcome http_gateway::call(operation op, const gateway_request& request, std::chrono::milliseconds timeout) {
    CURL* curl = thread_handle();
    if (curl == nullptr) return transient_failure("libcurl could not create a handle");
    const std::string url = base_url_ + "/v1/payments/" + escape_segment(curl, request.payment.value()) + "/" +
                            std::string(operation_name(op));
    const std::string body = body_of(request);
    std::unique_ptr<curl_slist, slist_cleanup> headers(curl_slist_append(nullptr, "Content-Type: application/json"));
    headers.reset(curl_slist_append(headers.release(), ("Idempotency-Key: " + request.idempotency_key).c_str()));
    headers.reset(curl_slist_append(headers.release(), "Expect:"));  // no 100-continue round trip
    std::string response;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(timeout.count(), 1)));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // several threads: no SIGALRM for timeouts
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");

    const CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        return from_response(status, response);
    }
    const std::string why = std::string(operation_name(op)) + " at " + base_url_ + ": " + curl_easy_strerror(rc);
    switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
            return transient_failure(why);
        case CURLE_OPERATION_TIMEDOUT: {
            // Timed out before the request was on its way (still connecting): nothing sent.
            curl_off_t pretransfer = 0;
            curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
            if (pretransfer == 0) return transient_failure(why);
            return unknown_outcome(why);
        }
        default:
            return unknown_outcome(why);
    }
}

}  // namespace shopstream::adapters::payment
