#include "adapters/payment/http_gateway.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace shopstream::adapters::payment {
namespace {

using json = nlohmann::json;

struct slist_cleanup {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

void global_init() {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
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

// What the provider can have seen of a transfer that ended with `rc`.
outcome classify(CURL* curl, CURLcode rc, operation op, const std::string& base_url, const std::string& response) {
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        return from_response(status, response);
    }
    const std::string why = std::string(operation_name(op)) + " at " + base_url + ": " + curl_easy_strerror(rc);
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

// One call: queued until a slot is free, then an easy handle in the multi handle.
struct transfer {
    operation op;
    gateway_request request;
    std::chrono::steady_clock::time_point deadline;
    outcome_callback done;
    CURL* easy = nullptr;
    std::string url;
    std::string body;
    std::string response;
    std::unique_ptr<curl_slist, slist_cleanup> headers;

    ~transfer() {
        if (easy != nullptr) curl_easy_cleanup(easy);
    }
};

}  // namespace

struct http_gateway::impl {
    std::string base_url;
    std::size_t max_transfers;
    CURLM* multi = nullptr;
    std::mutex mu;
    std::deque<std::unique_ptr<transfer>> waiting;  // under mu
    bool stopping = false;                          // under mu
    std::unordered_map<CURL*, std::unique_ptr<transfer>> running;  // the gateway's thread only
    std::thread thread;

    impl(std::string url, std::size_t max) : base_url(std::move(url)), max_transfers(std::max<std::size_t>(max, 1)) {
        multi = curl_multi_init();
        if (multi != nullptr) {
            curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(max_transfers));
            thread = std::thread([this] { run(); });
        }
    }

    ~impl() {
        {
            std::lock_guard lock(mu);
            stopping = true;
        }
        if (multi != nullptr) curl_multi_wakeup(multi);
        if (thread.joinable()) thread.join();
        if (multi != nullptr) curl_multi_cleanup(multi);
    }

    [[nodiscard]] outcome expired(const transfer& t) const {
        return transient_failure(std::string(operation_name(t.op)) + " at " + base_url + ": not sent, still queued behind " +
                                 std::to_string(max_transfers) + " transfers when its timeout passed");
    }

    // On the gateway's thread: onto the wire, or finished when it can no longer be sent.
    void begin(std::unique_ptr<transfer> t) {
        // Rounded up: a transfer never ends before the deadline its caller was given.
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(t->deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return t->done(expired(*t));
        t->easy = curl_easy_init();
        if (t->easy == nullptr) return t->done(transient_failure("libcurl could not create a handle"));
        CURL* curl = t->easy;
        t->url = base_url + "/v1/payments/" + escape_segment(curl, t->request.payment.value()) + "/" +
                 std::string(operation_name(t->op));
        t->body = body_of(t->request);
        t->headers.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
        t->headers.reset(curl_slist_append(t->headers.release(), ("Idempotency-Key: " + t->request.idempotency_key).c_str()));
        t->headers.reset(curl_slist_append(t->headers.release(), "Expect:"));  // no 100-continue round trip
        curl_easy_setopt(curl, CURLOPT_URL, t->url.c_str());
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, t->body.c_str());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body.size()));
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, t->headers.get());
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t->response);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<std::int64_t>(left.count(), 1)));
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        if (curl_multi_add_handle(multi, curl) != CURLM_OK) {
            return t->done(transient_failure("libcurl could not start the transfer"));
        }
        running.emplace(curl, std::move(t));
    }

    void finish_done() {
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
            if (m->msg != CURLMSG_DONE) continue;
            CURL* curl = m->easy_handle;
            const CURLcode rc = m->data.result;
            const auto it = running.find(curl);
            if (it == running.end()) continue;
            std::unique_ptr<transfer> t = std::move(it->second);
            running.erase(it);
            outcome o = classify(curl, rc, t->op, base_url, t->response);
            curl_multi_remove_handle(multi, curl);
            t->done(std::move(o));
        }
    }

    void run() {
        for (;;) {
            std::deque<std::unique_ptr<transfer>> starting;
            std::vector<std::unique_ptr<transfer>> too_late;
            {
                std::lock_guard lock(mu);
                if (stopping) break;
                while (!waiting.empty() && running.size() + starting.size() < max_transfers) {
                    starting.push_back(std::move(waiting.front()));
                    waiting.pop_front();
                }
                // A queued call whose timeout passed is answered then, not when a slot frees.
                const auto now = std::chrono::steady_clock::now();
                for (auto it = waiting.begin(); it != waiting.end();) {
                    if ((*it)->deadline > now) {
                        ++it;
                        continue;
                    }
                    too_late.push_back(std::move(*it));
                    it = waiting.erase(it);
                }
            }
            for (auto& t : too_late) t->done(expired(*t));
            for (auto& t : starting) begin(std::move(t));
            int still_running = 0;
            curl_multi_perform(multi, &still_running);
            finish_done();
            bool more = false;
            auto wait = std::chrono::milliseconds(1'000);
            {
                std::lock_guard lock(mu);
                more = stopping || (!waiting.empty() && running.size() < max_transfers);
                const auto now = std::chrono::steady_clock::now();
                for (const auto& t : waiting) {
                    wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(t->deadline - now));
                }
            }
            if (!more) curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::max<std::int64_t>(wait.count(), 0)), nullptr);
        }
        // Shutting down: every call still pending is answered before the thread ends.
        for (auto& [curl, t] : running) {
            curl_off_t pretransfer = 0;
            curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
            curl_multi_remove_handle(multi, curl);
            const std::string why = std::string(operation_name(t->op)) + " at " + base_url + ": the client shut down ";
            t->done(pretransfer == 0 ? transient_failure(why + "before the request was sent")
                                     : unknown_outcome(why + "while the request was out"));
        }
        running.clear();
        std::deque<std::unique_ptr<transfer>> never_sent;
        {
            std::lock_guard lock(mu);
            never_sent.swap(waiting);
        }
        for (auto& t : never_sent) {
            t->done(transient_failure(std::string(operation_name(t->op)) + " at " + base_url +
                                      ": the client shut down before the request was sent"));
        }
    }
};

http_gateway::http_gateway(std::string base_url, std::size_t max_transfers) : base_url_(std::move(base_url)) {
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
    global_init();
    impl_ = std::make_unique<impl>(base_url_, max_transfers);
}

http_gateway::~http_gateway() = default;

void http_gateway::start(operation op, gateway_request request, std::chrono::milliseconds timeout,
                         outcome_callback done) {
    if (impl_->multi == nullptr) return done(transient_failure("libcurl could not create a multi handle"));
    auto t = std::make_unique<transfer>();
    t->op = op;
    t->request = std::move(request);
    t->deadline = std::chrono::steady_clock::now() + timeout;
    t->done = std::move(done);
    {
        std::unique_lock lock(impl_->mu);
        if (impl_->stopping) {
            lock.unlock();
            return t->done(transient_failure("the payment client is shutting down"));
        }
        impl_->waiting.push_back(std::move(t));
    }
    curl_multi_wakeup(impl_->multi);
}

}  // namespace shopstream::adapters::payment
