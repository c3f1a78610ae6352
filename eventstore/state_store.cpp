// The LMDB state store (contract in state_store.hpp). LMDB does the hard parts -
// transactions, one writer at a time, MVCC snapshots for readers, crash safety; this file
// only lays keys and values out and turns every mdb_* failure into a store_error that
// says what was being done.
//
// Layout: one environment per directory with four named databases
//   meta         "format" -> big-endian u32 store format; "log-identity" -> bytes
//   aggregates   ctx u8, id length u8, id                    -> aggregate_record (SSAG)
//   commits      ctx u8, id length u8, id, first_version u64 -> event_count u32,
//                                                                partition i32, offset i64
//   checkpoints  ctx u8, partition i32                       -> next offset i64
// Every integer is big-endian, so LMDB's bytewise key order is the numeric order and a
// cursor range scan yields an aggregate's commits in version order. The id's length byte
// keeps "a" and "ab" apart in range scans (the prefix of one is never the prefix of the
// other's keys) and is why ids are limited to 255 bytes.

#include "eventstore/state_store.hpp"

#include <flatbuffers/flatbuffers.h>
#include <lmdb.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <set>
#include <span>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "eventstore/state_record_generated.h"

namespace shopstream::eventstore {
namespace {

namespace fbs = shopstream::fb::store;

// Bump when the layout above or aggregate_record changes incompatibly. The store is
// rebuilt from the log rather than migrated.
constexpr std::uint32_t store_format = 1;

constexpr std::string_view format_key = "format";
constexpr std::string_view identity_key = "log-identity";
constexpr std::size_t max_id_size = 255;
constexpr std::size_t commit_value_size = 16;

// LMDB forbids opening one environment twice in a process: closing either one drops
// the other's file locks. Refusing it is cheaper than finding out.
std::mutex open_dirs_mutex;
std::set<std::filesystem::path> open_dirs;

// ---- bytes ---------------------------------------------------------------------------

// A key or value of at most N bytes, built on the stack: LMDB copies what it stores, so
// the tail's per-record reads and writes allocate nothing for keys and values.
template <std::size_t N>
class small_bytes {
public:
    void push_back(char c) { append(std::string_view(&c, 1)); }
    void append(std::string_view s) {
        if (s.size() > N - size_) throw std::length_error("state store key or value too long");  // ids are checked first
        std::memcpy(bytes_.data() + size_, s.data(), s.size());
        size_ += s.size();
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] const char* data() const noexcept { return bytes_.data(); }
    operator std::string_view() const noexcept { return {bytes_.data(), size_}; }  // NOLINT: implicit on purpose

private:
    std::array<char, N> bytes_{};
    std::size_t size_ = 0;
};

template <class Out, class U>
void put_be(Out& out, U value) {
    for (int shift = static_cast<int>(sizeof(U) * 8) - 8; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>(static_cast<std::uint8_t>(value >> shift)));
    }
}

template <class U>
U get_be(const std::uint8_t* p) {
    U value = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) value = static_cast<U>((value << 8) | p[i]);
    return value;
}

MDB_val val_of(std::string_view bytes) {
    // mdb_put and mdb_get take a non-const MDB_val but never write through mv_data.
    return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

std::span<const std::uint8_t> bytes_of(const MDB_val& v) {
    return {static_cast<const std::uint8_t*>(v.mv_data), v.mv_size};
}

// Ids are opaque bytes; messages show them escaped so a stray byte cannot garble a log.
std::string printable(std::string_view id) {
    std::string out;
    for (char ch : id) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(ch);
        } else {
            constexpr std::string_view hex = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        }
    }
    return out;
}

std::string describe(context ctx, std::string_view id) {
    return std::string(name_of(ctx)) + " aggregate \"" + printable(id) + "\"";
}

using key_bytes = small_bytes<2 + max_id_size + 8>;  // the longest: a commit key

// Precondition: check_id(id) passed.
key_bytes aggregate_key(context ctx, std::string_view id) {
    key_bytes key;
    key.push_back(static_cast<char>(ctx));
    key.push_back(static_cast<char>(static_cast<std::uint8_t>(id.size())));
    key.append(id);
    return key;
}

key_bytes commit_key(context ctx, std::string_view id, std::uint64_t first_version) {
    key_bytes key = aggregate_key(ctx, id);
    put_be(key, first_version);
    return key;
}

small_bytes<5> checkpoint_key(context ctx, std::int32_t partition) {
    small_bytes<5> key;
    key.push_back(static_cast<char>(ctx));
    put_be(key, static_cast<std::uint32_t>(partition));
    return key;
}

