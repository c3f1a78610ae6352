// The commit record codec (eventstore/commit.hpp): one Kafka record per command. Every
// commit survives the wire unchanged, and no truncated, corrupt or foreign record is
// ever read - it is refused with a reason a reader can put on the dead-letter topic.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eventstore/commit.hpp"
#include "eventstore/commit_generated.h"

namespace shopstream::eventstore {
namespace {

namespace fbc = shopstream::fb::commit;

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t prefix_size = sizeof(flatbuffers::uoffset_t);

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

std::vector<std::uint8_t> pattern(std::size_t size) {
    std::vector<std::uint8_t> out(size);
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<std::uint8_t>((i * 131U + 7U) >> 1U);
    return out;
}

encoded_event event(std::uint16_t type, std::uint16_t version, std::vector<std::uint8_t> payload) {
    return encoded_event{type, version, std::move(payload)};
}

// A commit with several events of different types, versions and payload sizes.
commit several_events() {
    return commit{"ord-01HZX:9",
                  41,
                  "cmd-7f3a:place",
                  {event(1, 1, pattern(37)), event(7, 3, {}), event(65535, 65535, {0x00, 0xFF}),
                   event(0, 0, pattern(1))}};
}

// The commits every round-trip and refusal test runs over.
std::vector<commit> samples() {
    return {
        several_events(),
        commit{"a", 0, "c", {event(1, 1, {})}},  // a new aggregate, one empty payload
        commit{"rev:SKU-9.red~cust:42", 1, "cmd", {event(2, 1, pattern(1 << 20))}},  // 1 MiB
        commit{
            "agg", max_u64 - 3, "last-one", {event(1, 1, {1}), event(2, 1, {2}), event(3, 1, {3})}},
        commit{"Gr\xC3\xBCn \xE2\x82\xAC \xF0\x9D\x84\x9E",  // "Grün € 𝄞"
               9,
               "\xE6\x97\xA5\xE6\x9C\xAC-\xF0\x9F\x98\x80",  // "日本-😀"
               {event(4, 2, bytes_of("caf\xC3\xA9"))}},
        // Ids are opaque bytes to the commit: a NUL inside is kept, not cut off.
        commit{std::string("with\0nul", 8), 3, std::string("\0", 1), {event(5, 1, pattern(3))}},
    };
}

// Checks two commits are the same field by field, so that a failure names the field.
void expect_same(const commit& expected, const commit& actual) {
    EXPECT_EQ(actual.aggregate_id, expected.aggregate_id);
    EXPECT_EQ(actual.expected_version, expected.expected_version);
    EXPECT_EQ(actual.command_id, expected.command_id);
    ASSERT_EQ(actual.events.size(), expected.events.size());
    for (std::size_t i = 0; i < expected.events.size(); ++i) {
        EXPECT_EQ(actual.events[i].type, expected.events[i].type) << "event " << i;
        EXPECT_EQ(actual.events[i].schema_version, expected.events[i].schema_version)
            << "event " << i;
        EXPECT_TRUE(actual.events[i].payload == expected.events[i].payload) << "event " << i;
    }
}

codec_errc error_of(const result<commit, codec_error>& d) {
    return d ? codec_errc{255} : d.error().code;
}

void write_prefix(std::vector<std::uint8_t>& bytes, std::uint32_t prefix) {
    prefix = flatbuffers::EndianScalar(prefix);
    std::memcpy(bytes.data(), &prefix, prefix_size);
}

// A commit table written field by field, so tests can leave fields out or finish the
// buffer in ways encode_commit never does.
struct raw_commit {
    const char* aggregate_id = "agg";
    std::uint64_t expected_version = 0;
    const char* command_id = "cmd";
    int events = 1;  // -1: no events vector at all
    bool payload = true;
    const char* identifier = "SSCM";
    bool size_prefixed = true;
};

std::vector<std::uint8_t> build(const raw_commit& r) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fbc::event_entry>> entries;
    for (int i = 0; i < r.events; ++i) {
        flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> payload;
        if (r.payload) payload = b.CreateVector(pattern(5));
        entries.push_back(fbc::Createevent_entry(b, 1, 1, payload));
    }
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbc::event_entry>>> events;
    if (r.events >= 0) events = b.CreateVector(entries);
    flatbuffers::Offset<flatbuffers::String> aggregate_id;
    if (r.aggregate_id != nullptr) aggregate_id = b.CreateString(r.aggregate_id);
    flatbuffers::Offset<flatbuffers::String> command_id;
    if (r.command_id != nullptr) command_id = b.CreateString(r.command_id);
    const auto root = fbc::Createcommit(b, aggregate_id, r.expected_version, command_id, events);
    if (r.size_prefixed) {
        b.FinishSizePrefixed(root, r.identifier);
    } else {
        b.Finish(root, r.identifier);
    }
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

// ---- round trips ---------------------------------------------------------------------

TEST(commit_codec, every_sample_round_trips) {
    for (const commit& c : samples()) {
        const auto bytes = encode_commit(c);
        const auto back = decode_commit(bytes);
        ASSERT_TRUE(back.has_value()) << c.aggregate_id << ": " << back.error().detail;
        expect_same(c, *back);
        EXPECT_EQ(back->resulting_version(), c.resulting_version());
    }
}

TEST(commit_codec, encoding_is_deterministic) {
    for (const commit& c : samples()) EXPECT_TRUE(encode_commit(c) == encode_commit(c));
}

TEST(commit_codec, the_highest_version_a_commit_can_reach_round_trips) {
    // expected_version + events == UINT64_MAX exactly: the last version there is.
    for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{5}}) {
        commit c{"agg", max_u64 - n, "cmd", {}};
        for (std::size_t i = 0; i < n; ++i) c.events.push_back(event(1, 1, {}));
        const auto back = decode_commit(encode_commit(c));
        ASSERT_TRUE(back.has_value()) << back.error().detail;
        expect_same(c, *back);
        EXPECT_EQ(back->resulting_version(), max_u64);
    }
}

