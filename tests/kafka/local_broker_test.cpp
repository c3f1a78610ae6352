// adapters/kafka/local_broker: one real Apache Kafka node (a JVM) started, answering,
// stopped, paused and restarted on its log dir, and the ways a start fails.

#include "adapters/kafka/local_broker.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "eventstore/topics.hpp"
#include "tests/support/kafka_fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;
namespace ak = adapters::kafka;

std::string whole_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Alive: exists and is not a zombie waiting to be reaped.
bool process_exists(pid_t pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto state = line.find(") ");
    return state != std::string::npos && line.size() > state + 2 && line[state + 2] != 'Z';
}

constexpr const char* child_dir_variable = "SHOPSTREAM_TEST_BROKER_CHILD_DIR";

// Whether any process's command line names `file` (a JVM started on that server.properties).
bool some_process_names(const std::filesystem::path& file) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream in(entry.path() / "cmdline", std::ios::binary);
        std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (cmdline.find(file.string()) != std::string::npos && cmdline.find("kafka.Kafka") != std::string::npos) {
            return true;
        }
    }
    return false;
}

// With serve's options (local_run_options): its settings, and the class archive the first
// clean stop writes and the next start maps.
TEST(local_broker, formats_once_serves_records_and_keeps_them_across_a_restart) {
    temp_dir dir("kafka-node");
    ak::local_broker_options options = ak::local_run_options(dir.path() / "node");
    ASSERT_FALSE(options.class_archive.empty());
    auto node = ak::local_broker::start(options);
    ASSERT_TRUE(node.has_value()) << node.error();
    EXPECT_TRUE((*node)->formatted());
    EXPECT_TRUE((*node)->running());
    EXPECT_TRUE(std::filesystem::exists((*node)->log_directory() / "meta.properties"));
    // The broker's own log reaches the log4j2 backend (not slf4j's no-op).
    EXPECT_NE(whole_file((*node)->log_file()).find("Kafka Server started"), std::string::npos)
        << whole_file((*node)->log_file()).substr(0, 2000);
    const std::string properties = whole_file((*node)->directory() / "server.properties");
    EXPECT_NE(properties.find("listeners=PLAINTEXT://127.0.0.1:" + std::to_string((*node)->port())), std::string::npos);
    EXPECT_NE(properties.find("offsets.topic.replication.factor=1"), std::string::npos);
    EXPECT_NE(properties.find("\nlog.flush.interval.messages=1\n"), std::string::npos) << "the only copy is fsynced";

    // Topics and records through the product's own code and the test clients.
    ASSERT_TRUE(eventstore::ensure_topics((*node)->bootstrap(), 2, 30s).has_value());
    auto producer = test_producer::create(producer_config((*node)->bootstrap()));
    ASSERT_TRUE(producer.has_value()) << producer.error();
    ASSERT_TRUE(producer->produce("orders.events", {"order-1", "kept", {{"h", "v"}}}).has_value());
    ASSERT_TRUE(producer->flush(30s).has_value());

    const pid_t first = (*node)->pid();
    const auto stopped = (*node)->stop();
    EXPECT_FALSE((*node)->running());
    EXPECT_FALSE(process_exists(first)) << "the JVM was reaped";
    EXPECT_FALSE(stopped.signaled && stopped.signal == SIGKILL) << "SIGTERM sufficed: " << stopped.describe();
    node->reset();
    std::error_code ec;
    EXPECT_GT(std::filesystem::file_size(options.class_archive, ec), 1'000'000U) << "no class archive at the stop";

    // A new launcher on the same directory: no second format, the record still there.
    options.voters = {};
    auto again = ak::local_broker::start(options);
    ASSERT_TRUE(again.has_value()) << again.error();
    EXPECT_FALSE((*again)->formatted());
    EXPECT_NE(whole_file("/proc/" + std::to_string((*again)->pid()) + "/cmdline")
                  .find("-XX:SharedArchiveFile=" + options.class_archive.string()),
              std::string::npos)
        << "the second start does not map the archive";
    auto records = consume_all((*again)->bootstrap(), "orders.events", 60s);
    ASSERT_TRUE(records.has_value()) << records.error();
    ASSERT_EQ(records->size(), 1U);
    EXPECT_EQ(records->front().value, "kept");

    // kill() is a crash; restart() brings it back on the same log dir and port.
    const int port = (*again)->port();
    const auto killed = (*again)->kill();
    EXPECT_TRUE(killed.signaled && killed.signal == SIGKILL) << killed.describe();
    auto restarted = (*again)->restart();
    ASSERT_TRUE(restarted.has_value()) << restarted.error();
    EXPECT_EQ((*again)->port(), port);
    records = consume_all((*again)->bootstrap(), "orders.events", 60s);
    ASSERT_TRUE(records.has_value()) << records.error();
    EXPECT_EQ(records->size(), 1U);

    // Paused, it answers nothing; resumed, it answers again.
    ASSERT_TRUE((*again)->pause().has_value());
    EXPECT_TRUE((*again)->paused());
    EXPECT_FALSE(node_answers((*again)->bootstrap(), 2s)) << "a SIGSTOPped broker answered";
    ASSERT_TRUE((*again)->resume().has_value());
    EXPECT_TRUE((*again)->wait_ready(60s).has_value());
    // stop() of a paused node still ends it (SIGCONT before SIGTERM).
    ASSERT_TRUE((*again)->pause().has_value());
    const auto ended = (*again)->stop();
    EXPECT_FALSE(ended.signaled && ended.signal == SIGKILL) << ended.describe();
    EXPECT_FALSE((*again)->pause().has_value()) << "pausing a stopped node";
}