// ---- aggregate records ---------------------------------------------------------------

std::string encode_record(const stored_aggregate& a) {
    const auto& recent = a.head.recent_commands;
    flatbuffers::FlatBufferBuilder b(128 + a.snapshot.size() + recent.size() * 64);
    std::vector<flatbuffers::Offset<fbs::applied_command>> commands;
    commands.reserve(recent.size());
    for (const auto& c : recent) {
        const auto id = b.CreateString(c.command_id);
        commands.push_back(
            fbs::Createapplied_command(b, id, c.version, c.at.partition, c.at.offset));
    }
    const auto commands_vec = b.CreateVector(commands);
    const auto snapshot = b.CreateVector(a.snapshot);
    const auto root =
        fbs::Createaggregate_record(b, a.head.version, a.partition, commands_vec, snapshot);
    b.FinishSizePrefixed(root, fbs::aggregate_recordIdentifier());
    return {reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()};
}

// The reason a record cannot be read, or the aggregate.
result<stored_aggregate, std::string> decode_record(std::span<const std::uint8_t> bytes) {
    constexpr std::size_t prefix_size = sizeof(flatbuffers::uoffset_t);
    if (bytes.size() < prefix_size + sizeof(flatbuffers::uoffset_t) +
                           flatbuffers::kFileIdentifierLength ||
        bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
        return fail(std::to_string(bytes.size()) + " bytes cannot hold an aggregate record");
    }
    // LMDB aligns values to 2 bytes only, and FlatBuffers reads scalars in place: copy a
    // misaligned record so those reads stay well-defined.
    std::vector<std::uint8_t> aligned_copy;
    const std::uint8_t* data = bytes.data();
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(std::uint64_t) != 0) {
        aligned_copy.assign(bytes.begin(), bytes.end());
        data = aligned_copy.data();
    }
    flatbuffers::uoffset_t prefix = 0;
    std::memcpy(&prefix, data, prefix_size);
    prefix = flatbuffers::EndianScalar(prefix);
    if (prefix != bytes.size() - prefix_size) {
        return fail("size prefix " + std::to_string(prefix) + " does not match the " +
                    std::to_string(bytes.size() - prefix_size) + " bytes that follow it");
    }
    flatbuffers::Verifier verifier(data, bytes.size());
    if (!fbs::VerifySizePrefixedaggregate_recordBuffer(verifier)) {
        return fail(std::string("refused by the FlatBuffers verifier (identifier \"SSAG\")"));
    }
    const auto* root = fbs::GetSizePrefixedaggregate_record(data);
    stored_aggregate out;
    out.head.version = root->version();
    out.partition = root->partition();
    if (const auto* commands = root->recent_commands()) {
        out.head.recent_commands.reserve(commands->size());
        for (const auto* c : *commands) {
            if (c->command_id() == nullptr) return fail(std::string("a recent command has no id"));
            out.head.recent_commands.push_back(applied_command{
                c->command_id()->str(), c->version(), position{c->partition(), c->offset()}});
        }
    }
    if (const auto* snapshot = root->snapshot()) {
        out.snapshot.assign(snapshot->begin(), snapshot->end());
    }
    return out;
}

}  // namespace

// ---- implementation state ------------------------------------------------------------

struct state_store::impl {
    std::filesystem::path dir;
    std::filesystem::path registered;  // key in open_dirs; empty until registered
    std::uint64_t map_size = 0;
    MDB_env* env = nullptr;
    MDB_dbi meta = 0;
    MDB_dbi aggregates = 0;
    MDB_dbi commits = 0;
    MDB_dbi checkpoints = 0;

    // Only to turn a same-thread second begin_write() into an error: LMDB's writer lock
    // is not recursive, so it would deadlock.
    std::mutex writer_mutex;
    std::thread::id writer;

    impl() = default;
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
    ~impl() {
        if (env != nullptr) mdb_env_close(env);
        if (!registered.empty()) {
            const std::lock_guard lock(open_dirs_mutex);
            open_dirs.erase(registered);
        }
    }

    [[nodiscard]] store_error mdb_failure(int rc, std::string_view doing) const {
        std::string message = "state store " + dir.string() + ": " + std::string(doing) + ": " +
                              mdb_strerror(rc);
        if (rc == MDB_MAP_FULL) {
            message += " - the LMDB map (" + std::to_string(map_size) +
                       " bytes) is full; raise state_store::options::map_size";
        }
        return store_error{std::move(message)};
    }

