#pragma once
// The one LMDB wrapper of the project: RAII for an environment, its transactions and
// cursors, and LMDB's return codes turned into error values. The state store
// (eventstore/state_store.cpp) and the Idempotency-Key store
// (adapters/http/idempotency_store.cpp) both stand on it; it knows nothing of what they
// keep. Written by hand although Debian 12 has a C++ binding (liblmdb++-dev, lmdbxx of
// 2016): that one reports every failure by throwing (lmdb::map_full_error, ...), while
// here a full map or a damaged record is an expected failure returned as a value; a
// layer catching its exceptions would be more code than this one over the C API.
//
// Errors: every failure is an `error` holding an `errc` to branch on, LMDB's (or the
// OS's) own return code, and mdb_strerror()'s text. The text says what failed, not what
// the caller was doing: callers prefix that.
//
// Thread-safety: an `env` may be shared by any number of threads (it is opened with
// MDB_NOTLS, so a read transaction is not tied to the thread that began it and one
// thread may hold several). A `txn` or `cursor` is used by one thread at a time. LMDB
// allows one write transaction per environment: begin_write() blocks while another
// thread's is open, and deadlocks when the same thread already holds one.

#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "base/result.hpp"

namespace shopstream::eventstore::lmdb {

enum class errc : std::uint8_t {
    map_full = 1,      // MDB_MAP_FULL: the map size is too small for what was written
    readers_full = 2,  // MDB_READERS_FULL: every reader slot is taken
    txn_full = 3,      // MDB_TXN_FULL, MDB_CURSOR_FULL, MDB_PAGE_FULL: one transaction too big
    bad_txn = 4,       // MDB_BAD_TXN: an earlier failure left the transaction unusable
    corrupted = 5,     // MDB_CORRUPTED, MDB_PAGE_NOTFOUND: the file is damaged
    incompatible = 6,  // MDB_INVALID, MDB_VERSION_MISMATCH, MDB_INCOMPATIBLE and the like
    already_open = 7,  // this process already has the directory open (see env::open)
    system = 8,        // an errno from the OS: ENOENT, EACCES, ENOSPC, EIO, ...
    other = 9,         // any other LMDB code
};

[[nodiscard]] const std::error_category& error_category() noexcept;
[[nodiscard]] std::error_code make_error_code(errc code) noexcept;

struct error {
    errc code = errc::other;
    int status = 0;       // the mdb_* or errno return code; 0 for already_open
    std::string message;  // mdb_strerror(status), or what else went wrong
};

// The error for an mdb_* return code other than 0 (MDB_NOTFOUND included, as other).
[[nodiscard]] error error_of(int status);

template <class T>
using result = shopstream::result<T, error>;

// What a commit promises when the machine (not only the process) crashes. A process
// crash loses nothing in either mode: committed pages are in the OS's cache.
enum class durability : std::uint8_t {
    // MDB_NOMETASYNC: the data pages are fsynced at every commit, the meta page with the
    // next commit. A machine crash may undo the last committed transaction(s); it never
    // corrupts the environment (LMDB keeps two meta pages and the older stays valid).
    synced = 0,
    // MDB_NOSYNC: nothing is fsynced at commit; the OS writes back when it likes. LMDB's
    // documentation: "a system crash can corrupt the database or lose the last
    // transactions". Only for environments that are deleted and rebuilt after a
    // machine crash, or never outlive one (benchmarks, tests).
    relaxed = 1,
};

struct env_options {
    std::uint64_t map_size = std::uint64_t{1} << 30;  // address space reserved, not disk
    unsigned int max_dbs = 8;                         // named databases
    enum durability durability = durability::synced;
};

class cursor;

// A transaction, read-only or read-write. Aborted by the destructor unless commit()
// was called; either way it ends exactly once. Views returned by get() and cursors
// point into LMDB's map and are valid until the transaction ends (or, in a write
// transaction, until the next write).
class txn {
public:
    txn(txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}
    txn& operator=(txn&& other) noexcept;
    txn(const txn&) = delete;
    txn& operator=(const txn&) = delete;
    ~txn() { abort(); }

