// The LMDB wrapper (contract in lmdb.hpp).
#include "eventstore/lmdb/lmdb.hpp"

#include <cerrno>
#include <mutex>
#include <set>

namespace shopstream::eventstore::lmdb {
namespace {

MDB_val val_of(std::string_view bytes) {
    // mdb_put, mdb_get and mdb_cursor_get take a non-const MDB_val but never write
    // through mv_data.
    return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

std::string_view view_of(const MDB_val& v) {
    return {static_cast<const char*>(v.mv_data), v.mv_size};
}

errc errc_of(int status) {
    switch (status) {
        case MDB_MAP_FULL:
            return errc::map_full;
        case MDB_READERS_FULL:
            return errc::readers_full;
        case MDB_TXN_FULL:
        case MDB_CURSOR_FULL:
        case MDB_PAGE_FULL:
            return errc::txn_full;
        case MDB_BAD_TXN:
            return errc::bad_txn;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
            return errc::corrupted;
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
        case MDB_INCOMPATIBLE:
            return errc::incompatible;
        default:
            // LMDB's own codes are negative; positive ones are errno values.
            return status > 0 ? errc::system : errc::other;
    }
}

// The directories this process has open: see env::open.
std::mutex open_dirs_mutex;
std::set<std::filesystem::path> open_dirs;

class category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "lmdb"; }
    [[nodiscard]] std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
            case errc::map_full:
                return "the LMDB map is full";
            case errc::readers_full:
                return "every LMDB reader slot is taken";
            case errc::txn_full:
                return "the LMDB transaction is too big";
            case errc::bad_txn:
                return "the LMDB transaction is unusable after an earlier failure";
            case errc::corrupted:
                return "the LMDB environment is damaged";
            case errc::incompatible:
                return "the LMDB environment or database is not of this kind";
            case errc::already_open:
                return "the LMDB environment is already open in this process";
            case errc::system:
                return "the operating system refused an LMDB operation";
            case errc::other:
                return "LMDB failed";
        }
        return "unknown LMDB error";
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(errc code) noexcept {
    return {static_cast<int>(code), error_category()};
}

error error_of(int status) { return error{errc_of(status), status, mdb_strerror(status)}; }

namespace {

std::unexpected<error> failure(int status) { return fail(error_of(status)); }

std::unexpected<error> failure(int status, std::string_view doing) {
    auto e = error_of(status);
    e.message = std::string(doing) + ": " + e.message;
    return fail(std::move(e));
}

}  // namespace

// ---- txn -----------------------------------------------------------------------------

txn& txn::operator=(txn&& other) noexcept {
    if (this != &other) {
        abort();
        txn_ = std::exchange(other.txn_, nullptr);
    }
    return *this;
}

void txn::abort() noexcept {
    if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

result<void> txn::commit() {
    // LMDB frees the transaction whether the commit succeeds or not.
    if (const int rc = mdb_txn_commit(std::exchange(txn_, nullptr)); rc != 0) return failure(rc);
    return {};
}

result<MDB_dbi> txn::open_dbi(const char* name) {
    MDB_dbi dbi = 0;
    if (const int rc = mdb_dbi_open(txn_, name, MDB_CREATE, &dbi); rc != 0) return failure(rc);
    return dbi;
}

result<std::optional<std::string_view>> txn::get(MDB_dbi dbi, std::string_view key) const {
    MDB_val k = val_of(key);
    MDB_val v;
    const int rc = mdb_get(txn_, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc != 0) return failure(rc);
    return view_of(v);
}

result<void> txn::put(MDB_dbi dbi, std::string_view key, std::string_view value) {
    MDB_val k = val_of(key);
    MDB_val v = val_of(value);
    if (const int rc = mdb_put(txn_, dbi, &k, &v, 0); rc != 0) return failure(rc);
    return {};
}

result<bool> txn::del(MDB_dbi dbi, std::string_view key) {
    MDB_val k = val_of(key);
    const int rc = mdb_del(txn_, dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) return failure(rc);
    return true;
}

result<std::size_t> txn::entries(MDB_dbi dbi) const {
    MDB_stat st{};
    if (const int rc = mdb_stat(txn_, dbi, &st); rc != 0) return failure(rc);
    return static_cast<std::size_t>(st.ms_entries);
}

result<cursor> txn::open_cursor(MDB_dbi dbi) const {
    MDB_cursor* raw = nullptr;
    if (const int rc = mdb_cursor_open(txn_, dbi, &raw); rc != 0) return failure(rc);
    return cursor(raw);
}

// ---- cursor --------------------------------------------------------------------------

cursor& cursor::operator=(cursor&& other) noexcept {
    if (this != &other) {
        if (cursor_ != nullptr) mdb_cursor_close(cursor_);
        cursor_ = std::exchange(other.cursor_, nullptr);
    }
    return *this;
}

cursor::~cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

result<std::optional<cursor::entry>> cursor::move(MDB_val* key, MDB_cursor_op op) {
    MDB_val v;
    const int rc = mdb_cursor_get(cursor_, key, &v, op);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc != 0) return failure(rc);
    return entry{view_of(*key), view_of(v)};
}

result<std::optional<cursor::entry>> cursor::first() {
    MDB_val k;
    return move(&k, MDB_FIRST);
}

result<std::optional<cursor::entry>> cursor::seek(std::string_view key) {
    MDB_val k = val_of(key);
    return move(&k, MDB_SET_RANGE);
}

result<std::optional<cursor::entry>> cursor::next() {
    MDB_val k;
    return move(&k, MDB_NEXT);
}

result<std::optional<cursor::entry>> cursor::current() {
    MDB_val k;
    auto got = move(&k, MDB_GET_CURRENT);
    // After deleting the last entry LMDB leaves the cursor on no entry and says EINVAL.
    if (!got && got.error().status == EINVAL) return std::nullopt;
    return got;
}

result<void> cursor::del() {
    if (const int rc = mdb_cursor_del(cursor_, 0); rc != 0) return failure(rc);
    return {};
}

// ---- env -----------------------------------------------------------------------------

env::env(env&& other) noexcept
    : env_(std::exchange(other.env_, nullptr)),
      dir_(std::move(other.dir_)),
      registered_(std::exchange(other.registered_, {})) {}

env& env::operator=(env&& other) noexcept {
    if (this != &other) {
        close();
        env_ = std::exchange(other.env_, nullptr);
        dir_ = std::move(other.dir_);
        registered_ = std::exchange(other.registered_, {});
    }
    return *this;
}

env::~env() { close(); }

void env::close() noexcept {
    if (env_ != nullptr) mdb_env_close(std::exchange(env_, nullptr));
    if (!registered_.empty()) {
        const std::lock_guard lock(open_dirs_mutex);
        open_dirs.erase(registered_);
        registered_.clear();
    }
}

result<env> env::open(const std::filesystem::path& dir, const env_options& options) {
    env e;
    e.dir_ = dir;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail(error{errc::system, ec.value(), "creating the directory: " + ec.message()});
    auto canonical = std::filesystem::canonical(dir, ec);
    if (ec) {
        return fail(error{errc::system, ec.value(), "resolving the directory: " + ec.message()});
    }
    {
        const std::lock_guard lock(open_dirs_mutex);
        if (!open_dirs.insert(canonical).second) {
            return fail(error{errc::already_open, 0,
                              "already open in this process; LMDB allows one environment per "
                              "directory per process"});
        }
    }
    e.registered_ = std::move(canonical);

    if (const int rc = mdb_env_create(&e.env_); rc != 0) {
        e.env_ = nullptr;
        return failure(rc, "creating the LMDB environment");
    }
    if (const int rc = mdb_env_set_maxdbs(e.env_, options.max_dbs); rc != 0) {
        return failure(rc, "setting the number of databases");
    }
    if (const int rc = mdb_env_set_mapsize(e.env_, static_cast<std::size_t>(options.map_size));
        rc != 0) {
        return failure(rc, "setting the map size to " + std::to_string(options.map_size));
    }
    unsigned int flags = MDB_NOTLS;
    flags |= options.durability == durability::relaxed ? MDB_NOSYNC : MDB_NOMETASYNC;
    if (const int rc = mdb_env_open(e.env_, dir.c_str(), flags, 0644); rc != 0) {
        return failure(rc, "opening the LMDB environment");
    }
    return e;
}

result<txn> env::begin_read() const {
    MDB_txn* raw = nullptr;
    if (const int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw); rc != 0) {
        return failure(rc);
    }
    return txn(raw);
}

result<txn> env::begin_write() {
    MDB_txn* raw = nullptr;
    if (const int rc = mdb_txn_begin(env_, nullptr, 0, &raw); rc != 0) return failure(rc);
    return txn(raw);
}

std::uint64_t env::map_size() const noexcept {
    MDB_envinfo info{};
    if (env_ == nullptr || mdb_env_info(env_, &info) != 0) return 0;
    return info.me_mapsize;
}

result<void> env::set_map_size(std::uint64_t bytes) {
    if (const int rc = mdb_env_set_mapsize(env_, static_cast<std::size_t>(bytes)); rc != 0) {
        return failure(rc, "setting the map size to " + std::to_string(bytes));
    }
    return {};
}

unsigned int env::flags() const noexcept {
    unsigned int flags = 0;
    if (env_ != nullptr) mdb_env_get_flags(env_, &flags);
    return flags;
}

}  // namespace shopstream::eventstore::lmdb