    [[nodiscard]] store_error corrupt(std::string_view what, std::string_view why) const {
        return store_error{"state store corrupt: " + std::string(what) + " " + std::string(why) +
                           "; rebuild it from offset 0 by deleting " + dir.string()};
    }

    [[nodiscard]] static result<void, store_error> check_id(std::string_view id) {
        if (id.empty() || id.size() > max_id_size) {
            return fail(store_error{"state store: aggregate id of " + std::to_string(id.size()) +
                                    " bytes; ids must be 1-" + std::to_string(max_id_size) +
                                    " bytes"});
        }
        return {};
    }

    // ---- reads, shared by read transactions and write batches ----

    result<std::optional<std::string>, store_error> get_identity(MDB_txn* txn) const {
        MDB_val k = val_of(identity_key);
        MDB_val v;
        const int rc = mdb_get(txn, meta, &k, &v);
        if (rc == MDB_NOTFOUND) return std::nullopt;
        if (rc != 0) return fail(mdb_failure(rc, "reading the log identity"));
        return std::string(static_cast<const char*>(v.mv_data), v.mv_size);
    }

    result<std::optional<stored_aggregate>, store_error> get_aggregate(MDB_txn* txn, context ctx,
                                                                       std::string_view id) const {
        if (auto ok = check_id(id); !ok) return fail(ok.error());
        const auto key = aggregate_key(ctx, id);
        MDB_val k = val_of(key);
        MDB_val v;
        const int rc = mdb_get(txn, aggregates, &k, &v);
        if (rc == MDB_NOTFOUND) return std::nullopt;
        if (rc != 0) return fail(mdb_failure(rc, "loading " + describe(ctx, id)));
        auto decoded = decode_record(bytes_of(v));
        if (!decoded) return fail(corrupt("the record of " + describe(ctx, id), decoded.error()));
        return std::move(*decoded);
    }

    result<std::vector<commit_location>, store_error> get_commits(MDB_txn* txn, context ctx,
                                                                  std::string_view id,
                                                                  std::uint64_t up_to) const {
        if (auto ok = check_id(id); !ok) return fail(ok.error());
        const std::string doing = "reading the commits of " + describe(ctx, id);
        MDB_cursor* raw = nullptr;
        if (const int rc = mdb_cursor_open(txn, commits, &raw); rc != 0) {
            return fail(mdb_failure(rc, doing));
        }
        const std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(raw,
                                                                              &mdb_cursor_close);
        const auto prefix = aggregate_key(ctx, id);
        const auto first = commit_key(ctx, id, 0);
        MDB_val k = val_of(first);
        MDB_val v;
        std::vector<commit_location> out;
        for (int rc = mdb_cursor_get(raw, &k, &v, MDB_SET_RANGE); rc != MDB_NOTFOUND;
             rc = mdb_cursor_get(raw, &k, &v, MDB_NEXT)) {
            if (rc != 0) return fail(mdb_failure(rc, doing));
            const std::span<const std::uint8_t> key = bytes_of(k);
            if (key.size() < prefix.size() ||
                std::memcmp(key.data(), prefix.data(), prefix.size()) != 0) {
                break;  // past this aggregate's keys
            }
            if (key.size() != prefix.size() + 8) {
                return fail(corrupt("a commit key of " + describe(ctx, id),
                                    "has " + std::to_string(key.size()) + " bytes"));
            }
            const auto first_version = get_be<std::uint64_t>(key.data() + prefix.size());
            if (first_version > up_to) break;
            const std::span<const std::uint8_t> value = bytes_of(v);
            if (value.size() != commit_value_size) {
                return fail(corrupt("the commit at version " + std::to_string(first_version) +
                                        " of " + describe(ctx, id),
                                    "has " + std::to_string(value.size()) + " bytes, not 16"));
            }
            out.push_back(commit_location{
                first_version, get_be<std::uint32_t>(value.data()),
                position{static_cast<std::int32_t>(get_be<std::uint32_t>(value.data() + 4)),
                         static_cast<std::int64_t>(get_be<std::uint64_t>(value.data() + 8))}});
        }
        return out;
    }

