// The secrets serve keeps in its data directory (adapters/cli/data_dir.hpp): created
// once with mode 0600, the same value read back on every later start, and files others
// could read, or that are empty, refused with the fix.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "adapters/cli/data_dir.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::adapters {
namespace {

unsigned mode_of(const std::filesystem::path& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return 0;
    return info.st_mode & 07777;
}

TEST(data_dir, a_secret_is_created_once_with_mode_0600_and_read_back_after) {
    testing::temp_dir dir;
    const auto path = dir.path() / "jwt-secret";
    auto first = read_or_create_secret(path, 32);
    ASSERT_TRUE(first.has_value()) << first.error();
    EXPECT_TRUE(first->created);
    EXPECT_EQ(first->value.size(), 64U);
    EXPECT_EQ(first->value.find_first_not_of("0123456789abcdef"), std::string::npos) << first->value;
    EXPECT_EQ(mode_of(path), 0600U);
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "jwt-secret.new"));

    auto second = read_or_create_secret(path, 32);
    ASSERT_TRUE(second.has_value()) << second.error();
    EXPECT_FALSE(second->created);
    EXPECT_EQ(second->value, first->value);
}

TEST(data_dir, two_new_secrets_differ) {
    testing::temp_dir dir;
    auto a = read_or_create_secret(dir.path() / "a", 16);
    auto b = read_or_create_secret(dir.path() / "b", 16);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_NE(a->value, b->value);
}

TEST(data_dir, a_secret_others_may_read_is_refused_with_the_fix) {
    testing::temp_dir dir;
    const auto path = dir.path() / "jwt-secret";
    std::ofstream(path) << "0123456789abcdef0123456789abcdef\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                           std::filesystem::perms::group_read | std::filesystem::perms::others_read);
    auto read = read_or_create_secret(path);
    ASSERT_FALSE(read.has_value());
    EXPECT_EQ(read.error(), path.string() + " may be read by others (mode 644): chmod 600 " + path.string());
    EXPECT_EQ(mode_of(path), 0644U);  // left as it was
}

TEST(data_dir, an_empty_secret_file_is_refused) {
    testing::temp_dir dir;
    const auto path = dir.path() / "jwt-secret";
    std::ofstream{path};
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto read = read_or_create_secret(path);
    ASSERT_FALSE(read.has_value());
    EXPECT_NE(read.error().find("is empty"), std::string::npos) << read.error();
}

TEST(data_dir, a_directory_in_the_secrets_place_is_refused) {
    testing::temp_dir dir;
    std::filesystem::create_directory(dir.path() / "jwt-secret");
    auto read = read_or_create_secret(dir.path() / "jwt-secret");
    ASSERT_FALSE(read.has_value());
    EXPECT_NE(read.error().find("not a regular file"), std::string::npos) << read.error();
}

TEST(data_dir, the_default_is_data_in_the_current_directory) {
    EXPECT_EQ(default_data_dir(), std::filesystem::current_path() / "data");
}

}  // namespace
}  // namespace shopstream::adapters