TEST(commit_codec, many_events_round_trip_in_order) {
    commit c{"agg", 1000, "cmd", {}};
    for (std::uint16_t i = 0; i < 500; ++i) {
        c.events.push_back(event(i, static_cast<std::uint16_t>(i * 7), pattern(i % 17)));
    }
    const auto back = decode_commit(encode_commit(c));
    ASSERT_TRUE(back.has_value()) << back.error().detail;
    expect_same(c, *back);
    EXPECT_EQ(back->resulting_version(), 1500U);
}

TEST(commit_codec, a_missing_payload_decodes_as_an_empty_one) {
    // Another writer may leave the (optional) payload vector out instead of writing [].
    const auto back = decode_commit(build({.payload = false}));
    ASSERT_TRUE(back.has_value()) << back.error().detail;
    ASSERT_EQ(back->events.size(), 1U);
    EXPECT_TRUE(back->events[0].payload.empty());
}

TEST(commit_codec, resulting_version_is_expected_version_plus_the_event_count) {
    EXPECT_EQ((commit{"a", 0, "c", {event(1, 1, {})}}.resulting_version()), 1U);
    EXPECT_EQ(several_events().resulting_version(), 45U);
    EXPECT_EQ((commit{"a", 7, "c", {}}.resulting_version()), 7U);
    EXPECT_EQ((commit{"a", max_u64 - 1, "c", {event(1, 1, {})}}.resulting_version()), max_u64);
}

TEST(commit_codec, is_size_prefixed_and_carries_the_identifier) {
    for (const commit& c : samples()) {
        const auto bytes = encode_commit(c);
        ASSERT_GE(bytes.size(), 12U);
        std::uint32_t prefix = 0;
        std::memcpy(&prefix, bytes.data(), prefix_size);
        EXPECT_EQ(flatbuffers::EndianScalar(prefix), bytes.size() - prefix_size);
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()) + 8, 4), "SSCM");
        EXPECT_STREQ(fbc::commitIdentifier(), "SSCM");
    }
}