    result<std::map<std::int32_t, std::int64_t>, store_error> get_checkpoints(MDB_txn* txn,
                                                                             context ctx) const {
        const std::string doing = "reading the " + std::string(name_of(ctx)) + " checkpoints";
        MDB_cursor* raw = nullptr;
        if (const int rc = mdb_cursor_open(txn, checkpoints, &raw); rc != 0) {
            return fail(mdb_failure(rc, doing));
        }
        const std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(raw,
                                                                              &mdb_cursor_close);
        const std::string first(1, static_cast<char>(ctx));
        MDB_val k = val_of(first);
        MDB_val v;
        std::map<std::int32_t, std::int64_t> out;
        for (int rc = mdb_cursor_get(raw, &k, &v, MDB_SET_RANGE); rc != MDB_NOTFOUND;
             rc = mdb_cursor_get(raw, &k, &v, MDB_NEXT)) {
            if (rc != 0) return fail(mdb_failure(rc, doing));
            const std::span<const std::uint8_t> key = bytes_of(k);
            if (key.empty() || key[0] != static_cast<std::uint8_t>(ctx)) break;
            if (key.size() != 5 || v.mv_size != 8) {
                return fail(corrupt("a " + std::string(name_of(ctx)) + " checkpoint",
                                    "has a " + std::to_string(key.size()) + "-byte key and a " +
                                        std::to_string(v.mv_size) + "-byte value"));
            }
            out.emplace(static_cast<std::int32_t>(get_be<std::uint32_t>(key.data() + 1)),
                        static_cast<std::int64_t>(get_be<std::uint64_t>(bytes_of(v).data())));
        }
        return out;
    }

    // A short read-only transaction around `read(txn)`.
    template <class F>
    auto read(F&& fn) const -> decltype(fn(static_cast<MDB_txn*>(nullptr))) {
        MDB_txn* txn = nullptr;
        if (const int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn); rc != 0) {
            return fail(mdb_failure(rc, "beginning a read transaction"));
        }
        // Read-only: aborting is how it ends; nothing to commit.
        const std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> guard(txn, &mdb_txn_abort);
        return std::forward<F>(fn)(txn);
    }
};

struct write_batch::impl {
    state_store::impl* store = nullptr;
    MDB_txn* txn = nullptr;  // null once committed or aborted
    std::thread::id owner;
    // The first failed write: LMDB leaves a transaction unusable after one, so the
    // batch refuses everything after it with the original reason.
    std::optional<store_error> failed;

    impl(state_store::impl* s, MDB_txn* t) : store(s), txn(t), owner(std::this_thread::get_id()) {}
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
    ~impl() {
        if (txn != nullptr) {
            release_writer();
            mdb_txn_abort(txn);
        }
    }

    // Before the transaction ends, so the next writer (which can only begin after it
    // ends) is never overwritten.
    void release_writer() const {
        const std::lock_guard lock(store->writer_mutex);
        if (store->writer == owner) store->writer = std::thread::id{};
    }

    [[nodiscard]] result<MDB_txn*, store_error> usable() const {
        if (failed) {
            return fail(store_error{failed->message +
                                    " (an earlier write of this batch failed; it can only be "
                                    "dropped)"});
        }
        if (txn == nullptr) {
            return fail(store_error{"state store " + store->dir.string() +
                                    ": write_batch used after commit()"});
        }
        return txn;
    }

    // `doing` describes the write for an error message; it is only called on failure,
    // so the hot path builds no strings.
    template <class Describe>
    result<void, store_error> put(MDB_dbi dbi, std::string_view key, std::string_view value,
                                  const Describe& doing) {
        auto t = usable();
        if (!t) return fail(t.error());
        MDB_val k = val_of(key);
        MDB_val v = val_of(value);
        if (const int rc = mdb_put(*t, dbi, &k, &v, 0); rc != 0) {
            failed = store->mdb_failure(rc, doing());
            return fail(*failed);
        }
        return {};
    }
};

// ---- state_store ---------------------------------------------------------------------

state_store::state_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
state_store::~state_store() = default;

const std::filesystem::path& state_store::directory() const noexcept { return impl_->dir; }

