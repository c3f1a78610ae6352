#include "tests/support/serve_process.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace shopstream::testing {

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
    if (!child) throw std::runtime_error(child.error());
    auto line = child->read_line(timeout);
    if (!line) throw std::runtime_error("serve did not start: " + line.error() + "\n" + read_file(log));
    const std::string prefix = "listening on ";
    if (line->rfind(prefix, 0) != 0) throw std::runtime_error("unexpected first line: " + *line);
    return {std::move(*child), line->substr(prefix.size())};
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

}  // namespace shopstream::testing
