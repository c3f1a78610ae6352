// shopstream_test_writer: one writer process of the multi-process tests of the event store
// (tests/integration/multi_writer_test.cpp). It runs what a `serve` process runs for
// writes - its own LMDB state store, tail and producer - and fires `--votes` helpful votes
// at `--reviews` shared reviews through commands::review_handler, at most `--concurrency`
// at a time. The reviews (sku-<k> by author-<k>, identical content in every writer) are
// submitted first when this writer's store does not know them yet.
//
// Everything is a pure function of the arguments (the seed picks each vote's review; time
// stamps are fixed), so a writer restarted with the same arguments sends the same commands
// with the same ids. One line before each command and one per answer on stdout, flushed
// at once; <us> is std::chrono::steady_clock (CLOCK_MONOTONIC, the same in every process
// of the machine) in microseconds, taken before the send and after the answer, so a
// history checker can order commands across processes:
//   SENT <command_id> <aggregate_id> <us>
//   ACK <command_id> <aggregate_id> <version> <partition>:<offset> <us>   applied or duplicate
//   NOOP <command_id> <aggregate_id> <version> <us>                       unchanged (a repeat)
//   ERR <command_id> code <command_errc>: <message>
//   DONE                                                                  all answered
// Exit code 0 after DONE, 1 when the store, tail or producer cannot start, 2 on usage,
// 3 when the handler left a command unanswered past its deadline.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "commands/command_handler.hpp"
#include "eventstore/position.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"

namespace {

using namespace shopstream;
using namespace std::chrono_literals;
namespace review = domain::review;

struct arguments {
    std::string brokers;
    std::string data_dir;
    std::string name;
    int reviews = 3;
    int votes = 100;
    int concurrency = 8;
    std::uint64_t seed = 1;
};

constexpr domain::timestamp_ms epoch = 1'700'000'000'000;

template <class Int>
bool parse_number(std::string_view text, Int& out, Int min) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && out >= min;
}

bool parse(int argc, char** argv, arguments& a) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const std::string_view value = argv[i + 1];
        bool ok = true;
        if (flag == "--brokers") {
            a.brokers = value;
        } else if (flag == "--data-dir") {
            a.data_dir = value;
        } else if (flag == "--name") {
            a.name = value;
        } else if (flag == "--reviews") {
            ok = parse_number(value, a.reviews, 1);
        } else if (flag == "--votes") {
            ok = parse_number(value, a.votes, 0);
        } else if (flag == "--concurrency") {
            ok = parse_number(value, a.concurrency, 1);
        } else if (flag == "--seed") {
            ok = parse_number(value, a.seed, std::uint64_t{0});
        } else {
            ok = false;
        }
        if (!ok) {
            std::fprintf(stderr, "bad argument: %s %s\n", argv[i], argv[i + 1]);
            return false;
        }
    }
    return argc % 2 == 1 && !a.brokers.empty() && !a.data_dir.empty() && !a.name.empty();
}

// Answers arrive on the tail's and the producer's threads: one line at a time.
std::mutex out_mu;
void say(const std::string& line) {
    std::lock_guard lock(out_mu);
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

// Keeps at most `limit` commands in flight.
class in_flight {
public:
    explicit in_flight(int limit) : limit_(limit) {}
    void acquire() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return count_ < limit_; });
        ++count_;
    }
    void release() {
        std::lock_guard lock(mu_);
        --count_;
        cv_.notify_all();
    }
    bool drain(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return count_ == 0; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int limit_;
    int count_ = 0;
};