// Kafka hands a record's value over at whatever address it sits in the fetch buffer.
TEST(commit_codec, decodes_from_a_misaligned_address) {
    for (const commit& c : samples()) {
        const auto bytes = encode_commit(c);
        for (std::size_t shift = 1; shift < 8; ++shift) {
            // uint64 storage: shift 0 is 8-aligned, so each shift is misaligned by exactly it.
            std::vector<std::uint64_t> storage(bytes.size() / 8 + 2);
            auto* base = reinterpret_cast<std::uint8_t*>(storage.data()) + shift;
            std::memcpy(base, bytes.data(), bytes.size());
            const auto back = decode_commit(std::span<const std::uint8_t>(base, bytes.size()));
            ASSERT_TRUE(back.has_value()) << "shift " << shift << ": " << back.error().detail;
            expect_same(c, *back);
        }
    }
}

// view_commit: the same commit as decode_commit, in place when the bytes are aligned, and
// through the caller's copy when they are not.
TEST(commit_codec, a_view_reads_in_place_what_decode_copies) {
    for (const commit& c : samples()) {
        const auto encoded = encode_commit(c);
        for (std::size_t shift = 0; shift < 8; ++shift) {
            std::vector<std::uint64_t> storage(encoded.size() / 8 + 2);
            auto* base = reinterpret_cast<std::uint8_t*>(storage.data()) + shift;
            std::memcpy(base, encoded.data(), encoded.size());
            const std::span<const std::uint8_t> bytes(base, encoded.size());
            std::vector<std::uint8_t> copy;
            const auto v = view_commit(bytes, copy);
            ASSERT_TRUE(v.has_value()) << "shift " << shift << ": " << v.error().detail;
            // Where the view points: into the bytes themselves when aligned, else into the copy.
            const std::span<const std::uint8_t> inside = shift == 0 ? bytes : std::span<const std::uint8_t>(copy);
            EXPECT_EQ(shift == 0, copy.empty()) << "shift " << shift;
            const auto* id = reinterpret_cast<const std::uint8_t*>(v->aggregate_id.data());
            EXPECT_TRUE(id >= inside.data() && id < inside.data() + inside.size()) << "shift " << shift;
            EXPECT_EQ(v->aggregate_id, c.aggregate_id);
            EXPECT_EQ(v->expected_version, c.expected_version);
            EXPECT_EQ(v->command_id, c.command_id);
            ASSERT_EQ(v->event_count(), c.events.size());
            for (std::size_t i = 0; i < c.events.size(); ++i) {
                const auto e = v->event(i);
                EXPECT_EQ(e.type, c.events[i].type) << "event " << i;
                EXPECT_EQ(e.schema_version, c.events[i].schema_version) << "event " << i;
                EXPECT_TRUE(std::equal(e.payload.begin(), e.payload.end(), c.events[i].payload.begin(),
                                       c.events[i].payload.end()))
                    << "event " << i;
            }
        }
    }
}

TEST(commit_codec, a_view_refuses_what_decode_refuses_with_the_same_error) {
    const auto bytes = encode_commit(several_events());
    std::vector<std::vector<std::uint8_t>> bad = {
        std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 1),
        build(raw_commit{.events = 0}),
        build(raw_commit{.aggregate_id = ""}),
        build(raw_commit{.identifier = "XXXX"}),
    };
    for (const auto& b : bad) {
        std::vector<std::uint8_t> copy;
        const auto v = view_commit(b, copy);
        const auto d = decode_commit(b);
        ASSERT_FALSE(v.has_value());
        ASSERT_FALSE(d.has_value());
        EXPECT_EQ(v.error().code, d.error().code);
        EXPECT_EQ(v.error().detail, d.error().detail);
    }
}

// ---- refusals: verification_failed ---------------------------------------------------

TEST(commit_codec, every_truncation_is_refused) {
    for (const commit& c : samples()) {
        const auto bytes = encode_commit(c);
        if (bytes.size() > 4096) continue;  // the 1 MiB sample: covered by the prefix tests
        for (std::size_t len = 0; len < bytes.size(); ++len) {
            const auto d = decode_commit(std::span<const std::uint8_t>(bytes).first(len));
            ASSERT_FALSE(d.has_value()) << c.aggregate_id << " truncated to " << len;
            EXPECT_EQ(d.error().code, codec_errc::verification_failed)
                << c.aggregate_id << " truncated to " << len << ": " << d.error().detail;
        }
    }
    // The large one, cut at a few places (each would be a full 1 MiB copy otherwise).
    const auto large = encode_commit(samples()[2]);
    for (std::size_t len : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{64},
                            large.size() / 2, large.size() - 1}) {
        EXPECT_EQ(error_of(decode_commit(std::span<const std::uint8_t>(large).first(len))),
                  codec_errc::verification_failed)
            << len;
    }
}

