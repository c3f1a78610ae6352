// Event-store throughput harness (issue #3): commands/s and commits/s through
// decide → produce → verdict, latency to verdict, single-aggregate reads and state-store
// rebuilds - each quoted against a ceiling measured in the same run on the same cluster
// (raw librdkafka idempotent produce of records of the same size).
//
//   build/release/benchmarks/eventstore_bench [--commands N] [--partitions P] [--inflight C]
//       [--brokers HOST:PORT,... [--jvm-pids PID,...]]
//
// Without --brokers everything runs in this process: the embedded Kafka-protocol cluster
// (librdkafka's mock, 3 brokers), as `shopstream serve --kafka mock`. With --brokers, a
// real cluster someone started (benchmarks/kafka.sh starts the local single-node broker and
// the three-broker test cluster): its topics must not exist yet or be empty (the phases
// count records from offset 0), they are created as serve creates them plus `bench.raw`
// with the same guarantees. --jvm-pids: the broker JVMs, whose resident memory (VmRSS)
// and CPU share (utime+stime over the phase, in cores) are printed after each phase. The
// two-writer phase re-executes this binary as writer processes.

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands/command_handler.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/tail.hpp"
#include "eventstore/aggregate_reader.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/kafka_config.hpp"
#include "eventstore/topics.hpp"

namespace {

using namespace shopstream;
using clock_type = std::chrono::steady_clock;
namespace review = domain::review;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct options {
    int commands = 200'000;
    int partitions = 32;
    int inflight = 4'096;
    int linger_ms = 5;
    int max_batch = 10'000;
    std::string writer_brokers;  // set: run as a writer process
    std::string writer_prefix;
    std::string data_root = "/tmp";
    std::string brokers;  // a real cluster; empty: the embedded mock
    std::vector<int> jvm_pids;
};

// The broker JVMs' resident memory and CPU over a phase, from /proc (Linux).
class jvm_meter {
public:
    explicit jvm_meter(std::vector<int> pids) : pids_(std::move(pids)) { restart(); }

    void restart() {
        ticks_ = total_ticks();
        t0_ = clock_type::now();
    }
    // "JVM: RSS 412 MiB (3 JVMs), CPU 0.83 cores" since restart(); empty without pids.
    [[nodiscard]] std::string report() const {
        if (pids_.empty()) return {};
        const double seconds = seconds_since(t0_);
        const double cores = static_cast<double>(total_ticks() - ticks_) /
                             static_cast<double>(::sysconf(_SC_CLK_TCK)) / std::max(seconds, 1e-9);
        char line[160];
        std::snprintf(line, sizeof line, "          JVM: RSS %.0f MiB (%zu JVM%s), CPU %.2f cores over %.1f s\n",
                      static_cast<double>(rss_kib()) / 1024.0, pids_.size(), pids_.size() == 1 ? "" : "s", cores,
                      seconds);
        return line;
    }

private:
    // utime + stime (fields 14 and 15 of /proc/PID/stat, after the parenthesised name).
    [[nodiscard]] long long total_ticks() const {
        long long sum = 0;
        for (const int pid : pids_) {
            std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
            std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            const auto close = text.rfind(')');
            if (close == std::string::npos) continue;
            std::istringstream fields(text.substr(close + 2));
            std::string field;
            long long utime = 0;
            long long stime = 0;
            for (int i = 3; i <= 15 && fields >> field; ++i) {
                if (i == 14) utime = std::stoll(field);
                if (i == 15) stime = std::stoll(field);
            }
            sum += utime + stime;
        }
        return sum;
    }
    [[nodiscard]] long long rss_kib() const {
        long long sum = 0;
        for (const int pid : pids_) {
            std::ifstream in("/proc/" + std::to_string(pid) + "/status");
            for (std::string line; std::getline(in, line);) {
                if (line.rfind("VmRSS:", 0) == 0) sum += std::stoll(line.substr(6));
            }
        }
        return sum;
    }

    std::vector<int> pids_;
    long long ticks_ = 0;
    clock_type::time_point t0_;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

review::submit_review submit(const std::string& prefix, int i) {
    return review::submit_review{"sku-" + std::to_string(i % 997), domain::customer_id(prefix + "c" + std::to_string(i)),
                                 1 + i % 5, "Solid product", "Does what it says on the box.",
                                 {prefix + "c" + std::to_string(i), domain::role::customer}, 1'700'000'000'000};
}

// One process's event store: state store, tail, producer.
struct store_process {
    std::filesystem::path dir;
    std::unique_ptr<eventstore::state_store> store;
    std::unique_ptr<eventstore::tail> tail;
    std::unique_ptr<eventstore::producer> producer;

