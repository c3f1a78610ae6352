// shopstream_test_projector: one projector process of the crash tests of the projection
// runtime (tests/projections/projector_crash_test.cpp). It runs projections::runtime over
// one read model - the orders model in the PostgreSQL of --postgres, or the reviews model
// in the LMDB environment of --lmdb - against the Kafka-protocol cluster of --brokers,
// every partition of the model's contexts (all_partitions mode), until the model has
// applied every partition to its end; then it prints CAUGHT_UP and exits 0.
//
// The crash seam is here, not in the runtime: the model is wrapped in a read_model that
// forwards every call and, when the environment says so, SIGKILLs its own process at
// the Nth write_batch:
//   SHOPSTREAM_PROJECTOR_CRASH=before_write:N   the runtime handed batch N to the model
//                                               (records consumed, judged, heads folded)
//                                               and the model has not committed it;
//   SHOPSTREAM_PROJECTOR_CRASH=after_write:N    the model's commit of batch N returned;
//                                               nothing else happened after it (the
//                                               runtime's positions, DLQ copies of
//                                               refusals, waiters).
// A crash inside the model's own transaction needs no seam: the test blocks the orders
// model's checkpoint upsert with a table lock and kills the process from outside.
//
// stdout, one line each, flushed at once (so a SIGKILL loses none already printed):
//   READY                                      the runtime started
//   HANDED <n> <ctx>:<partition>:<next> ...    batch n is about to be handed to the model
//   APPLIED <ctx> <command_id>                 one per commit of batch n the model stored
//   COMMITTED <n> <ctx>:<partition>:<next> ... batch n is committed (after its APPLIED lines)
//   CRASH <before_write|after_write> <n>       the next thing is SIGKILL
//   CAUGHT_UP                                  every partition read to its end
// Exit code 0 after CAUGHT_UP, 1 when the model or runtime cannot start or the runtime
// stops with a failure (said on stderr), 2 on usage.
//
// Single-threaded apart from the runtime's thread, which is the only one calling the
// wrapped model; main() only polls the runtime.
#include <signal.h>
#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "eventstore/context.hpp"
#include "projections/orders_model.hpp"
#include "projections/reviews_model.hpp"
#include "projections/runtime.hpp"

namespace {

using namespace shopstream;
using namespace std::chrono_literals;
namespace es = eventstore;

struct arguments {
    std::string brokers;
    std::string model;  // orders | reviews
    std::string postgres;
    std::string lmdb;
    std::size_t max_batch = 5'000;
};

enum class crash_point : std::uint8_t { none, before_write, after_write };

struct crash_plan {
    crash_point at = crash_point::none;
    int batch = 0;
};

bool parse(int argc, char** argv, arguments& a) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const std::string_view value = argv[i + 1];
        if (flag == "--brokers") {
            a.brokers = value;
        } else if (flag == "--model") {
            a.model = value;
        } else if (flag == "--postgres") {
            a.postgres = value;
        } else if (flag == "--lmdb") {
            a.lmdb = value;
        } else if (flag == "--max-batch") {
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), a.max_batch);
            if (ec != std::errc{} || end != value.data() + value.size() || a.max_batch == 0) return false;
        } else {
            return false;
        }
    }
    if (argc % 2 != 1 || a.brokers.empty()) return false;
    return (a.model == "orders" && !a.postgres.empty()) || (a.model == "reviews" && !a.lmdb.empty());
}

// "before_write:3"; an unset variable is no crash.
bool parse_crash(const char* text, crash_plan& plan) {
    if (text == nullptr || *text == '\0') return true;
    const std::string_view s(text);
    const auto colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view point = s.substr(0, colon);
    const std::string_view n = s.substr(colon + 1);
    if (point == "before_write") {
        plan.at = crash_point::before_write;
    } else if (point == "after_write") {
        plan.at = crash_point::after_write;
    } else {
        return false;
    }
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), plan.batch);
    return ec == std::errc{} && end == n.data() + n.size() && plan.batch >= 1;
}

// One whole line at a time: the main thread (READY, CAUGHT_UP) and the runtime's thread
// (HANDED, APPLIED, COMMITTED) both speak, and two separate stdio calls let another
// thread's line fall between a line and its newline ("READYHANDED 1 ...", seen in CI).
void say(const std::string& line) {
    const std::string whole = line + '\n';
    ::flockfile(stdout);
    std::fwrite(whole.data(), 1, whole.size(), stdout);
    std::fflush(stdout);
    ::funlockfile(stdout);
}