std::string now_us() {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

void report(const std::string& command_id, const commands::command_result& r) {
    if (!r) {
        std::string message = r.error().message.empty() ? "rejected: " + r.error().rejection.reason : r.error().message;
        for (char& ch : message) {
            if (ch == '\n') ch = ' ';
        }
        say("ERR " + command_id + " code " + std::to_string(static_cast<int>(r.error().code)) + ": " + message);
        return;
    }
    if (r->kind == commands::outcome_kind::unchanged) {
        say("NOOP " + command_id + " " + r->aggregate_id + " " + std::to_string(r->version) + " " + now_us());
        return;
    }
    say("ACK " + command_id + " " + r->aggregate_id + " " + std::to_string(r->version) + " " +
        (r->at ? eventstore::to_string(*r->at) : std::string("-")) + " " + now_us());
}

// The handler promises an answer by each command's deadline; should it break that, stop
// without tearing down under callbacks still pending.
[[noreturn]] void give_up(std::string_view what) {
    say("ERR - " + std::string(what) + " were not all answered in time");
    std::_Exit(3);
}

}  // namespace

int main(int argc, char** argv) {
    arguments args;
    if (!parse(argc, argv, args)) {
        std::fprintf(stderr,
                     "usage: shopstream_test_writer --brokers B --data-dir D --name N [--reviews K] "
                     "[--votes N] [--concurrency C] [--seed S]\n");
        return 2;
    }
    spdlog::set_default_logger(spdlog::stderr_color_mt("writer"));  // stdout carries the answers

    auto store = eventstore::state_store::open(
        args.data_dir, {std::uint64_t{1} << 30, eventstore::state_store::durability::relaxed});
    if (!store) {
        std::fprintf(stderr, "state store: %s\n", store.error().message.c_str());
        return 1;
    }
    eventstore::tail_options tail_options;
    tail_options.bootstrap_servers = args.brokers;
    tail_options.contexts = {eventstore::context::reviews};
    auto tail = eventstore::tail::start(tail_options, **store);
    if (!tail) {
        std::fprintf(stderr, "tail: %s\n", tail.error().message.c_str());
        return 1;
    }
    eventstore::producer_options producer_options;
    producer_options.bootstrap_servers = args.brokers;
    producer_options.contexts = {eventstore::context::reviews};
    auto producer = eventstore::producer::start(producer_options);
    if (!producer) {
        std::fprintf(stderr, "producer: %s\n", producer.error().message.c_str());
        return 1;
    }

    {
        const commands::review_handler handler({**store, **producer, **tail});
        commands::command_options options;
        options.timeout = 30s;
        options.max_attempts = 100;  // writers racing on a few aggregates lose often; never run out
        in_flight slots(args.concurrency);
        auto send = [&](review::command command, std::string command_id) {
            slots.acquire();
            say("SENT " + command_id + " " + eventstore::review_aggregate::aggregate_id(command) + " " + now_us());
            handler.handle(std::move(command), {command_id, args.name, "", ""}, options,
                           [&slots, command_id](commands::command_result r) {
                               report(command_id, r);
                               slots.release();
                           });
        };

        std::vector<domain::review_id> reviews;
        for (int k = 0; k < args.reviews; ++k) {
            const std::string sku = "sku-" + std::to_string(k);
            const domain::customer_id author("author-" + std::to_string(k));
            reviews.push_back(review::review_id_for(sku, author));
            auto known = handler.current(reviews.back().value());
            if (known && known->has_value()) continue;
            send(review::submit_review{sku, author, 4, "Review " + std::to_string(k), "Same words from every writer",
                                       {author.value(), domain::role::customer}, epoch + k},
                 args.name + "-submit-" + std::to_string(k));
        }
        if (!slots.drain(options.timeout + 10s)) give_up("submissions");

        std::mt19937_64 random(args.seed);
        std::uniform_int_distribution<int> pick(0, args.reviews - 1);
        for (int i = 0; i < args.votes; ++i) {
            const domain::review_id& target = reviews[static_cast<std::size_t>(pick(random))];
            send(review::vote_helpful{target, {args.name + "-v" + std::to_string(i), domain::role::customer},
                                      epoch + 1000 + i},
                 args.name + "-vote-" + std::to_string(i));
        }
        if (!slots.drain(options.timeout + 10s)) give_up("votes");
    }
    if (auto flushed = (*producer)->flush(10s); !flushed) {
        std::fprintf(stderr, "flush: %s\n", flushed.error().message.c_str());
    }
    say("DONE");
    producer->reset();
    tail->reset();
    store->reset();
    return 0;
}