    store_process(const std::string& brokers, std::filesystem::path d, int linger_ms, int max_batch = 10'000,
                  bool mock = true)
        : dir(std::move(d)) {
        std::filesystem::remove_all(dir);
        auto s = eventstore::state_store::open(dir, {std::uint64_t{8} << 30, eventstore::state_store::durability::relaxed});
        if (!s) throw std::runtime_error(s.error().message);
        store = std::move(*s);
        eventstore::tail_options to;
        to.bootstrap_servers = brokers;
        to.max_batch = static_cast<std::size_t>(max_batch);
        if (mock) to.fetch_wait = eventstore::embedded_fetch_wait;  // as `serve` on the embedded cluster
        auto t = eventstore::tail::start(to, *store);
        if (!t) throw std::runtime_error(t.error().message);
        tail = std::move(*t);
        eventstore::producer_options po;
        po.bootstrap_servers = brokers;
        po.linger = std::chrono::milliseconds(linger_ms);
        po.queue_messages = 1'000'000;
        auto p = eventstore::producer::start(po);
        if (!p) throw std::runtime_error(p.error().message);
        producer = std::move(*p);
    }
    ~store_process() {
        producer.reset();
        tail.reset();
        store.reset();
        std::filesystem::remove_all(dir);
    }
    commands::store_runtime runtime() { return {*store, *producer, *tail}; }
};

struct run_result {
    double seconds = 0;
    int ok = 0;
    int failed = 0;
    std::vector<double> latency_ms;
};

// Sends `count` submit_review commands with at most `inflight` outstanding; with a
// `rate` (commands/s) > 0 paces them instead.
run_result drive(commands::review_handler& handler, const std::string& prefix, int first, int count, int inflight,
                 double rate = 0) {
    run_result r;
    r.latency_ms.resize(static_cast<std::size_t>(count));
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    int done = 0;
    const auto t0 = clock_type::now();
    for (int i = 0; i < count; ++i) {
        if (rate > 0) {
            const auto due = t0 + std::chrono::duration<double>(i / rate);
            std::this_thread::sleep_until(std::chrono::time_point_cast<clock_type::duration>(due));
        }
        {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return outstanding < inflight; });
            ++outstanding;
        }
        const auto sent = clock_type::now();
        commands::command_options opts;
        opts.timeout = std::chrono::seconds(30);
        handler.handle(submit(prefix, first + i), {prefix + "cmd-" + std::to_string(first + i), "", "", ""}, opts,
                       [&, i, sent](commands::command_result res) {
                           const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - sent).count();
                           std::lock_guard lock(mu);
                           r.latency_ms[static_cast<std::size_t>(i)] = ms;
                           if (res) {
                               ++r.ok;
                           } else {
                               if (r.failed++ < 3) spdlog::error("command failed: {}", res.error().message);
                           }
                           --outstanding;
                           ++done;
                           cv.notify_all();
                       });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == count; });
    r.seconds = seconds_since(t0);
    return r;
}

// bench.raw on a real cluster, with the event topics' guarantees (replication min(3,
// brokers), min.insync.replicas, no retention limit), through CreateTopics.
void create_raw_topic(const std::string& brokers, int partitions) {
    auto conf = eventstore::kafka::make_conf({{"bootstrap.servers", brokers}, {"log_level", "3"}});
    auto rk = eventstore::kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk->get(), 0, nullptr, &md, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("no metadata from " + brokers);
    }
    const int broker_count = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    std::array<char, 256> error{};
    rd_kafka_NewTopic_t* topic =
        rd_kafka_NewTopic_new("bench.raw", partitions, std::min(3, broker_count), error.data(), error.size());
    if (topic == nullptr) throw std::runtime_error(error.data());
    for (const auto& [key, value] : eventstore::guaranteed_topic_settings(broker_count)) {
        rd_kafka_NewTopic_set_config(topic, key.c_str(), value.c_str());
    }
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk->get());
    rd_kafka_CreateTopics(rk->get(), &topic, 1, nullptr, queue);
    rd_kafka_NewTopic_destroy(topic);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 60'000);
    std::string problem = ev == nullptr ? "CreateTopics timed out" : "";
    if (ev != nullptr) {
        std::size_t n = 0;
        const auto** results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            problem = rd_kafka_event_error_string(ev);
        } else if (n == 1 && rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
                   rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            problem = rd_kafka_topic_result_error_string(results[0]);
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(queue);
    if (!problem.empty()) throw std::runtime_error("create bench.raw: " + problem);
}