result<std::unique_ptr<state_store>, store_error> state_store::open(
    const std::filesystem::path& dir, options opts) {
    auto p = std::make_unique<impl>();
    p->dir = dir;
    p->map_size = opts.map_size;

    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return fail(store_error{"state store " + dir.string() +
                                ": creating the directory: " + ec.message()});
    }
    auto canonical = std::filesystem::canonical(dir, ec);
    if (ec) {
        return fail(store_error{"state store " + dir.string() + ": resolving the directory: " +
                                ec.message()});
    }
    {
        const std::lock_guard lock(open_dirs_mutex);
        if (!open_dirs.insert(canonical).second) {
            return fail(store_error{"state store " + dir.string() +
                                    " is already open in this process; LMDB allows one "
                                    "environment per directory per process"});
        }
    }
    p->registered = std::move(canonical);

    if (const int rc = mdb_env_create(&p->env); rc != 0) {
        p->env = nullptr;
        return fail(p->mdb_failure(rc, "creating the LMDB environment"));
    }
    if (const int rc = mdb_env_set_maxdbs(p->env, 8); rc != 0) {
        return fail(p->mdb_failure(rc, "setting the number of databases"));
    }
    if (const int rc = mdb_env_set_mapsize(p->env, static_cast<std::size_t>(opts.map_size));
        rc != 0) {
        return fail(p->mdb_failure(rc, "setting the map size to " + std::to_string(opts.map_size)));
    }
    // MDB_NOTLS: read transactions are not bound to a thread's slot, so any thread may
    // read and a thread may hold several. MDB_NOMETASYNC still fsyncs the data at every
    // commit and leaves the meta page to the next one: a machine crash can undo the last
    // batch, which the tail re-applies from the log.
    unsigned int flags = MDB_NOTLS;
    flags |= opts.durability == durability::relaxed ? MDB_NOSYNC : MDB_NOMETASYNC;
    if (const int rc = mdb_env_open(p->env, dir.c_str(), flags, 0644); rc != 0) {
        return fail(p->mdb_failure(rc, "opening the LMDB environment"));
    }

    // Open (creating) the databases and check the format in one write transaction, so a
    // store either has all of them and a format, or nothing.
    MDB_txn* txn = nullptr;
    if (const int rc = mdb_txn_begin(p->env, nullptr, 0, &txn); rc != 0) {
        return fail(p->mdb_failure(rc, "beginning the opening transaction"));
    }
    std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> guard(txn, &mdb_txn_abort);
    const std::array<std::pair<const char*, MDB_dbi*>, 4> dbs{{{"meta", &p->meta},
                                                               {"aggregates", &p->aggregates},
                                                               {"commits", &p->commits},
                                                               {"checkpoints", &p->checkpoints}}};
    for (const auto& [name, dbi] : dbs) {
        if (const int rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi); rc != 0) {
            return fail(p->mdb_failure(rc, std::string("opening the database ") + name));
        }
    }
    MDB_val k = val_of(format_key);
    MDB_val v;
    const int rc = mdb_get(txn, p->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        // Only a store this transaction just created has no format.
        std::string value;
        put_be(value, store_format);
        MDB_val nv = val_of(value);
        if (const int prc = mdb_put(txn, p->meta, &k, &nv, 0); prc != 0) {
            return fail(p->mdb_failure(prc, "writing the store format"));
        }
    } else if (rc != 0) {
        return fail(p->mdb_failure(rc, "reading the store format"));
    } else {
        const auto bytes = bytes_of(v);
        const std::string found = bytes.size() == 4
                                      ? std::to_string(get_be<std::uint32_t>(bytes.data()))
                                      : "unreadable (" + std::to_string(bytes.size()) + " bytes)";
        if (bytes.size() != 4 || get_be<std::uint32_t>(bytes.data()) != store_format) {
            return fail(store_error{
                "state store " + dir.string() + " has format " + found +
                "; this build reads format " + std::to_string(store_format) +
                ". Delete the directory to rebuild the store from offset 0"});
        }
    }
    if (const int crc = mdb_txn_commit(guard.release()); crc != 0) {
        return fail(p->mdb_failure(crc, "committing the opening transaction"));
    }
    return std::unique_ptr<state_store>(new state_store(std::move(p)));
}

result<std::optional<std::string>, store_error> state_store::log_identity() const {
    return impl_->read([&](MDB_txn* txn) { return impl_->get_identity(txn); });
}

result<std::optional<stored_aggregate>, store_error> state_store::load(
    context ctx, std::string_view aggregate_id) const {
    return impl_->read([&](MDB_txn* txn) { return impl_->get_aggregate(txn, ctx, aggregate_id); });
}

result<std::vector<commit_location>, store_error> state_store::commit_locations(
    context ctx, std::string_view aggregate_id, std::uint64_t up_to_version) const {
    return impl_->read(
        [&](MDB_txn* txn) { return impl_->get_commits(txn, ctx, aggregate_id, up_to_version); });
}

result<std::map<std::int32_t, std::int64_t>, store_error> state_store::checkpoints(
    context ctx) const {
    return impl_->read([&](MDB_txn* txn) { return impl_->get_checkpoints(txn, ctx); });
}

