// The Idempotency-Key store's durability: it opens synced (MDB_NOMETASYNC, never
// MDB_NOSYNC, whose machine crash can corrupt), and a writer SIGKILLed in the middle of
// recording answers leaves a store that reopens cleanly with every answer it had
// committed. A SIGKILL is a process crash, not a machine crash: what a machine crash does
// under MDB_NOMETASYNC rests on LMDB's documented guarantee, which the flag test pins.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "adapters/http/idempotency_store.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using shopstream::adapters::http::idempotency_store;
using shopstream::adapters::http::stored_answer;
using shopstream::testing::temp_dir;

constexpr std::int64_t t0 = 1'800'000'000'000;  // ms

stored_answer answer_for(int i) {
    stored_answer a;
    a.request_digest = "d" + std::to_string(i);
    a.status = 201;
    a.content_type = "application/json";
    a.headers = {{"ETag", "\"1\""}};
    a.body = std::string(512, static_cast<char>('a' + i % 26)) + std::to_string(i);
    a.recorded_at_ms = t0 + i;
    return a;
}

TEST(idempotency_store_durability, opens_with_nometasync_not_nosync) {
    temp_dir dir;
    auto store = idempotency_store::open(dir.path() / "idem");
    ASSERT_TRUE(store.has_value()) << store.error();
    const unsigned int flags = (*store)->environment_flags();
    EXPECT_NE(flags & MDB_NOMETASYNC, 0U);
    EXPECT_EQ(flags & MDB_NOSYNC, 0U);
}

TEST(idempotency_store_durability, a_writer_killed_mid_write_leaves_its_committed_answers) {
    temp_dir dir;
    const auto path = dir.path() / "idem";
    int report[2];
    ASSERT_EQ(pipe(report), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Records answers without end, telling the parent the number of each one whose
        // commit returned; it is killed somewhere inside a later record().
        close(report[0]);
        auto store = idempotency_store::open(path);
        if (!store) _exit(2);
        for (int i = 0;; ++i) {
            if (!(*store)->record("idem:p:k" + std::to_string(i), answer_for(i))) _exit(3);
            if (write(report[1], &i, sizeof i) != sizeof i) _exit(4);
        }
    }
    close(report[1]);
    constexpr int wanted = 200;
    int last = -1;
    while (last < wanted) {
        int got = 0;
        const ssize_t n = read(report[0], &got, sizeof got);
        if (n < 0 && errno == EINTR) continue;
        ASSERT_EQ(n, static_cast<ssize_t>(sizeof got)) << "the writer died before " << wanted;
        last = got;
    }
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    close(report[0]);

    auto store = idempotency_store::open(path);
    ASSERT_TRUE(store.has_value()) << store.error();
    for (int i = 0; i <= last; ++i) {
        auto found = (*store)->find("idem:p:k" + std::to_string(i), t0 + i);
        ASSERT_TRUE(found.has_value()) << found.error();
        ASSERT_TRUE(found->has_value()) << "answer " << i << " of " << last << " was lost";
        EXPECT_EQ((**found).body, answer_for(i).body);
        EXPECT_EQ((**found).request_digest, answer_for(i).request_digest);
    }
    auto size = (*store)->size();
    ASSERT_TRUE(size.has_value());
    EXPECT_GE(*size, static_cast<std::size_t>(last + 1));
    // The killed writer's lock is not left held: the store takes a new answer.
    auto recorded = (*store)->record("idem:p:after", answer_for(100000));
    ASSERT_TRUE(recorded.has_value()) << recorded.error();
    auto after = (*store)->find("idem:p:after", t0);
    ASSERT_TRUE(after.has_value() && after->has_value());
}

}  // namespace
