#include "tests/support/serve_process.hpp"

#include <stdlib.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shopstream::testing {
namespace {

// Every `serve` a test starts runs on librdkafka's mock cluster unless it says otherwise
// (--brokers, --kafka local) or the environment does (SHOPSTREAM_KAFKA=local): a JVM per
// test would cost 10-20 s each. Set before main(), inherited by every child process.
[[maybe_unused]] const bool mock_by_default = ::setenv("SHOPSTREAM_KAFKA", "mock", 0) == 0;

}  // namespace

serve_process spawn_serve(const std::string& binary, const std::vector<std::string>& args,
                          const std::filesystem::path& log,
                          std::vector<std::pair<std::string, std::string>> environment,
                          std::chrono::milliseconds timeout) {
    std::vector<std::string> argv = {binary, "serve", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    spawn_options options(std::move(argv));
    options.environment = std::move(environment);
    options.standard_error = output::to_file(log);
    auto child = process::spawn(std::move(options));
    if (!child) throw std::runtime_error(child.error().message);
    auto line = child->read_line(timeout);
    if (!line) throw std::runtime_error("serve did not start: " + line.error().message + "\n" + read_file(log));
    const std::string prefix = "listening on ";
    if (line->rfind(prefix, 0) != 0) throw std::runtime_error("unexpected first line: " + *line);
    return {std::move(*child), line->substr(prefix.size())};
}

result<exit_status, std::string> stop_serve(serve_process& server, std::chrono::milliseconds timeout) {
    if (auto sent = server.child.send_signal(SIGTERM); !sent) return fail("cannot signal serve: " + sent.error().message);
    auto status = server.child.wait_for(timeout);
    if (!status) return fail("serve did not stop within " + std::to_string(timeout.count()) + " ms of SIGTERM");
    return *status;
}

cluster_process::~cluster_process() {
    if (!owned_) return;
    (void)child_.send_signal(SIGTERM);
    (void)child_.wait_for(std::chrono::seconds(20));
}

cluster_process spawn_cluster(const std::string& binary, int partitions, std::chrono::milliseconds timeout) {
    spawn_options options({binary, "embedded-cluster", "--partitions", std::to_string(partitions)});
    options.standard_error = output::null();
    auto child = process::spawn(std::move(options));
    if (!child) throw std::runtime_error(child.error().message);
    auto line = child->read_line(timeout);
    if (!line) throw std::runtime_error("embedded-cluster did not start: " + line.error().message);
    return cluster_process(std::move(*child), std::move(*line));
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

}  // namespace shopstream::testing