result<write_batch, store_error> state_store::begin_write() {
    {
        const std::lock_guard lock(impl_->writer_mutex);
        if (impl_->writer == std::this_thread::get_id()) {
            return fail(store_error{"state store " + impl_->dir.string() +
                                    ": begin_write() on a thread whose write_batch is still open "
                                    "(it would wait for itself)"});
        }
    }
    MDB_txn* txn = nullptr;
    // Blocks while another thread's batch is open: LMDB allows one write transaction.
    if (const int rc = mdb_txn_begin(impl_->env, nullptr, 0, &txn); rc != 0) {
        return fail(impl_->mdb_failure(rc, "beginning a write transaction"));
    }
    {
        const std::lock_guard lock(impl_->writer_mutex);
        impl_->writer = std::this_thread::get_id();
    }
    return write_batch(std::make_unique<write_batch::impl>(impl_.get(), txn));
}

// ---- write_batch ---------------------------------------------------------------------

write_batch::write_batch(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
write_batch::write_batch(write_batch&&) noexcept = default;
write_batch& write_batch::operator=(write_batch&&) noexcept = default;
write_batch::~write_batch() = default;

namespace {
store_error moved_from() { return store_error{"state store: write_batch used after a move"}; }
}  // namespace

result<std::optional<stored_aggregate>, store_error> write_batch::load(
    context ctx, std::string_view aggregate_id) {
    if (!impl_) return fail(moved_from());
    auto txn = impl_->usable();
    if (!txn) return fail(txn.error());
    return impl_->store->get_aggregate(*txn, ctx, aggregate_id);
}

result<void, store_error> write_batch::put(context ctx, std::string_view aggregate_id,
                                           const stored_aggregate& aggregate) {
    if (!impl_) return fail(moved_from());
    if (auto ok = state_store::impl::check_id(aggregate_id); !ok) return ok;
    return impl_->put(impl_->store->aggregates, aggregate_key(ctx, aggregate_id),
                      encode_record(aggregate), [&] { return "writing " + describe(ctx, aggregate_id); });
}

result<void, store_error> write_batch::add_commit_location(context ctx,
                                                           std::string_view aggregate_id,
                                                           const commit_location& location) {
    if (!impl_) return fail(moved_from());
    if (auto ok = state_store::impl::check_id(aggregate_id); !ok) return ok;
    small_bytes<commit_value_size> value;
    put_be(value, location.event_count);
    put_be(value, static_cast<std::uint32_t>(location.at.partition));
    put_be(value, static_cast<std::uint64_t>(location.at.offset));
    return impl_->put(impl_->store->commits, commit_key(ctx, aggregate_id, location.first_version),
                      value, [&] {
                          return "writing the commit at version " + std::to_string(location.first_version) +
                                 " of " + describe(ctx, aggregate_id);
                      });
}

result<void, store_error> write_batch::set_checkpoint(context ctx, std::int32_t partition,
                                                      std::int64_t next_offset) {
    if (!impl_) return fail(moved_from());
    // Kafka's partitions and offsets are never negative; a negative one here is a
    // logical offset (OFFSET_END, ...) that slipped through, and would resume wrongly.
    if (partition < 0 || next_offset < 0) {
        return fail(store_error{"state store: checkpoint " + std::to_string(partition) + ":" +
                                std::to_string(next_offset) +
                                " refused: partitions and offsets are never negative"});
    }
    small_bytes<8> value;
    put_be(value, static_cast<std::uint64_t>(next_offset));
    return impl_->put(impl_->store->checkpoints, checkpoint_key(ctx, partition), value, [&] {
        return "writing the " + std::string(name_of(ctx)) + " checkpoint of partition " + std::to_string(partition);
    });
}

result<void, store_error> write_batch::set_log_identity(std::string_view identity) {
    if (!impl_) return fail(moved_from());
    return impl_->put(impl_->store->meta, identity_key, identity,
                      [] { return std::string("writing the log identity"); });
}

result<void, store_error> write_batch::commit() {
    if (!impl_) return fail(moved_from());
    auto txn = impl_->usable();
    if (!txn) return fail(txn.error());
    impl_->release_writer();
    impl_->txn = nullptr;  // LMDB frees the transaction whether the commit succeeds or not
    if (const int rc = mdb_txn_commit(*txn); rc != 0) {
        return fail(impl_->store->mdb_failure(rc, "committing a write batch"));
    }
    return {};
}

}  // namespace shopstream::eventstore