TEST(local_broker, without_jars_it_says_how_to_install_them) {
    temp_dir dir("kafka-node");
    ak::local_broker_options options;
    options.directory = dir.path() / "node";
    options.libs = dir.path() / "no-libs";
    auto node = ak::local_broker::start(options);
    ASSERT_FALSE(node.has_value());
    EXPECT_EQ(node.error().code, ak::errc::not_installed);
    EXPECT_NE(node.error().message.find("scripts/install-deps.sh"), std::string::npos) << node.error();
    EXPECT_FALSE(std::filesystem::exists(options.directory / "server.properties")) << "nothing written";
}

TEST(local_broker, a_node_outside_its_voters_is_refused) {
    temp_dir dir("kafka-node");
    auto voters = ak::free_node_addresses(3);
    ASSERT_TRUE(voters.has_value());
    ak::local_broker_options options;
    options.directory = dir.path() / "node";
    options.node_id = 4;
    options.voters = *voters;
    auto node = ak::local_broker::start(options);
    ASSERT_FALSE(node.has_value());
    EXPECT_EQ(node.error().code, ak::errc::bad_options);
    EXPECT_NE(node.error().message.find("node 4 is not among the voters 1@127.0.0.1:"), std::string::npos)
        << node.error();
}

TEST(local_broker, free_node_addresses_are_distinct) {
    auto voters = ak::free_node_addresses(3);
    ASSERT_TRUE(voters.has_value());
    std::set<int> ports;
    for (const auto& v : *voters) {
        ports.insert(v.broker_port);
        ports.insert(v.controller_port);
    }
    EXPECT_EQ(ports.size(), 6U);
    EXPECT_EQ(voters->back().node_id, 3);
    EXPECT_FALSE(ak::free_node_addresses(0).has_value());
}

TEST(local_broker, a_node_that_cannot_listen_fails_its_start_and_leaves_no_jvm) {
    temp_dir dir("kafka-node");
    auto voters = ak::free_node_addresses(1);
    ASSERT_TRUE(voters.has_value());
    // Someone else holds the broker port.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(voters->front().broker_port));
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);  // NOLINT
    ASSERT_EQ(::listen(fd, 1), 0);

    ak::local_broker_options options;
    options.directory = dir.path() / "node";
    options.voters = *voters;
    options.ready_timeout = 90s;
    auto node = ak::local_broker::start(options);
    ::close(fd);
    ASSERT_FALSE(node.has_value()) << "started on a taken port";
    EXPECT_TRUE(node.error().code == ak::errc::start_failed || node.error().code == ak::errc::not_ready)
        << node.error();
    EXPECT_NE(node.error().message.find("server.log"), std::string::npos) << node.error();
    EXPECT_FALSE(some_process_names(options.directory / "server.properties")) << "its JVM was left running";
}

// The parent of the next test: this binary again, starting a node and then waiting to be
// SIGKILLed. Skipped when run on its own.
TEST(local_broker_child, starts_a_node_and_waits_to_be_killed) {
    const char* dir = std::getenv(child_dir_variable);
    if (dir == nullptr) GTEST_SKIP() << "runs only as the child of the_jvm_dies_with_its_sigkilled_parent";
    ak::local_broker_options options;
    options.directory = std::filesystem::path(dir) / "node";
    options.wait_until_ready = false;
    auto node = ak::local_broker::start(options);
    ASSERT_TRUE(node.has_value()) << node.error();
    std::ofstream(std::filesystem::path(dir) / "jvm.pid") << (*node)->pid() << "\n";
    std::this_thread::sleep_for(300s);  // killed long before
}

TEST(local_broker, the_jvm_dies_with_its_sigkilled_parent) {
    temp_dir dir("kafka-node");
    spawn_options options({"/proc/self/exe", "--gtest_filter=local_broker_child.*"});
    options.environment = {{child_dir_variable, dir.path().string()}};
    options.standard_output = output::to_file(dir.path() / "child.log");
    options.standard_error = output::to_file(dir.path() / "child.log");
    auto child = process::spawn(std::move(options));
    ASSERT_TRUE(child.has_value()) << child.error();
    pid_t jvm = -1;
    ASSERT_TRUE(eventually(
        [&] {
            std::ifstream in(dir.path() / "jvm.pid");
            return static_cast<bool>(in >> jvm);
        },
        60s))
        << whole_file(dir.path() / "child.log");
    ASSERT_TRUE(process_exists(jvm));
    child->kill();
    EXPECT_TRUE(eventually([&] { return !process_exists(jvm); }, 20s)) << "JVM " << jvm << " outlived its parent";
}

}  // namespace
}  // namespace shopstream::testing
