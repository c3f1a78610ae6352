// The LMDB wrapper (eventstore/lmdb/lmdb.hpp): the flags each durability opens with,
// abort on destroy, a full map as an error value, range scans and deletion under a
// cursor, the one-environment-per-directory rule; and the two stores built on it open
// with the durability their headers promise.
#include "eventstore/lmdb/lmdb.hpp"

#include <gtest/gtest.h>

#include <string>
#include <system_error>

#include "eventstore/state_store.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::eventstore::lmdb {
namespace {

using shopstream::testing::temp_dir;

env open_ok(const std::filesystem::path& dir, env_options options = {}) {
    auto e = env::open(dir, options);
    if (!e) throw std::runtime_error(e.error().message);
    return std::move(*e);
}

// One database "d", created.
MDB_dbi create_dbi(env& e) {
    auto txn = e.begin_write();
    EXPECT_TRUE(txn.has_value());
    auto dbi = txn->open_dbi("d");
    EXPECT_TRUE(dbi.has_value());
    EXPECT_TRUE(txn->commit().has_value());
    return *dbi;
}

std::optional<std::string> read(const env& e, MDB_dbi dbi, std::string_view key) {
    auto txn = e.begin_read();
    if (!txn) throw std::runtime_error(txn.error().message);
    auto got = txn->get(dbi, key);
    if (!got) throw std::runtime_error(got.error().message);
    if (!*got) return std::nullopt;
    return std::string(**got);
}

// An environment with one database "d", for the transaction and cursor tests.
class lmdb_db : public ::testing::Test {
protected:
    temp_dir dir;
    env e = open_ok(dir.path());
    MDB_dbi dbi = create_dbi(e);