std::string checkpoints_of(const projections::batch& b) {
    std::string out;
    for (const auto& cp : b.checkpoints) {
        out += " " + std::string(es::name_of(cp.ctx)) + ":" + std::to_string(cp.partition.value()) + ":" +
               std::to_string(cp.next_offset.value());
    }
    return out;
}

[[noreturn]] void crash(std::string_view point, int batch) {
    say("CRASH " + std::string(point) + " " + std::to_string(batch));
    ::kill(::getpid(), SIGKILL);
    std::abort();  // not reached
}

// Forwards everything to the real model; prints what each batch did and dies where planned.
class crashing_model final : public projections::read_model {
public:
    crashing_model(projections::read_model& inner, crash_plan plan) : inner_(inner), plan_(plan) {}

    std::string_view name() const noexcept override { return inner_.name(); }
    std::span<const es::context> contexts() const noexcept override { return inner_.contexts(); }
    std::string location() const override { return inner_.location(); }
    result<std::optional<std::string>, es::error> load_log_identity() override { return inner_.load_log_identity(); }
    result<std::vector<projections::checkpoint>, es::error> load_checkpoints() override {
        return inner_.load_checkpoints();
    }
    result<std::vector<std::optional<es::aggregate_head>>, es::error> load_heads(
        es::context ctx, std::span<const std::string> ids) override {
        return inner_.load_heads(ctx, ids);
    }

    result<std::vector<projections::refusal>, es::error> write_batch(const projections::batch& b) override {
        const int n = ++batches_;
        say("HANDED " + std::to_string(n) + checkpoints_of(b));
        if (plan_.at == crash_point::before_write && plan_.batch == n) crash("before_write", n);
        auto written = inner_.write_batch(b);
        if (!written) return written;
        std::set<std::pair<es::context, es::position>> refused;
        for (const auto& r : *written) refused.insert({r.ctx, r.at});
        for (const auto& c : b.commits) {
            if (!refused.contains({c.ctx, c.at})) say("APPLIED " + std::string(es::name_of(c.ctx)) + " " + c.command_id);
        }
        say("COMMITTED " + std::to_string(n) + checkpoints_of(b));
        if (plan_.at == crash_point::after_write && plan_.batch == n) crash("after_write", n);
        return written;
    }

private:
    projections::read_model& inner_;
    crash_plan plan_;
    int batches_ = 0;
};

bool read_to_the_end(const projections::runtime& r) {
    for (;;) {
        if (auto failed = r.failure()) {
            std::fprintf(stderr, "projection failed: %s\n", failed->c_str());
            return false;
        }
        if (r.caught_up()) {
            bool at_end = true;
            for (const auto& p : r.progress()) at_end = at_end && p.log_end.value() >= 0 && p.applied >= p.log_end;
            if (at_end) return true;
        }
        std::this_thread::sleep_for(10ms);  // the runtime has no "caught up" callback
    }
}

}  // namespace

int main(int argc, char** argv) {
    arguments args;
    crash_plan plan;
    if (!parse(argc, argv, args) || !parse_crash(std::getenv("SHOPSTREAM_PROJECTOR_CRASH"), plan)) {
        std::fprintf(stderr,
                     "usage: shopstream_test_projector --brokers B (--model orders --postgres URL | --model reviews "
                     "--lmdb DIR) [--max-batch N]\n  env SHOPSTREAM_PROJECTOR_CRASH=before_write:N|after_write:N\n");
        return 2;
    }
    spdlog::set_default_logger(spdlog::stderr_color_mt("projector"));  // stdout carries the protocol

    std::unique_ptr<projections::read_model> model;
    if (args.model == "orders") {
        auto url = postgres::database_url::parse(args.postgres);
        if (!url) {
            std::fprintf(stderr, "--postgres: %s\n", url.error().message.c_str());
            return 2;
        }
        auto opened = projections::orders_model::open(*url);
        if (!opened) {
            std::fprintf(stderr, "orders model: %s\n", opened.error().message.c_str());
            return 1;
        }
        model = std::move(*opened);
    } else {
        auto opened = projections::reviews_model::open(args.lmdb, {});
        if (!opened) {
            std::fprintf(stderr, "reviews model: %s\n", opened.error().message.c_str());
            return 1;
        }
        model = std::move(*opened);
    }
    crashing_model wrapped(*model, plan);

    projections::runtime_options options;
    options.bootstrap_servers = args.brokers;
    options.max_batch = args.max_batch;
    options.start_timeout = 10s;
    auto r = projections::runtime::start(options, wrapped);
    if (!r) {
        std::fprintf(stderr, "runtime: %s\n", r.error().message.c_str());
        return 1;
    }
    say("READY");
    if (!read_to_the_end(**r)) return 1;
    say("CAUGHT_UP");
    r->reset();
    return 0;
}
