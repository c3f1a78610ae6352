#pragma once
// What the fuzz targets share: an invariant check that crashes (libFuzzer records the
// input that broke it), and the input framings the targets and make_seeds agree on.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace shopstream::fuzz {

// Not assert(): it must hold in every build type, and say which invariant broke.
[[noreturn]] inline void broken(const char* invariant, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, invariant);
    std::abort();
}
#define FUZZ_CHECK(cond) \
    ((cond) ? void(0) : ::shopstream::fuzz::broken(#cond, __FILE__, __LINE__))

// The same bytes at an odd address: Kafka and LMDB hand out values at any alignment, and
// every decoder must give the same answer wherever its input sits.
class misaligned_copy {
public:
    explicit misaligned_copy(std::span<const std::uint8_t> bytes) : storage_(bytes.size() + 1) {
        if (!bytes.empty()) std::memcpy(storage_.data() + 1, bytes.data(), bytes.size());
    }
    [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
        return {storage_.data() + 1, storage_.size() - 1};
    }

private:
    std::vector<std::uint8_t> storage_;
};

// Two answers of a decoder (result<T, eventstore::codec_error>) are the same: equal
// values, or the same error code and detail.
template <class Result>
bool same_verdict(const Result& a, const Result& b) {
    if (a.has_value() != b.has_value()) return false;
    if (a.has_value()) return *a == *b;
    return a.error().code == b.error().code && a.error().detail == b.error().detail;
}

// An event-history input: records of (type: u16, schema version: u16, length: u16, all
// little-endian; then `length` payload bytes). A record whose length runs past the end
// takes the rest of the input as its payload.
struct event_record {
    std::uint16_t type = 0;
    std::uint16_t schema_version = 0;
    std::span<const std::uint8_t> payload;
};

class event_records {
public:
    explicit event_records(std::span<const std::uint8_t> input) : rest_(input) {}

    // False once fewer than a record header's bytes are left.
    bool next(event_record& out) {
        if (rest_.size() < 6) return false;
        const auto u16 = [&](std::size_t at) {
            return static_cast<std::uint16_t>(rest_[at] | (rest_[at + 1] << 8));
        };
        out.type = u16(0);
        out.schema_version = u16(2);
        const std::size_t length = u16(4);
        rest_ = rest_.subspan(6);
        const std::size_t taken = length < rest_.size() ? length : rest_.size();
        out.payload = rest_.first(taken);
        rest_ = rest_.subspan(taken);
        return true;
    }

    static void append(std::vector<std::uint8_t>& out, std::uint16_t type, std::uint16_t schema_version,
                       std::span<const std::uint8_t> payload) {
        const auto put16 = [&](std::size_t v) {
            out.push_back(static_cast<std::uint8_t>(v & 0xff));
            out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
        };
        put16(type);
        put16(schema_version);
        put16(payload.size());
        out.insert(out.end(), payload.begin(), payload.end());
    }

private:
    std::span<const std::uint8_t> rest_;
};

inline std::string_view as_text(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace shopstream::fuzz