// The ceiling: raw idempotent produce of `count` records of `size` bytes, distinct keys.
double raw_produce(const std::string& brokers, int count, std::size_t size, int partitions) {
    auto conf = eventstore::kafka::make_conf({{"bootstrap.servers", brokers},
                                              {"enable.idempotence", "true"},
                                              {"acks", "all"},
                                              {"linger.ms", "5"},
                                              {"socket.nagle.disable", "true"},
                                              {"queue.buffering.max.messages", "1000000"},
                                              {"log_level", "3"}});
    auto rk = eventstore::kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    rd_kafka_t* p = rk->get();
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_metadata(p, 1, nullptr, &md, 5000);  // warm up: all topics' metadata
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    std::string value(size, 'x');
    const auto t0 = clock_type::now();
    for (int i = 0; i < count; ++i) {
        const std::string key = "raw-" + std::to_string(i);
        std::array<rd_kafka_vu_t, 5> vus{};
        vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
        vus[0].u.cstr = "bench.raw";
        vus[1].vtype = RD_KAFKA_VTYPE_KEY;
        vus[1].u.mem = {const_cast<char*>(key.data()), key.size()};
        vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
        vus[2].u.mem = {value.data(), value.size()};
        vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vus[3].u.i = RD_KAFKA_MSG_F_COPY;
        vus[4].vtype = RD_KAFKA_VTYPE_PARTITION;
        vus[4].u.i32 = eventstore::murmur2_partition(key, partitions).value();
        for (;;) {
            rd_kafka_error_t* e = rd_kafka_produceva(p, vus.data(), vus.size());
            if (e == nullptr) break;
            const bool full = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
            rd_kafka_error_destroy(e);
            if (!full) throw std::runtime_error("raw produce failed");
            rd_kafka_poll(p, 1);
        }
        rd_kafka_poll(p, 0);
    }
    rd_kafka_flush(p, 60'000);
    return count / seconds_since(t0);
}

// The rebuild's ceiling: a bare consumer with the tail's settings reading every record of
// reviews.events from offset 0 to the end, doing nothing with them.
double raw_consume(const std::string& brokers, int partitions, std::int64_t* records) {
    auto conf = eventstore::kafka::make_conf({{"bootstrap.servers", brokers},
                                              {"group.id", "bench-raw-consume"},
                                              {"enable.auto.commit", "false"},
                                              {"enable.partition.eof", "true"},
                                              {"fetch.wait.max.ms", "5"},
                                              {"socket.nagle.disable", "true"},
                                              {"queued.min.messages", "100000"},
                                              {"log_level", "3"}});
    auto rk = eventstore::kafka::make_client(RD_KAFKA_CONSUMER, std::move(*conf));
    rd_kafka_t* c = rk->get();
    rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(assignment, "reviews.events", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    const auto t0 = clock_type::now();
    rd_kafka_assign(c, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    int at_end = 0;
    *records = 0;
    while (at_end < partitions) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
        if (m == nullptr) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            ++at_end;
        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ++*records;
        }
        rd_kafka_message_destroy(m);
    }
    const double rate = static_cast<double>(*records) / seconds_since(t0);
    rd_kafka_consumer_close(c);
    return rate;
}

// Far beyond any rebuild of a benchmark's log (a few hundred thousand records at
// ~100 k/s), so it only ends a run that is stuck.
constexpr auto catch_up_limit = std::chrono::minutes(10);

void wait_caught_up(eventstore::tail& t) {
    auto caught_up = t.await_log_end(eventstore::context::reviews, eventstore::clock::now() + catch_up_limit);
    if (!caught_up) throw std::runtime_error("catching up with reviews.events: " + caught_up.error().message);
}

// A writer process of the two-writer phase: catches up with the log first, then sends
// its share; prints "<ok> <failed> <seconds>" for the parent.
int run_writer(const options& o) {
    store_process proc(o.writer_brokers, std::filesystem::path(o.data_root) / ("shopstream-bench-" + o.writer_prefix),
                       o.linger_ms, 10'000, o.brokers.empty());
    wait_caught_up(*proc.tail);
    commands::review_handler handler(proc.runtime());
    auto r = drive(handler, o.writer_prefix, 0, o.commands, o.inflight);
    std::printf("%d %d %.6f\n", r.ok, r.failed, r.seconds);
    return r.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const std::string v = argv[i + 1];
        if (a == "--commands") o.commands = std::stoi(v);
        else if (a == "--partitions") o.partitions = std::stoi(v);
        else if (a == "--inflight") o.inflight = std::stoi(v);
        else if (a == "--linger") o.linger_ms = std::stoi(v);
        else if (a == "--max-batch") o.max_batch = std::stoi(v);
        else if (a == "--writer-brokers") o.writer_brokers = v;
        else if (a == "--writer-prefix") o.writer_prefix = v;
        else if (a == "--brokers") o.brokers = v;
        else if (a == "--jvm-pids") {
            std::istringstream pids(v);
            for (std::string pid; std::getline(pids, pid, ',');) o.jvm_pids.push_back(std::stoi(pid));
        } else {
            std::fprintf(stderr,
                         "usage: %s [--commands N] [--partitions P] [--inflight C] [--linger MS] [--max-batch B] "
                         "[--brokers HOST:PORT,... [--jvm-pids PID,...]]\n",
                         argv[0]);
            return 2;
        }
    }
    spdlog::set_level(spdlog::level::warn);
    if (!o.writer_brokers.empty()) return run_writer(o);

    const bool mock = o.brokers.empty();
    std::optional<eventstore::embedded_cluster> cluster;
    std::string brokers = o.brokers;
    if (mock) {
        auto started = eventstore::embedded_cluster::start(3);
        if (!started) throw std::runtime_error(started.error().message);
        cluster.emplace(std::move(*started));
        if (auto r = eventstore::create_topics(*cluster, o.partitions); !r) throw std::runtime_error(r.error().message);
        if (auto r = cluster->create_topic("bench.raw", o.partitions, 3); !r) throw std::runtime_error(r.error().message);
        brokers = cluster->bootstrap_servers();
    } else {
        if (auto r = eventstore::ensure_topics(brokers, o.partitions, std::chrono::seconds(60)); !r) {
            throw std::runtime_error(r.error().message);
        }
        create_raw_topic(brokers, o.partitions);
    }
    jvm_meter jvm(o.jvm_pids);

    eventstore::commit sample{"sku-1~c1", 0, "cmd-1", {eventstore::review_aggregate::encode_event(
                                                           review::review_submitted{review::review_id_for("sku-1", domain::customer_id("c1")),
                                                                                    "sku-1", domain::customer_id("c1"), 5,
                                                                                    "Solid product", "Does what it says on the box.", 1})}};
    const std::size_t record_size = eventstore::encode_commit(sample).size();

    std::printf("eventstore_bench: %d commands, %d partitions, %d in flight, linger %d ms, commit record %zu bytes, "
                "%u cores\n",
                o.commands, o.partitions, o.inflight, o.linger_ms, record_size, std::thread::hardware_concurrency());

    std::printf("backend   %s\n", mock ? "embedded mock cluster (librdkafka 2.0.2, 3 brokers, in this process)"
                                         : ("Kafka at " + brokers).c_str());
    const double ceiling = raw_produce(brokers, o.commands, record_size, o.partitions);
    std::printf("ceiling   raw idempotent produce            %10.0f records/s\n%s", ceiling, jvm.report().c_str());

    double one_writer = 0;
    double rebuild_ceiling = 0;
    {
        store_process proc(brokers, std::filesystem::path(o.data_root) / "shopstream-bench-main", o.linger_ms,
                           o.max_batch, mock);
        commands::review_handler handler(proc.runtime());
        jvm.restart();
        auto r = drive(handler, "a", 0, o.commands, o.inflight);
        one_writer = r.ok / r.seconds;
        std::printf("1 writer  pipelined commands → verdict    %10.0f commits/s  (%.2f of ceiling)  failed %d\n",
                    one_writer, one_writer / ceiling, r.failed);
        std::printf("          latency at full load            p50 %.1f ms  p99 %.1f ms\n%s", percentile(r.latency_ms, 0.5),
                    percentile(r.latency_ms, 0.99), jvm.report().c_str());

        const int paced = std::min(o.commands, static_cast<int>(one_writer));  // ~2 s at half load
        jvm.restart();
        auto half = drive(handler, "h", 0, paced, o.inflight, one_writer / 2);
        std::printf("          latency at half load (%.0f/s)   p50 %.1f ms  p99 %.1f ms  failed %d\n%s", one_writer / 2,
                    percentile(half.latency_ms, 0.5), percentile(half.latency_ms, 0.99), half.failed,
                    jvm.report().c_str());

        // A 1 000-event aggregate: one review and 999 helpful votes.
        const auto id = review::review_id_for("sku-big", domain::customer_id("author"));
        (void)handler.handle_sync(review::submit_review{"sku-big", domain::customer_id("author"), 5, "Big", "",
                                                  {"author", domain::role::customer}, 1},
                            {"big-submit", "", "", ""});
        // One aggregate's commands run one after another in a process (its lane), so the
        // 999 votes take 999 round trips: give them the time.
        std::atomic<int> votes{0};
        commands::command_options patient;
        patient.timeout = std::chrono::seconds(120);
        for (int i = 0; i < 999; ++i) {
            handler.handle(review::vote_helpful{id, {"voter-" + std::to_string(i), domain::role::customer}, 2},
                           {"big-vote-" + std::to_string(i), "", "", ""}, patient,
                           [&](commands::command_result) { ++votes; });
        }
        while (votes.load() < 999) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        // Served from the state store (decision 2); from the log only to verify.
        std::vector<double> reads;
        std::size_t events = 0;
        for (int i = 0; i < 200; ++i) {
            const auto t0 = clock_type::now();
            auto got = eventstore::read_history(*proc.store, eventstore::context::reviews, id.value());
            reads.push_back(seconds_since(t0) * 1000);
            events = got ? got->size() : 0;
        }
        std::printf("read      one aggregate of %zu events       p50 %.3f ms  p99 %.3f ms  (state store)\n", events,
                    percentile(reads, 0.5), percentile(reads, 0.99));
        auto reader = eventstore::aggregate_reader::open(brokers);
        std::vector<double> log_reads;
        for (int i = 0; i < 10; ++i) {
            const auto t0 = clock_type::now();
            auto got = (*reader)->read_from_log(*proc.store, eventstore::context::reviews, id.value());
            log_reads.push_back(seconds_since(t0) * 1000);
            if (!got || got->size() != events) std::printf("read from the log failed or differs\n");
        }
        std::printf("read      the same from the log              p50 %.2f ms  max %.2f ms  (--verify path)\n",
                    percentile(log_reads, 0.5), percentile(log_reads, 1.0));
    }

    {
        std::int64_t records = 0;
        jvm.restart();
        const double rate = raw_consume(brokers, o.partitions, &records);
        std::printf("ceiling   raw consume from offset 0         %10.0f records/s  (%lld records)\n%s", rate,
                    static_cast<long long>(records), jvm.report().c_str());
        rebuild_ceiling = rate;
    }
    {
        // Rebuild from offset 0 into an empty store.
        const auto t0 = clock_type::now();
        jvm.restart();
        store_process fresh(brokers, std::filesystem::path(o.data_root) / "shopstream-bench-rebuild", o.linger_ms,
                            10'000, mock);
        wait_caught_up(*fresh.tail);
        const double s = seconds_since(t0);
        const auto stats = fresh.tail->stats();
        const double rate = static_cast<double>(stats.records) / s;
        std::printf("rebuild   state store from offset 0       %10.0f commits/s  (%.2f of raw consume; %lld records in "
                    "%.2f s)\n%s",
                    rate, rate / rebuild_ceiling, static_cast<long long>(stats.records), s, jvm.report().c_str());
    }

    {
        // Two writer processes, each with its own store, each sending half.
        const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
        std::vector<std::pair<pid_t, FILE*>> children;
        jvm.restart();
        for (const char* prefix : {"w1-", "w2-"}) {
            const std::string cmd = self + " --writer-brokers " + brokers + (mock ? "" : " --brokers " + brokers) +
                                    " --writer-prefix " + prefix +
                                    " --commands " + std::to_string(o.commands / 2) + " --inflight " +
                                    std::to_string(o.inflight) + " --linger " + std::to_string(o.linger_ms);
            children.emplace_back(0, popen(cmd.c_str(), "r"));
        }
        int ok = 0;
        int failed = 0;
        double slowest = 0;
        for (auto& [pid, f] : children) {
            int n_ok = 0;
            int n_failed = 0;
            double secs = 0;
            if (std::fscanf(f, "%d %d %lf", &n_ok, &n_failed, &secs) == 3) {
                ok += n_ok;
                failed += n_failed;
                slowest = std::max(slowest, secs);
            } else {
                ++failed;
            }
            pclose(f);
        }
        // Each writer times its own stream after catching up; the pair's rate is the total
        // over the slower one's time (they run concurrently).
        const double rate = slowest > 0 ? ok / slowest : 0;
        std::printf("2 writers separate processes, each its own store %6.0f commits/s  (%.2f of ceiling)  failed %d\n%s",
                    rate, rate / ceiling, failed, jvm.report().c_str());
    }
    return 0;
}
