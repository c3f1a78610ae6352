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

// A whole (log) file; empty when it cannot be read.
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

}  // namespace shopstream::testing
