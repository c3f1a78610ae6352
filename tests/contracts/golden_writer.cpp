// Writes the golden records of schema version 1 (golden_cases.cpp) as
// <dir>/<name>.hex, encoded by today's codecs and eventstore::encode_commit. A file that
// exists is never overwritten, since it is frozen: only a new case's file is written.
// Usage (tests/contracts/README.md):
//   build/debug/tests/contracts_golden_writer tests/contracts/golden/v1
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "eventstore/commit.hpp"
#include "tests/contracts/golden_cases.hpp"

namespace {

using namespace shopstream;

eventstore::encoded_event encode(const domain::order::event& e) {
    return eventstore::order_codec::encode(e);
}
eventstore::encoded_event encode(const domain::payment::event& e) {
    return eventstore::payment_codec::encode(e);
}
eventstore::encoded_event encode(const domain::review::event& e) {
    return eventstore::review_codec::encode(e);
}

std::vector<std::uint8_t> encode(const contracts::golden_case& c) {
    eventstore::commit commit{c.aggregate_id, c.expected_version, c.command_id, {}};
    std::visit(
        [&](const auto& events) {
            for (const auto& e : events) commit.events.push_back(encode(e));
        },
        c.events);
    return eventstore::encode_commit(commit);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <golden dir, e.g. tests/contracts/golden/v1>\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    int written = 0;
    for (const auto& c : contracts::golden_cases_v1()) {
        const auto path = dir / (c.name + ".hex");
        if (std::filesystem::exists(path)) {
            std::printf("kept    %s (frozen)\n", path.c_str());
            continue;
        }
        std::ofstream out(path, std::ios::binary);
        out << contracts::to_hex_file(c, encode(c));
        if (!out.flush()) {
            std::fprintf(stderr, "cannot write %s\n", path.c_str());
            return 1;
        }
        std::printf("written %s\n", path.c_str());
        ++written;
    }
    std::printf("%d file(s) written\n", written);
    return 0;
}
