// murmur2_partition (eventstore/producer.hpp) must put every key where Apache Kafka's Java
// client puts it - (Utils.murmur2(key) & 0x7fffffff) % partitions - since foreign producers
// and consumers (kcat, Java services) predict placement that way and the command path
// routes a command to the partition whose tail will see its commit.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eventstore/producer.hpp"

namespace shopstream::eventstore {
namespace {

struct java_vector {
    std::string key;
    std::uint32_t hash;  // Utils.murmur2(key) as an unsigned 32-bit value
};

// Published Java values: Apache Kafka's UtilsTest.testMurmur2 (negative ints there, shown
// here as their two's-complement bits) and librdkafka's java_murmur2_results (src/rdmurmur2.c).
const std::vector<java_vector>& published() {
    static const std::vector<java_vector> v = {
        {"21", static_cast<std::uint32_t>(-973932308)},
        {"foobar", static_cast<std::uint32_t>(-790332482)},
        {"a-little-bit-long-string", static_cast<std::uint32_t>(-985981536)},
        {"a-little-bit-longer-string", static_cast<std::uint32_t>(-1486304829)},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", static_cast<std::uint32_t>(-58897971)},
        {"abc", 479470107U},
        {"kafka", 0xd067cf64U},
        {"giberish123456789", 0x8f552b0cU},
        {"1234", 0x9fc97b14U},
        {"234", 0xe7c009caU},
        {"34", 0x873930daU},
        {"4", 0x5a4b5ca1U},
        {"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1cU},
        {"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62b377U},
        {"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4e09eU},
        {"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43fU},
        {"", 0x106e08d9U},
    };
    return v;
}

// Bytes >= 0x80 in the 4-byte blocks and in every tail position: Java reads them masked
// (`data[i] & 0xff`), so a partitioner that sign-extended a byte would land such keys
// elsewhere. Values from a line-by-line transcription of Utils.murmur2 (no published
// vector has such bytes); our aggregate ids are UTF-8, so these keys do occur.
const std::vector<java_vector>& high_bytes() {
    static const std::vector<java_vector> v = {
        {"\xff\xfe\xfd", 0x3b85fe24U},
        {"\xff\xff\xff\xff\x80", 0x9a8754d1U},
        {"Bewertung-f\xc3\xbcr-o-1", 0x2c0b8c53U},
    };
    return v;
}

partition_id java_partition(std::uint32_t hash, std::int32_t partitions) {
    return partition_id(static_cast<std::int32_t>((hash & 0x7fffffffU) % static_cast<std::uint32_t>(partitions)));
}

// With 2^31 - 1 partitions the result is the positive hash itself (unless it equals
// 2^31 - 1), so that count pins 31 of the 32 bits; the small counts are the ones we run.
constexpr std::int32_t partition_counts[] = {1, 2, 3, 6, 12, 16, 100, std::numeric_limits<std::int32_t>::max()};

void expect_java_placement(const std::vector<java_vector>& vectors) {
    for (const auto& [key, hash] : vectors) {
        for (const std::int32_t n : partition_counts) {
            EXPECT_EQ(murmur2_partition(key, n), java_partition(hash, n)) << '"' << key << "\" over " << n;
        }
    }
}

TEST(murmur2_partition, places_the_published_java_vectors_where_the_java_client_does) {
    expect_java_placement(published());
}

TEST(murmur2_partition, reads_bytes_above_0x7f_unsigned_as_java_does) { expect_java_placement(high_bytes()); }

TEST(murmur2_partition, does_not_depend_on_where_the_key_sits_in_memory) {
    // librdkafka hashes a 4-byte-aligned key by words and any other key byte by byte; both
    // paths must agree. Place each key at every offset 0..3 of a buffer.
    for (const auto& [key, hash] : published()) {
        for (std::size_t shift = 0; shift < 4; ++shift) {
            const std::string buffer = std::string(shift, '#') + key;
            const std::string_view shifted = std::string_view(buffer).substr(shift);
            EXPECT_EQ(murmur2_partition(shifted, std::numeric_limits<std::int32_t>::max()),
                      java_partition(hash, std::numeric_limits<std::int32_t>::max()))
                << '"' << key << "\" at offset " << shift;
        }
    }
}

TEST(murmur2_partition, an_empty_key_without_storage_hashes_like_the_empty_string) {
    // A default string_view's data() is null: the partitioner must not read through it.
    EXPECT_EQ(murmur2_partition(std::string_view{}, 16), java_partition(0x106e08d9U, 16));
}

}  // namespace
}  // namespace shopstream::eventstore