    txn write() {
        auto t = e.begin_write();
        if (!t) throw std::runtime_error(t.error().message);
        return std::move(*t);
    }
};

TEST(lmdb_env, each_durability_opens_with_its_sync_flag) {
    temp_dir dir;
    {
        const auto synced = open_ok(dir.path() / "s", {.durability = durability::synced});
        EXPECT_NE(synced.flags() & MDB_NOMETASYNC, 0U);
        EXPECT_EQ(synced.flags() & MDB_NOSYNC, 0U);
        EXPECT_NE(synced.flags() & MDB_NOTLS, 0U);
    }
    const auto relaxed = open_ok(dir.path() / "r", {.durability = durability::relaxed});
    EXPECT_NE(relaxed.flags() & MDB_NOSYNC, 0U);
    EXPECT_EQ(relaxed.flags() & MDB_NOMETASYNC, 0U);
}

TEST(lmdb_env, a_directory_open_in_this_process_is_refused_until_closed) {
    temp_dir dir;
    {
        auto first = open_ok(dir.path());
        auto second = env::open(dir.path(), {});
        ASSERT_FALSE(second.has_value());
        EXPECT_EQ(second.error().code, errc::already_open);
        // Also through another spelling of the same directory.
        auto third = env::open(dir.path() / "." / "", {});
        ASSERT_FALSE(third.has_value());
        EXPECT_EQ(third.error().code, errc::already_open);
        // A moved environment keeps the directory; the moved-from one releases nothing.
        auto moved = std::move(first);
        EXPECT_FALSE(env::open(dir.path(), {}).has_value());
    }
    EXPECT_TRUE(env::open(dir.path(), {}).has_value());
}

TEST(lmdb_env, an_unusable_directory_is_a_system_error_saying_which_step) {
    temp_dir dir;
    const auto file = dir.path() / "a-file";
    {
        std::FILE* f = std::fopen(file.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fclose(f);
    }
    auto e = env::open(file / "env", {});
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().code, errc::system);
    EXPECT_NE(e.error().message.find("creating the directory"), std::string::npos)
        << e.error().message;
}

TEST_F(lmdb_db, a_write_transaction_dropped_without_commit_is_aborted) {
    {
        auto txn = write();
        ASSERT_TRUE(txn.put(dbi, "k", "dropped").has_value());
        auto own = txn.get(dbi, "k");
        ASSERT_TRUE(own.has_value() && own->has_value());
        EXPECT_EQ(**own, "dropped") << "a transaction reads its own writes";
    }
    EXPECT_EQ(read(e, dbi, "k"), std::nullopt);
    // The writer lock went with it: the next write begins, commits and is seen.
    auto txn = write();
    ASSERT_TRUE(txn.put(dbi, "k", "kept").has_value());
    ASSERT_TRUE(txn.commit().has_value());
    EXPECT_FALSE(txn.is_open());
    EXPECT_EQ(read(e, dbi, "k"), "kept");
}

TEST_F(lmdb_db, move_assignment_aborts_the_transaction_it_replaces) {
    {
        auto writer = write();
        ASSERT_TRUE(writer.put(dbi, "k", "v").has_value());
        auto other = e.begin_read();
        ASSERT_TRUE(other.has_value());
        writer = std::move(*other);  // the write is aborted here, not committed
        EXPECT_TRUE(writer.is_open());
        EXPECT_FALSE(other->is_open());
    }
    EXPECT_EQ(read(e, dbi, "k"), std::nullopt);
}

TEST_F(lmdb_db, get_put_del_and_entries) {
    auto txn = write();
    ASSERT_TRUE(txn.put(dbi, "a", "1").has_value());
    ASSERT_TRUE(txn.put(dbi, "b", "").has_value());
    ASSERT_TRUE(txn.put(dbi, "a", "2").has_value());  // replaces
    EXPECT_EQ(*txn.entries(dbi), 2U);
    auto b = txn.get(dbi, "b");
    ASSERT_TRUE(b.has_value() && b->has_value());
    EXPECT_TRUE((*b)->empty());
    EXPECT_EQ(*txn.del(dbi, "a"), true);
    EXPECT_EQ(*txn.del(dbi, "a"), false);
    EXPECT_EQ(*txn.entries(dbi), 1U);
    ASSERT_TRUE(txn.commit().has_value());
    EXPECT_EQ(read(e, dbi, "a"), std::nullopt);
    EXPECT_EQ(read(e, dbi, "b"), "");
}

TEST(lmdb_txn, a_full_map_is_an_error_value_with_its_code) {
    temp_dir dir;
    auto e = open_ok(dir.path(), {.map_size = 64 * 1024});
    const auto dbi = create_dbi(e);
    const std::string value(1024, 'x');
    std::optional<error> failure;
    {
        auto txn = e.begin_write();
        ASSERT_TRUE(txn.has_value());
        for (int i = 0; i < 1000 && !failure; ++i) {
            if (auto put = txn->put(dbi, "key-" + std::to_string(i), value); !put) {
                failure = put.error();
            }
        }
        if (!failure) {
            if (auto committed = txn->commit(); !committed) failure = committed.error();
        }
    }
    ASSERT_TRUE(failure.has_value()) << "1 MB fitted in a 64 KiB map";
    EXPECT_EQ(failure->code, errc::map_full);
    EXPECT_EQ(failure->status, MDB_MAP_FULL);
    EXPECT_NE(failure->message.find("MDB_MAP_FULL"), std::string::npos) << failure->message;
    const std::error_code as_error_code = failure->code;
    EXPECT_EQ(as_error_code.category().name(), std::string("lmdb"));
    EXPECT_EQ(as_error_code, make_error_code(errc::map_full));
    // The environment outlives the failure: a small write still commits.
    auto txn = e.begin_write();
    ASSERT_TRUE(txn.has_value());
    ASSERT_TRUE(txn->put(dbi, "small", "v").has_value());
    ASSERT_TRUE(txn->commit().has_value());
    EXPECT_EQ(read(e, dbi, "small"), "v");
}

TEST(lmdb_txn, error_codes_are_classified) {
    EXPECT_EQ(error_of(MDB_MAP_FULL).code, errc::map_full);
    EXPECT_EQ(error_of(MDB_READERS_FULL).code, errc::readers_full);
    EXPECT_EQ(error_of(MDB_TXN_FULL).code, errc::txn_full);
    EXPECT_EQ(error_of(MDB_BAD_TXN).code, errc::bad_txn);
    EXPECT_EQ(error_of(MDB_CORRUPTED).code, errc::corrupted);
    EXPECT_EQ(error_of(MDB_PAGE_NOTFOUND).code, errc::corrupted);
    EXPECT_EQ(error_of(MDB_VERSION_MISMATCH).code, errc::incompatible);
    EXPECT_EQ(error_of(ENOSPC).code, errc::system);
    EXPECT_EQ(error_of(MDB_KEYEXIST).code, errc::other);
    EXPECT_EQ(error_of(ENOSPC).message, std::string(mdb_strerror(ENOSPC)));
}

TEST_F(lmdb_db, cursor_seek_walks_a_range_in_key_order) {
    auto txn = write();
    for (const char* key : {"b2", "a1", "b1", "c1", "b3"}) {
        ASSERT_TRUE(txn.put(dbi, key, std::string("v-") + key).has_value());
    }
    auto cursor = txn.open_cursor(dbi);
    ASSERT_TRUE(cursor.has_value());
    std::vector<std::string> seen;
    for (auto at = cursor->seek("b"); at && *at && (*at)->first.starts_with("b");
         at = cursor->next()) {
        seen.emplace_back((*at)->first);
        EXPECT_EQ((*at)->second, "v-" + std::string((*at)->first));
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"b1", "b2", "b3"}));
    auto past = cursor->seek("d");
    ASSERT_TRUE(past.has_value());
    EXPECT_FALSE(past->has_value());
    auto first = cursor->first();
    ASSERT_TRUE(first.has_value() && first->has_value());
    EXPECT_EQ((*first)->first, "a1");
}

