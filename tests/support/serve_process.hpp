#pragma once
// `shopstream serve` as a child of an end-to-end test: started on a free port, ready once
// it printed its `listening on http://HOST:PORT` line (serve.hpp), its log in a file.

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/process.hpp"

namespace shopstream::testing {

struct serve_process {
    process child;
    std::string base;  // http://127.0.0.1:PORT
};

// Runs `binary serve --listen 127.0.0.1:0 ARGS...` with `environment` added and stderr
// into `log`; throws std::runtime_error (with the log) when it does not come up within
// `timeout`.
[[nodiscard]] serve_process spawn_serve(const std::string& binary, const std::vector<std::string>& args,
                                        const std::filesystem::path& log,
                                        std::vector<std::pair<std::string, std::string>> environment = {},
                                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Sends SIGTERM and waits (bounded) for the exit; the status, or why there is none.
[[nodiscard]] result<exit_status, std::string> stop_serve(serve_process& server,
                                                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// `binary embedded-cluster --partitions N`: a Kafka-protocol cluster of its own process,
// so it outlives any one `serve` (whose embedded cluster dies with it).
class cluster_process {
public:
    cluster_process(process child, std::string bootstrap) : child_(std::move(child)), bootstrap_(std::move(bootstrap)) {}
    cluster_process(const cluster_process&) = delete;
    cluster_process& operator=(const cluster_process&) = delete;
    cluster_process(cluster_process&& other) noexcept
        : child_(std::move(other.child_)), bootstrap_(std::move(other.bootstrap_)), owned_(std::exchange(other.owned_, false)) {}
    cluster_process& operator=(cluster_process&&) = delete;
    ~cluster_process();  // SIGTERM, then a bounded wait

    [[nodiscard]] const std::string& bootstrap() const noexcept { return bootstrap_; }  // for --brokers

private:
    process child_;
    std::string bootstrap_;
    bool owned_ = true;
};

// Throws std::runtime_error when the cluster does not print its address within `timeout`.
[[nodiscard]] cluster_process spawn_cluster(const std::string& binary, int partitions,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A whole (log) file; empty when it cannot be read.
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

}  // namespace shopstream::testing