TEST(commit_codec, a_wrong_file_identifier_is_refused) {
    for (const commit& c : samples()) {
        for (const char* other : {"SSOR", "SSPY", "SSRV", "sscm", "\0\0\0\0"}) {
            auto bytes = encode_commit(c);
            std::memcpy(bytes.data() + 8, other, 4);
            EXPECT_EQ(error_of(decode_commit(bytes)), codec_errc::verification_failed) << other;
        }
    }
    // A well-formed buffer of the commit schema, finished under another identifier.
    EXPECT_EQ(error_of(decode_commit(build({.identifier = "SSOR"}))),
              codec_errc::verification_failed);
    EXPECT_TRUE(decode_commit(build({})).has_value());  // the same, finished as "SSCM"
}

TEST(commit_codec, a_buffer_without_size_prefix_is_refused) {
    EXPECT_EQ(error_of(decode_commit(build({.size_prefixed = false}))),
              codec_errc::verification_failed);
}

TEST(commit_codec, a_size_prefix_that_disagrees_with_the_length_is_refused) {
    for (const commit& c : samples()) {
        const auto good = encode_commit(c);
        const auto body = static_cast<std::uint32_t>(good.size() - prefix_size);
        // Larger than the buffer: the record was cut, or the prefix is corrupt.
        for (std::uint32_t prefix :
             {body + 1, body + 8, std::numeric_limits<std::uint32_t>::max()}) {
            auto bytes = good;
            write_prefix(bytes, prefix);
            EXPECT_EQ(error_of(decode_commit(bytes)), codec_errc::verification_failed) << prefix;
        }
        // Smaller than the buffer: bytes after the commit.
        for (std::uint32_t prefix : {body - 1, body - 8, std::uint32_t{0}}) {
            auto bytes = good;
            write_prefix(bytes, prefix);
            EXPECT_EQ(error_of(decode_commit(bytes)), codec_errc::verification_failed) << prefix;
        }
        // Trailing bytes with an honest-looking (unchanged) prefix.
        for (std::size_t extra : {std::size_t{1}, std::size_t{4}, std::size_t{8}}) {
            auto bytes = good;
            bytes.resize(bytes.size() + extra, 0);
            EXPECT_EQ(error_of(decode_commit(bytes)), codec_errc::verification_failed) << extra;
        }
        // Trailing bytes and a prefix that counts them: the verifier still checks the rest.
        auto padded = good;
        padded.resize(padded.size() + 8, 0);
        write_prefix(padded, static_cast<std::uint32_t>(padded.size() - prefix_size));
        const auto d = decode_commit(padded);
        if (d) expect_same(c, *d);  // FlatBuffers allows slack after the root; not a misread
    }
}

// A size prefix announcing a record larger than any FlatBuffer can be. The bytes are a
// reserved, zero-filled mapping: no memory is touched beyond the first page, and the
// decoder must refuse the record instead of tripping the verifier's size assertion.
TEST(commit_codec, a_record_larger_than_a_flatbuffer_is_refused) {
    const std::size_t size = (std::size_t{1} << 31) + prefix_size;  // prefix = 2^31 body bytes
    void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) GTEST_SKIP() << "cannot reserve 2 GiB of address space";
    auto* bytes = static_cast<std::uint8_t*>(map);
    const std::uint32_t prefix =
        flatbuffers::EndianScalar(static_cast<std::uint32_t>(size - prefix_size));
    std::memcpy(bytes, &prefix, prefix_size);
    std::memcpy(bytes + 8, "SSCM", 4);
    const auto d = decode_commit(std::span<const std::uint8_t>(bytes, size));
    ::munmap(map, size);
    EXPECT_EQ(error_of(d), codec_errc::verification_failed);
}