    // The named database, created if absent (a write transaction is needed to create).
    [[nodiscard]] result<MDB_dbi> open_dbi(const char* name);

    // nullopt when the key is absent.
    [[nodiscard]] result<std::optional<std::string_view>> get(MDB_dbi dbi,
                                                              std::string_view key) const;
    [[nodiscard]] result<void> put(MDB_dbi dbi, std::string_view key, std::string_view value);
    // false when the key was absent.
    [[nodiscard]] result<bool> del(MDB_dbi dbi, std::string_view key);
    [[nodiscard]] result<std::size_t> entries(MDB_dbi dbi) const;
    [[nodiscard]] result<cursor> open_cursor(MDB_dbi dbi) const;

    // Ends the transaction whether or not the commit succeeds (LMDB frees it either way).
    [[nodiscard]] result<void> commit();
    void abort() noexcept;
    [[nodiscard]] bool is_open() const noexcept { return txn_ != nullptr; }

private:
    friend class env;
    explicit txn(MDB_txn* t) noexcept : txn_(t) {}
    MDB_txn* txn_ = nullptr;
};

// A position in one database of one transaction; closed by the destructor. Each move
// yields the entry it lands on, or nullopt past the last one.
class cursor {
public:
    using entry = std::pair<std::string_view, std::string_view>;  // key, value

    cursor(cursor&& other) noexcept : cursor_(std::exchange(other.cursor_, nullptr)) {}
    cursor& operator=(cursor&& other) noexcept;
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;
    ~cursor();

    [[nodiscard]] result<std::optional<entry>> first();
    // The first entry whose key is >= `key` (bytewise), so a range scan starts here.
    [[nodiscard]] result<std::optional<entry>> seek(std::string_view key);
    [[nodiscard]] result<std::optional<entry>> next();
    // Deletes the entry the cursor is on; current() then yields the entry after it, or
    // nullopt when the deleted one was the last.
    [[nodiscard]] result<void> del();
    [[nodiscard]] result<std::optional<entry>> current();

private:
    friend class txn;
    explicit cursor(MDB_cursor* c) noexcept : cursor_(c) {}
    [[nodiscard]] result<std::optional<entry>> move(MDB_val* key, MDB_cursor_op op);
    MDB_cursor* cursor_ = nullptr;
};

// An open environment: one directory, created if absent. Closed by the destructor,
// which must run after every transaction of it has ended.
class env {
public:
    // Refuses (already_open) a directory this process already has open: LMDB forbids
    // it, since closing either environment would drop the other's file locks.
    // Errors from before the environment exists say which step failed.
    [[nodiscard]] static result<env> open(const std::filesystem::path& dir,
                                          const env_options& options);

    env(env&& other) noexcept;
    env& operator=(env&& other) noexcept;
    env(const env&) = delete;
    env& operator=(const env&) = delete;
    ~env();

    [[nodiscard]] result<txn> begin_read() const;
    [[nodiscard]] result<txn> begin_write();

    // The map size in force (mdb_env_info).
    [[nodiscard]] std::uint64_t map_size() const noexcept;
    // mdb_env_set_mapsize: a larger map after MDB_MAP_FULL. LMDB allows it only while no
    // transaction of this environment is open in the process: the caller ensures that.
    [[nodiscard]] result<void> set_map_size(std::uint64_t bytes);

    // mdb_env_get_flags: what the environment was opened with.
    [[nodiscard]] unsigned int flags() const noexcept;
    [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_; }

private:
    env() = default;
    void close() noexcept;

    MDB_env* env_ = nullptr;
    std::filesystem::path dir_;
    std::filesystem::path registered_;  // canonical path, in the process's registry
};

}  // namespace shopstream::eventstore::lmdb

template <>
struct std::is_error_code_enum<shopstream::eventstore::lmdb::errc> : std::true_type {};
