// shopstream_history_check: the history checker (history_checker.hpp) over a recording
// saved with history_recorder::save, against the log of a running cluster and, optionally,
// state stores (directories of stopped processes' stores).
//
//   shopstream_history_check --brokers B --history FILE [--context orders|payments|reviews]...
//                            [--store DIR]...
//
// Without --context, every context's topic is read. Prints the summary and each
// violation; exit 0 when the history holds, 1 when it does not, 2 on usage, 3 when it
// cannot be checked (the cluster, the file or a store cannot be read).
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/history_checker.hpp"

namespace {

using namespace shopstream;
namespace es = eventstore;

int usage() {
    std::fputs("usage: shopstream_history_check --brokers B --history FILE [--context C]... [--store DIR]...\n",
               stderr);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string brokers;
    std::string file;
    std::vector<es::context> contexts;
    std::vector<std::string> store_dirs;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) return usage();
        const std::string_view flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--brokers") {
            brokers = value;
        } else if (flag == "--history") {
            file = value;
        } else if (flag == "--store") {
            store_dirs.push_back(value);
        } else if (flag == "--context") {
            bool known = false;
            for (const es::context c : es::all_contexts) {
                if (es::name_of(c) == value) {
                    contexts.push_back(c);
                    known = true;
                }
            }
            if (!known) {
                std::fprintf(stderr, "unknown context: %s\n", value.c_str());
                return 2;
            }
        } else {
            return usage();
        }
    }
    if (brokers.empty() || file.empty()) return usage();
    if (contexts.empty()) contexts.assign(es::all_contexts.begin(), es::all_contexts.end());

    auto attempts = shopstream::testing::history_recorder::load(file);
    if (!attempts) {
        std::fprintf(stderr, "%s\n", attempts.error().c_str());
        return 3;
    }
    shopstream::testing::history_input input;
    input.attempts = std::move(*attempts);
    std::vector<std::unique_ptr<es::state_store>> stores;
    for (const auto& dir : store_dirs) {
        auto s = es::state_store::open(dir);
        if (!s) {
            std::fprintf(stderr, "store %s: %s\n", dir.c_str(), s.error().message.c_str());
            return 3;
        }
        stores.push_back(std::move(*s));
        input.stores.push_back(stores.back().get());
    }
    auto report = shopstream::testing::check_history_on_cluster(brokers, contexts, std::move(input));
    if (!report) {
        std::fprintf(stderr, "%s\n", report.error().c_str());
        return 3;
    }
    std::printf("%s\n", report->describe().c_str());
    return report->ok() ? 0 : 1;
}