TEST_F(lmdb_db, cursor_deleting_under_the_cursor_rests_on_the_next_entry) {
    auto txn = write();
    for (const char* key : {"a", "b", "c"}) ASSERT_TRUE(txn.put(dbi, key, "v").has_value());
    {
        auto cursor = txn.open_cursor(dbi);
        ASSERT_TRUE(cursor.has_value());
        auto at = cursor->seek("b");
        ASSERT_TRUE(at.has_value() && at->has_value());
        ASSERT_TRUE(cursor->del().has_value());
        auto after = cursor->current();
        ASSERT_TRUE(after.has_value() && after->has_value());
        EXPECT_EQ((*after)->first, "c");
        ASSERT_TRUE(cursor->del().has_value());  // the last one
        auto none = cursor->current();
        ASSERT_TRUE(none.has_value()) << none.error().message;
        EXPECT_FALSE(none->has_value());
    }
    EXPECT_EQ(*txn.entries(dbi), 1U);
    ASSERT_TRUE(txn.commit().has_value());
    EXPECT_EQ(read(e, dbi, "a"), "v");
}

TEST(state_store_durability, each_mode_opens_with_the_flag_its_comment_names) {
    temp_dir dir;
    {
        auto synced = state_store::open(dir.path() / "s",
                                        {std::uint64_t{64} << 20, state_store::durability::synced});
        ASSERT_TRUE(synced.has_value()) << synced.error().message;
        EXPECT_NE((*synced)->environment_flags() & MDB_NOMETASYNC, 0U);
        EXPECT_EQ((*synced)->environment_flags() & MDB_NOSYNC, 0U);
    }
    auto relaxed = state_store::open(dir.path() / "r",
                                     {std::uint64_t{64} << 20, state_store::durability::relaxed});
    ASSERT_TRUE(relaxed.has_value()) << relaxed.error().message;
    EXPECT_NE((*relaxed)->environment_flags() & MDB_NOSYNC, 0U);
    EXPECT_EQ((*relaxed)->environment_flags() & MDB_NOMETASYNC, 0U);
}

}  // namespace
}  // namespace shopstream::eventstore::lmdb
