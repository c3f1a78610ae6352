#include "eventstore/embedded_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <system_error>
#include <thread>
#include <utility>

#include "eventstore/kafka_config.hpp"

namespace shopstream::eventstore {
namespace {

result<void, error> set(rd_kafka_conf_t* conf, const char* key, const char* value) {
    std::array<char, 512> reason{};
    if (rd_kafka_conf_set(conf, key, value, reason.data(), reason.size()) != RD_KAFKA_CONF_OK) {
        return fail(eventstore::error{errc::invalid_setting, std::string("embedded cluster: ") + key + "=" + value + ": " + reason.data()});
    }
    return {};
}

// "127.0.0.1:1234,127.0.0.1:5678" -> {1234, 5678}
std::vector<std::uint16_t> ports_of(std::string_view bootstrap) {
    std::vector<std::uint16_t> ports;
    while (!bootstrap.empty()) {
        const auto comma = bootstrap.find(',');
        const auto address = bootstrap.substr(0, comma);
        const auto colon = address.rfind(':');
        if (colon != std::string_view::npos) {
            ports.push_back(static_cast<std::uint16_t>(std::stoul(std::string(address.substr(colon + 1)))));
        }
        bootstrap = comma == std::string_view::npos ? std::string_view() : bootstrap.substr(comma + 1);
    }
    return ports;
}

// Opens and drops a TCP connection to 127.0.0.1:port. Non-blocking, so a full backlog
// (a broker set down does not accept) cannot hold us up.
void poke(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    (void)::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);  // NOLINT: sockets API
    ::close(fd);
}

}  // namespace

template <class Call>
auto embedded_cluster::served_promptly(const std::vector<std::uint16_t>& ports, Call call) {
    // librdkafka 2.0.2's mock thread sleeps in poll() for up to 1 s and can miss the
    // wake-up of a request to it (measured: with no client traffic, most destroys and
    // some topic creations took ~1 s). Any socket event wakes it too, so if the answer
    // is not there within a few milliseconds, connections to the brokers do.
    std::jthread waker;
    try {
        waker = std::jthread([ports](std::stop_token stop) {
            std::mutex mutex;
            std::condition_variable_any stopped;
            std::unique_lock lock(mutex);
            while (!stopped.wait_for(lock, stop, std::chrono::milliseconds(5), [] { return false; }) &&
                   !stop.stop_requested()) {
                for (const auto port : ports) poke(port);
            }
        });
    } catch (const std::system_error&) {
        // No thread to spare: the call is still answered, at worst a second later.
    }
    return call();  // then ~jthread stops and joins the waker
}

result<embedded_cluster, error> embedded_cluster::start(int brokers) {
    if (brokers < 1) {
        return fail(error{errc::invalid_argument, "embedded cluster: needs at least one broker, asked for " +
                                                      std::to_string(brokers)});
    }
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, &kafka::log_to_spdlog);  // the mock's lines too
    for (const auto& [key, value] : {
             // Errors only: the owner never connects anywhere, so anything below would be
             // noise such as "no bootstrap.servers configured".
             std::pair{"log_level", "3"},
             // Inherited by the mock's server-side sockets (see the header).
             std::pair{"socket.nagle.disable", "true"},
             std::pair{"client.id", "shopstream-embedded-cluster"},
         }) {
        if (auto ok = set(conf, key, value); !ok) {
            rd_kafka_conf_destroy(conf);
            return fail(std::move(ok.error()));
        }
    }
    std::array<char, 512> reason{};
    // rd_kafka_new takes ownership of conf only when it succeeds.
    rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason.data(), reason.size());
    if (owner == nullptr) {
        rd_kafka_conf_destroy(conf);
        return fail(eventstore::error{errc::client_failed, std::string("embedded cluster: creating the owner handle: ") + reason.data()});
    }
    rd_kafka_mock_cluster_t* mock = rd_kafka_mock_cluster_new(owner, brokers);
    if (mock == nullptr) {
        rd_kafka_destroy(owner);
        return fail(eventstore::error{errc::client_failed, "embedded cluster: rd_kafka_mock_cluster_new failed (could not "
                                                           "listen on 127.0.0.1?)"});
    }
    return embedded_cluster(owner, mock, brokers);
}

embedded_cluster::embedded_cluster(rd_kafka_t* owner, rd_kafka_mock_cluster_t* mock, int brokers)
    : owner_(owner),
      mock_(mock),
      brokers_(brokers),
      bootstrap_(rd_kafka_mock_cluster_bootstraps(mock)),
      ports_(ports_of(bootstrap_)) {}

embedded_cluster::embedded_cluster(embedded_cluster&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      mock_(std::exchange(other.mock_, nullptr)),
      brokers_(std::exchange(other.brokers_, 0)),
      bootstrap_(std::move(other.bootstrap_)),
      ports_(std::move(other.ports_)) {
    other.bootstrap_.clear();
    other.ports_.clear();
}

embedded_cluster& embedded_cluster::operator=(embedded_cluster&& other) noexcept {
    if (this != &other) {
        destroy();
        owner_ = std::exchange(other.owner_, nullptr);
        mock_ = std::exchange(other.mock_, nullptr);
        brokers_ = std::exchange(other.brokers_, 0);
        bootstrap_ = std::move(other.bootstrap_);
        ports_ = std::move(other.ports_);
        other.bootstrap_.clear();
        other.ports_.clear();
    }
    return *this;
}

embedded_cluster::~embedded_cluster() { destroy(); }

void embedded_cluster::destroy() noexcept {
    // The cluster runs on the owner's resources: it goes first.
    if (mock_ != nullptr) {
        rd_kafka_mock_cluster_t* mock = std::exchange(mock_, nullptr);
        served_promptly(ports_, [mock] {
            rd_kafka_mock_cluster_destroy(mock);
            return 0;
        });
    }
    if (owner_ != nullptr) {
        rd_kafka_destroy(std::exchange(owner_, nullptr));
    }
}

result<void, error> embedded_cluster::create_topic(std::string_view name, int partitions,
                                                         int replication_factor) {
    const std::string topic(name);
    if (mock_ == nullptr) {
        return fail(error{errc::invalid_argument, "create topic " + topic + ": the embedded cluster was moved from"});
    }
    if (topic.empty() || partitions < 1 || replication_factor < 1 ||
        replication_factor > brokers_) {
        return fail(error{errc::invalid_argument, "create topic '" + topic + "': needs a name, partitions >= 1 and 1 <= " +
                                                      "replication factor <= " + std::to_string(brokers_) + " brokers (got " +
                                                      std::to_string(partitions) + " partitions, replication factor " +
                                                      std::to_string(replication_factor) + ")"});
    }
    const rd_kafka_resp_err_t err = request([&topic, partitions, replication_factor](rd_kafka_mock_cluster_t* mock) {
        return rd_kafka_mock_topic_create(mock, topic.c_str(), partitions, replication_factor);
    });
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return fail(error{err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS ? errc::topic_exists : errc::client_failed,
                          "create topic " + topic + ": " + rd_kafka_err2str(err)});
    }
    return {};
}

rd_kafka_resp_err_t embedded_cluster::request(
    const std::function<rd_kafka_resp_err_t(rd_kafka_mock_cluster_t*)>& call) {
    if (mock_ == nullptr) return RD_KAFKA_RESP_ERR__STATE;
    return served_promptly(ports_, [this, &call] { return call(mock_); });
}

}  // namespace shopstream::eventstore