// Every single-bit corruption of every byte: never a crash (ASan/UBSan run this), and a
// commit that still decodes satisfies every rule decode_commit promises.
TEST(commit_codec, bit_flips_anywhere_are_refused_or_decode_to_a_valid_commit) {
    std::size_t refused = 0;
    std::size_t decoded = 0;
    for (const commit& c : samples()) {
        const auto good = encode_commit(c);
        if (good.size() > 4096) continue;
        for (std::size_t i = 0; i < good.size(); ++i) {
            for (unsigned bit = 0; bit < 8; ++bit) {
                auto bytes = good;
                bytes[i] = static_cast<std::uint8_t>(bytes[i] ^ (1U << bit));
                const auto d = decode_commit(bytes);
                if (!d) {
                    ++refused;
                    EXPECT_TRUE(d.error().code == codec_errc::verification_failed ||
                                d.error().code == codec_errc::invalid_value)
                        << "byte " << i << " bit " << bit;
                    EXPECT_FALSE(d.error().detail.empty());
                    continue;
                }
                ++decoded;
                EXPECT_FALSE(d->aggregate_id.empty()) << "byte " << i << " bit " << bit;
                EXPECT_FALSE(d->command_id.empty()) << "byte " << i << " bit " << bit;
                EXPECT_FALSE(d->events.empty()) << "byte " << i << " bit " << bit;
                EXPECT_GE(d->resulting_version(), d->expected_version)
                    << "byte " << i << " bit " << bit;
            }
        }
        // Whole bytes forced to 0x00 and 0xFF too (a zeroed or erased region).
        for (std::size_t i = 0; i < good.size(); ++i) {
            for (std::uint8_t value : {std::uint8_t{0x00}, std::uint8_t{0xFF}}) {
                auto bytes = good;
                bytes[i] = value;
                const auto d = decode_commit(bytes);
                if (d) {
                    EXPECT_FALSE(d->events.empty());
                }
            }
        }
    }
    // Both outcomes occur: the test does exercise the decoder past the verifier.
    EXPECT_GT(refused, 0U);
    EXPECT_GT(decoded, 0U);
}

// ---- refusals: invalid_value ---------------------------------------------------------

TEST(commit_codec, a_commit_without_events_is_invalid) {
    EXPECT_EQ(error_of(decode_commit(encode_commit(commit{"agg", 0, "cmd", {}}))),
              codec_errc::invalid_value);
    EXPECT_EQ(error_of(decode_commit(build({.events = 0}))), codec_errc::invalid_value);
    EXPECT_EQ(error_of(decode_commit(build({.events = -1}))), codec_errc::invalid_value);
}

TEST(commit_codec, a_commit_without_aggregate_id_is_invalid) {
    EXPECT_EQ(error_of(decode_commit(encode_commit(commit{"", 0, "cmd", {event(1, 1, {})}}))),
              codec_errc::invalid_value);
    EXPECT_EQ(error_of(decode_commit(build({.aggregate_id = nullptr}))), codec_errc::invalid_value);
}

TEST(commit_codec, a_commit_without_command_id_is_invalid) {
    EXPECT_EQ(error_of(decode_commit(encode_commit(commit{"agg", 0, "", {event(1, 1, {})}}))),
              codec_errc::invalid_value);
    EXPECT_EQ(error_of(decode_commit(build({.command_id = nullptr}))), codec_errc::invalid_value);
}

TEST(commit_codec, a_version_that_would_overflow_is_invalid) {
    // expected_version + events > UINT64_MAX: the aggregate could not hold the versions.
    const std::vector<std::pair<std::uint64_t, std::size_t>> overflowing = {
        {max_u64, 1}, {max_u64 - 1, 2}, {max_u64 - 2, 5}, {max_u64, 3}};
    for (const auto& [expected, n] : overflowing) {
        commit c{"agg", expected, "cmd", {}};
        for (std::size_t i = 0; i < n; ++i) c.events.push_back(event(1, 1, {}));
        const auto d = decode_commit(encode_commit(c));
        ASSERT_FALSE(d.has_value()) << expected << "+" << n;
        EXPECT_EQ(d.error().code, codec_errc::invalid_value) << expected << "+" << n;
    }
    EXPECT_EQ(error_of(decode_commit(build({.expected_version = max_u64}))),
              codec_errc::invalid_value);
    EXPECT_TRUE(decode_commit(build({.expected_version = max_u64 - 1})).has_value());
}

}  // namespace
}  // namespace shopstream::eventstore
