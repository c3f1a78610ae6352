// The LMDB state store (contract in state_store.hpp). LMDB does the hard parts -
// transactions, one writer at a time, MVCC snapshots for readers, crash safety - through
// the project's wrapper (eventstore/lmdb/lmdb.hpp); this file only lays keys and values
// out and turns every LMDB failure into a store_error that says what was being done.
//
// Layout: one environment per directory with four named databases
//   meta         "format" -> big-endian u32 store format; "log-identity" -> bytes
//   aggregates   ctx u8, id length u8, id                    -> aggregate_record (SSAG)
//   commits      ctx u8, id length u8, id, first_version u64 -> commit_entry (SSCE): event
//                count, partition, offset, the headers a history shows, the commit's bytes
//   checkpoints  ctx u8, partition i32                       -> next offset i64
//   members      ctx u8, id length u8, id, member            -> value (a side index)
// Every integer is big-endian, so LMDB's bytewise key order is the numeric order and a
// cursor range scan yields an aggregate's commits in version order. The id's length byte
// keeps "a" and "ab" apart in range scans (the prefix of one is never the prefix of the
// other's keys) and is why ids are limited to 255 bytes.

#include "eventstore/state_store.hpp"

#include <flatbuffers/flatbuffers.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <span>
#include <stdexcept>
#include <thread>
#include <utility>

#include "eventstore/lmdb/lmdb.hpp"
#include "eventstore/state_record_generated.h"

namespace shopstream::eventstore {
namespace {

namespace fbs = shopstream::fb::store;

// Bump when the layout above or aggregate_record changes incompatibly. The store is
// rebuilt from the log rather than migrated.
// Format 2: commit entries carry the commit's bytes and headers (decision 2, changed).
constexpr std::uint32_t store_format = 2;

constexpr std::string_view format_key = "format";
constexpr std::string_view identity_key = "log-identity";
constexpr std::size_t max_id_size = 255;
// Keeps a member key (2 + 255 + 200 bytes) within LMDB's default 511-byte key limit.
constexpr std::size_t max_member_size = 200;
constexpr const char* commit_entry_identifier = "SSCE";

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

std::span<const std::uint8_t> bytes_of(std::string_view v) {
    return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size()};
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

using member_key_bytes = small_bytes<2 + max_id_size + max_member_size>;

// Precondition: check_id(id) and check_member(member) passed.
member_key_bytes member_key(context ctx, std::string_view id, std::string_view member) {
    member_key_bytes key;
    key.append(aggregate_key(ctx, id));
    key.append(member);
    return key;
}

small_bytes<5> checkpoint_key(context ctx, partition_id partition) {
    small_bytes<5> key;
    key.push_back(static_cast<char>(ctx));
    put_be(key, static_cast<std::uint32_t>(partition.value()));
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
            fbs::Createapplied_command(b, id, c.version, c.at.partition.value(), c.at.offset.value()));
    }
    const auto commands_vec = b.CreateVector(commands);
    const auto snapshot = b.CreateVector(a.snapshot);
    const auto root =
        fbs::Createaggregate_record(b, a.head.version, a.partition.value(), commands_vec, snapshot);
    b.FinishSizePrefixed(root, fbs::aggregate_recordIdentifier());
    return {reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()};
}

// A size-prefixed FlatBuffers value as LMDB hands it out, checked and ready to read:
// LMDB aligns values to 2 bytes only and FlatBuffers reads scalars in place, so a
// misaligned value is copied into `aligned_copy` first. `verify` runs the verifier.
template <class Verify>
result<const std::uint8_t*, std::string> open_value(std::span<const std::uint8_t> bytes, std::string_view what,
                                                    std::vector<std::uint8_t>& aligned_copy, Verify verify) {
    constexpr std::size_t prefix_size = sizeof(flatbuffers::uoffset_t);
    if (bytes.size() < prefix_size + sizeof(flatbuffers::uoffset_t) + flatbuffers::kFileIdentifierLength ||
        bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
        return fail(std::to_string(bytes.size()) + " bytes cannot hold " + std::string(what));
    }
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
    if (!verify(verifier)) return fail("refused by the FlatBuffers verifier (" + std::string(what) + ")");
    return data;
}

// The reason a record cannot be read, or the aggregate.
result<stored_aggregate, std::string> decode_record(std::span<const std::uint8_t> bytes) {
    std::vector<std::uint8_t> aligned_copy;
    auto opened = open_value(bytes, "an aggregate record, identifier \"SSAG\"", aligned_copy,
                             [](flatbuffers::Verifier& v) { return fbs::VerifySizePrefixedaggregate_recordBuffer(v); });
    if (!opened) return fail(std::move(opened.error()));
    const std::uint8_t* data = *opened;
    const auto* root = fbs::GetSizePrefixedaggregate_record(data);
    stored_aggregate out;
    out.head.version = root->version();
    out.partition = partition_id(root->partition());
    if (const auto* commands = root->recent_commands()) {
        out.head.recent_commands.reserve(commands->size());
        for (const auto* c : *commands) {
            if (c->command_id() == nullptr) return fail(std::string("a recent command has no id"));
            out.head.recent_commands.push_back(applied_command{
                c->command_id()->str(), c->version(), position{partition_id(c->partition()), log_offset(c->offset())}});
        }
    }
    if (const auto* snapshot = root->snapshot()) {
        out.snapshot.assign(snapshot->begin(), snapshot->end());
    }
    return out;
}

// ---- commit entries ------------------------------------------------------------------

std::string encode_entry(const stored_commit& c) {
    const auto& h = c.headers;
    flatbuffers::FlatBufferBuilder b(128 + c.record.size() + h.correlation_id.size() + h.causation_id.size() +
                                     h.actor.size() + h.traceparent.size() + h.command_type.size());
    auto str = [&](const std::string& v) { return v.empty() ? flatbuffers::Offset<flatbuffers::String>() : b.CreateString(v); };
    const auto command_type = str(h.command_type);
    const auto correlation = str(h.correlation_id);
    const auto causation = str(h.causation_id);
    const auto actor = str(h.actor);
    const auto traceparent = str(h.traceparent);
    // At an 8-byte boundary of the entry, so a reader decodes the commit in place.
    b.ForceVectorAlignment(c.record.size(), sizeof(std::uint8_t), alignof(std::uint64_t));
    const auto record = b.CreateVector(c.record);
    const auto root = fbs::Createcommit_entry(b, c.location.event_count, c.location.at.partition.value(), c.location.at.offset.value(),
                                              h.timestamp_ms, command_type, correlation, causation, actor, traceparent,
                                              record);
    b.FinishSizePrefixed(root, commit_entry_identifier);
    return {reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()};
}

// The entry at `first_version`, read in place. `scratch` holds the aligned copy of a
// misaligned value and `record_scratch` that of a record an older build did not align
// (see encode_entry); both are reused across a range scan, so it allocates once at most.
result<stored_commit_view, std::string> view_entry(std::span<const std::uint8_t> bytes, std::uint64_t first_version,
                                                   std::vector<std::uint8_t>& scratch,
                                                   std::vector<std::uint8_t>& record_scratch) {
    auto opened = open_value(bytes, "a commit entry, identifier \"SSCE\"", scratch, [](flatbuffers::Verifier& v) {
        return v.VerifySizePrefixedBuffer<fbs::commit_entry>(commit_entry_identifier);
    });
    if (!opened) return fail(std::move(opened.error()));
    const auto* root = flatbuffers::GetSizePrefixedRoot<fbs::commit_entry>(*opened);
    auto text = [](const flatbuffers::String* v) { return v == nullptr ? std::string_view() : v->string_view(); };
    stored_commit_view out{
        commit_location{first_version, root->event_count(), position{partition_id(root->partition()), log_offset(root->offset())}},
        commit_headers_view{root->timestamp_ms(), text(root->command_type()), text(root->correlation_id()),
                            text(root->causation_id()), text(root->actor()), text(root->traceparent())},
        {}};
    if (const auto* record = root->record()) {
        out.record = {record->data(), record->size()};
        if (reinterpret_cast<std::uintptr_t>(record->data()) % alignof(std::uint64_t) != 0) {
            record_scratch.assign(out.record.begin(), out.record.end());
            out.record = record_scratch;
        }
    }
    return out;
}

}  // namespace

const char* category_name(store_errc) noexcept { return "shopstream.state_store"; }

std::string_view describe(store_errc e) noexcept {
    switch (e) {
        case store_errc::io: return "an LMDB operation of the state store failed";
        case store_errc::full: return "the state store's LMDB map is full";
        case store_errc::corrupt: return "the state store holds a record it cannot read";
        case store_errc::invalid_argument: return "an id, member or checkpoint the state store refuses";
        case store_errc::wrong_format: return "the state store directory holds another format";
        case store_errc::misuse: return "a write batch used out of turn";
    }
    return "unknown state store error";
}

// ---- implementation state ------------------------------------------------------------

struct state_store::impl {
    std::filesystem::path dir;
    std::uint64_t map_size = 0;
    lmdb::env env;
    MDB_dbi meta = 0;
    MDB_dbi aggregates = 0;
    MDB_dbi commits = 0;
    MDB_dbi checkpoints = 0;
    MDB_dbi members = 0;

    // Only to turn a same-thread second begin_write() into an error: LMDB's writer lock
    // is not recursive, so it would deadlock.
    std::mutex writer_mutex;
    std::thread::id writer;

    impl(std::filesystem::path d, std::uint64_t size, lmdb::env e)
        : dir(std::move(d)), map_size(size), env(std::move(e)) {}
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    [[nodiscard]] store_error mdb_failure(const lmdb::error& e, std::string_view doing) const {
        std::string message = "state store " + dir.string() + ": " + std::string(doing) + ": " +
                              e.message;
        if (e.code == lmdb::errc::map_full) {
            message += " - the LMDB map (" + std::to_string(map_size) +
                       " bytes) is full; raise state_store::options::map_size";
        }
        return store_error{e.code == lmdb::errc::map_full ? store_errc::full : store_errc::io, std::move(message)};
    }

    [[nodiscard]] store_error corrupt(std::string_view what, std::string_view why) const {
        return store_error{store_errc::corrupt, "state store corrupt: " + std::string(what) + " " + std::string(why) +
                           "; rebuild it from offset 0 by deleting " + dir.string()};
    }

    [[nodiscard]] static result<void, store_error> check_id(std::string_view id) {
        if (id.empty() || id.size() > max_id_size) {
            return fail(store_error{store_errc::invalid_argument, "state store: aggregate id of " + std::to_string(id.size()) +
                                    " bytes; ids must be 1-" + std::to_string(max_id_size) +
                                    " bytes"});
        }
        return {};
    }

    [[nodiscard]] static result<void, store_error> check_member(std::string_view member) {
        if (member.empty() || member.size() > max_member_size) {
            return fail(store_error{store_errc::invalid_argument, "state store: side-index member of " + std::to_string(member.size()) +
                                    " bytes; members must be 1-" + std::to_string(max_member_size) + " bytes"});
        }
        return {};
    }

    // ---- reads, shared by read transactions and write batches ----

    result<std::optional<std::string>, store_error> get_member(const lmdb::txn& txn, context ctx, std::string_view id,
                                                               std::string_view member) const {
        if (auto ok = check_id(id); !ok) return fail(ok.error());
        if (auto ok = check_member(member); !ok) return fail(ok.error());
        auto got = txn.get(members, member_key(ctx, id, member));
        if (!got) return fail(mdb_failure(got.error(), "reading the side index of " + describe(ctx, id)));
        if (!*got) return std::nullopt;
        return std::string(**got);
    }

    result<std::vector<member_entry>, store_error> get_members(const lmdb::txn& txn, context ctx,
                                                               std::string_view id) const {
        if (auto ok = check_id(id); !ok) return fail(ok.error());
        const std::string doing = "reading the side index of " + describe(ctx, id);
        auto cursor = txn.open_cursor(members);
        if (!cursor) return fail(mdb_failure(cursor.error(), doing));
        const auto prefix = aggregate_key(ctx, id);
        std::vector<member_entry> out;
        for (auto at = cursor->seek(prefix);; at = cursor->next()) {
            if (!at) return fail(mdb_failure(at.error(), doing));
            if (!*at || !(*at)->first.starts_with(std::string_view(prefix))) break;
            out.push_back(member_entry{std::string((*at)->first.substr(prefix.size())), std::string((*at)->second)});
        }
        return out;
    }

    result<std::optional<std::string>, store_error> get_identity(const lmdb::txn& txn) const {
        auto got = txn.get(meta, identity_key);
        if (!got) return fail(mdb_failure(got.error(), "reading the log identity"));
        if (!*got) return std::nullopt;
        return std::string(**got);
    }

    result<std::optional<stored_aggregate>, store_error> get_aggregate(const lmdb::txn& txn,
                                                                       context ctx,
                                                                       std::string_view id) const {
        if (auto ok = check_id(id); !ok) return fail(ok.error());
        auto got = txn.get(aggregates, aggregate_key(ctx, id));
        if (!got) return fail(mdb_failure(got.error(), "loading " + describe(ctx, id)));
        if (!*got) return std::nullopt;
        auto decoded = decode_record(bytes_of(**got));
        if (!decoded) return fail(corrupt("the record of " + describe(ctx, id), decoded.error()));
        return std::move(*decoded);
    }

    result<void, store_error> visit_commits_in(const lmdb::txn& txn, context ctx, std::string_view id,
                                               std::uint64_t up_to,
                                               function_ref<bool(const stored_commit_view&)> visit) const {
        if (auto ok = check_id(id); !ok) return fail(ok.error());
        auto doing = [&] { return "reading the commits of " + describe(ctx, id); };
        auto cursor = txn.open_cursor(commits);
        if (!cursor) return fail(mdb_failure(cursor.error(), doing()));
        const auto prefix = aggregate_key(ctx, id);
        std::vector<std::uint8_t> scratch;
        std::vector<std::uint8_t> record_scratch;
        for (auto at = cursor->seek(commit_key(ctx, id, 0));; at = cursor->next()) {
            if (!at) return fail(mdb_failure(at.error(), doing()));
            if (!*at) break;
            const std::span<const std::uint8_t> key = bytes_of((*at)->first);
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
            auto entry = view_entry(bytes_of((*at)->second), first_version, scratch, record_scratch);
            if (!entry) {
                return fail(corrupt("the commit at version " + std::to_string(first_version) + " of " + describe(ctx, id),
                                    entry.error()));
            }
            if (!visit(*entry)) break;
        }
        return {};
    }

    result<std::map<partition_id, log_offset>, store_error> get_checkpoints(
        const lmdb::txn& txn, context ctx) const {
        const std::string doing = "reading the " + std::string(name_of(ctx)) + " checkpoints";
        auto cursor = txn.open_cursor(checkpoints);
        if (!cursor) return fail(mdb_failure(cursor.error(), doing));
        std::map<partition_id, log_offset> out;
        for (auto at = cursor->seek(std::string(1, static_cast<char>(ctx)));; at = cursor->next()) {
            if (!at) return fail(mdb_failure(at.error(), doing));
            if (!*at) break;
            const std::span<const std::uint8_t> key = bytes_of((*at)->first);
            const std::span<const std::uint8_t> value = bytes_of((*at)->second);
            if (key.empty() || key[0] != static_cast<std::uint8_t>(ctx)) break;
            if (key.size() != 5 || value.size() != 8) {
                return fail(corrupt("a " + std::string(name_of(ctx)) + " checkpoint",
                                    "has a " + std::to_string(key.size()) + "-byte key and a " +
                                        std::to_string(value.size()) + "-byte value"));
            }
            out.emplace(partition_id(static_cast<std::int32_t>(get_be<std::uint32_t>(key.data() + 1))),
                        log_offset(static_cast<std::int64_t>(get_be<std::uint64_t>(value.data()))));
        }
        return out;
    }

    // A short read-only transaction around `read(txn)`; aborting is how it ends.
    template <class F>
    auto read(F&& fn) const -> decltype(fn(std::declval<const lmdb::txn&>())) {
        auto txn = env.begin_read();
        if (!txn) return fail(mdb_failure(txn.error(), "beginning a read transaction"));
        return std::forward<F>(fn)(*txn);
    }
};

struct write_batch::impl {
    state_store::impl* store = nullptr;
    lmdb::txn txn;  // not open once committed or aborted
    std::thread::id owner;
    // The first failed write: LMDB leaves a transaction unusable after one, so the
    // batch refuses everything after it with the original reason.
    std::optional<store_error> failed;

    impl(state_store::impl* s, lmdb::txn t)
        : store(s), txn(std::move(t)), owner(std::this_thread::get_id()) {}
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
    ~impl() {
        if (txn.is_open()) {
            release_writer();
            txn.abort();
        }
    }

    // Before the transaction ends, so the next writer (which can only begin after it
    // ends) is never overwritten.
    void release_writer() const {
        const std::lock_guard lock(store->writer_mutex);
        if (store->writer == owner) store->writer = std::thread::id{};
    }

    [[nodiscard]] result<lmdb::txn*, store_error> usable() {
        if (failed) {
            return fail(store_error{failed->code, failed->message +
                                    " (an earlier write of this batch failed; it can only be "
                                    "dropped)"});
        }
        if (!txn.is_open()) {
            return fail(store_error{store_errc::misuse, "state store " + store->dir.string() +
                                                           ": write_batch used after commit()"});
        }
        return &txn;
    }

    // `doing` describes the write for an error message; it is only called on failure,
    // so the hot path builds no strings.
    template <class Describe>
    result<void, store_error> put(MDB_dbi dbi, std::string_view key, std::string_view value,
                                  const Describe& doing) {
        auto t = usable();
        if (!t) return fail(t.error());
        if (auto put = (*t)->put(dbi, key, value); !put) {
            failed = store->mdb_failure(put.error(), doing());
            return fail(*failed);
        }
        return {};
    }
};

// ---- state_store ---------------------------------------------------------------------

state_store::state_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
state_store::~state_store() = default;

const std::filesystem::path& state_store::directory() const noexcept { return impl_->dir; }

unsigned int state_store::environment_flags() const noexcept { return impl_->env.flags(); }

result<std::unique_ptr<state_store>, store_error> state_store::open(
    const std::filesystem::path& dir, options opts) {
    // relaxed: MDB_NOSYNC, synced: MDB_NOMETASYNC (see durability in state_store.hpp).
    const auto mode = opts.durability == durability::relaxed ? lmdb::durability::relaxed
                                                             : lmdb::durability::synced;
    auto env = lmdb::env::open(dir, {.map_size = opts.map_size, .max_dbs = 8, .durability = mode});
    if (!env) return fail(store_error{store_errc::io, "state store " + dir.string() + ": " + env.error().message});
    auto p = std::make_unique<impl>(dir, opts.map_size, std::move(*env));

    // Open (creating) the databases and check the format in one write transaction, so a
    // store either has all of them and a format, or nothing.
    auto txn = p->env.begin_write();
    if (!txn) return fail(p->mdb_failure(txn.error(), "beginning the opening transaction"));
    const std::array<std::pair<const char*, MDB_dbi*>, 5> dbs{{{"meta", &p->meta},
                                                               {"aggregates", &p->aggregates},
                                                               {"commits", &p->commits},
                                                               {"checkpoints", &p->checkpoints},
                                                               {"members", &p->members}}};
    for (const auto& [name, dbi] : dbs) {
        auto opened = txn->open_dbi(name);
        if (!opened) {
            return fail(p->mdb_failure(opened.error(), std::string("opening the database ") + name));
        }
        *dbi = *opened;
    }
    auto format = txn->get(p->meta, format_key);
    if (!format) return fail(p->mdb_failure(format.error(), "reading the store format"));
    if (!*format) {
        // Only a store this transaction just created has no format.
        std::string value;
        put_be(value, store_format);
        if (auto put = txn->put(p->meta, format_key, value); !put) {
            return fail(p->mdb_failure(put.error(), "writing the store format"));
        }
    } else {
        const auto bytes = bytes_of(**format);
        const std::string found = bytes.size() == 4
                                      ? std::to_string(get_be<std::uint32_t>(bytes.data()))
                                      : "unreadable (" + std::to_string(bytes.size()) + " bytes)";
        if (bytes.size() != 4 || get_be<std::uint32_t>(bytes.data()) != store_format) {
            return fail(store_error{
                store_errc::wrong_format, "state store " + dir.string() + " has format " + found +
                "; this build reads format " + std::to_string(store_format) +
                ". Delete the directory to rebuild the store from offset 0"});
        }
    }
    if (auto committed = txn->commit(); !committed) {
        return fail(p->mdb_failure(committed.error(), "committing the opening transaction"));
    }
    return std::unique_ptr<state_store>(new state_store(std::move(p)));
}

result<std::optional<std::string>, store_error> state_store::log_identity() const {
    return impl_->read([&](const lmdb::txn& txn) { return impl_->get_identity(txn); });
}

result<std::optional<stored_aggregate>, store_error> state_store::load(
    context ctx, std::string_view aggregate_id) const {
    return impl_->read([&](const lmdb::txn& txn) { return impl_->get_aggregate(txn, ctx, aggregate_id); });
}

result<std::vector<commit_location>, store_error> state_store::commit_locations(
    context ctx, std::string_view aggregate_id, std::uint64_t up_to_version) const {
    std::vector<commit_location> out;
    auto visited = visit_commits(ctx, aggregate_id, up_to_version, [&](const stored_commit_view& c) {
        out.push_back(c.location);
        return true;
    });
    if (!visited) return fail(std::move(visited.error()));
    return out;
}

result<std::vector<stored_commit>, store_error> state_store::commits(context ctx, std::string_view aggregate_id,
                                                                    std::uint64_t up_to_version) const {
    std::vector<stored_commit> out;
    auto visited = visit_commits(ctx, aggregate_id, up_to_version, [&](const stored_commit_view& c) {
        out.push_back({c.location, c.headers.owned(), {c.record.begin(), c.record.end()}});
        return true;
    });
    if (!visited) return fail(std::move(visited.error()));
    return out;
}

result<void, store_error> state_store::visit_commits(context ctx, std::string_view aggregate_id,
                                                     std::uint64_t up_to_version,
                                                     function_ref<bool(const stored_commit_view&)> visit) const {
    return impl_->read(
        [&](const lmdb::txn& txn) { return impl_->visit_commits_in(txn, ctx, aggregate_id, up_to_version, visit); });
}

result<std::map<partition_id, log_offset>, store_error> state_store::checkpoints(
    context ctx) const {
    return impl_->read([&](const lmdb::txn& txn) { return impl_->get_checkpoints(txn, ctx); });
}

result<aggregate_with_member, store_error> state_store::load_with_member(context ctx, std::string_view aggregate_id,
                                                                        std::string_view member) const {
    return impl_->read([&](const lmdb::txn& txn) -> result<aggregate_with_member, store_error> {
        auto aggregate = impl_->get_aggregate(txn, ctx, aggregate_id);
        if (!aggregate) return fail(std::move(aggregate.error()));
        auto value = impl_->get_member(txn, ctx, aggregate_id, member);
        if (!value) return fail(std::move(value.error()));
        return aggregate_with_member{std::move(*aggregate), std::move(*value)};
    });
}

result<std::vector<member_entry>, store_error> state_store::members(context ctx, std::string_view aggregate_id) const {
    return impl_->read([&](const lmdb::txn& txn) { return impl_->get_members(txn, ctx, aggregate_id); });
}

result<write_batch, store_error> state_store::begin_write() {
    {
        const std::lock_guard lock(impl_->writer_mutex);
        if (impl_->writer == std::this_thread::get_id()) {
            return fail(store_error{store_errc::misuse, "state store " + impl_->dir.string() +
                                    ": begin_write() on a thread whose write_batch is still open "
                                    "(it would wait for itself)"});
        }
    }
    // Blocks while another thread's batch is open: LMDB allows one write transaction.
    auto txn = impl_->env.begin_write();
    if (!txn) return fail(impl_->mdb_failure(txn.error(), "beginning a write transaction"));
    {
        const std::lock_guard lock(impl_->writer_mutex);
        impl_->writer = std::this_thread::get_id();
    }
    return write_batch(std::make_unique<write_batch::impl>(impl_.get(), std::move(*txn)));
}

// ---- write_batch ---------------------------------------------------------------------

write_batch::write_batch(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
write_batch::write_batch(write_batch&&) noexcept = default;
write_batch& write_batch::operator=(write_batch&&) noexcept = default;
write_batch::~write_batch() = default;

namespace {
store_error moved_from() { return store_error{store_errc::misuse, "state store: write_batch used after a move"}; }
}  // namespace

result<std::optional<stored_aggregate>, store_error> write_batch::load(
    context ctx, std::string_view aggregate_id) {
    if (!impl_) return fail(moved_from());
    auto txn = impl_->usable();
    if (!txn) return fail(txn.error());
    return impl_->store->get_aggregate(**txn, ctx, aggregate_id);
}

result<void, store_error> write_batch::put(context ctx, std::string_view aggregate_id,
                                           const stored_aggregate& aggregate) {
    if (!impl_) return fail(moved_from());
    if (auto ok = state_store::impl::check_id(aggregate_id); !ok) return ok;
    return impl_->put(impl_->store->aggregates, aggregate_key(ctx, aggregate_id),
                      encode_record(aggregate), [&] { return "writing " + describe(ctx, aggregate_id); });
}

result<void, store_error> write_batch::add_commit(context ctx, std::string_view aggregate_id,
                                                  const stored_commit& commit) {
    if (!impl_) return fail(moved_from());
    if (auto ok = state_store::impl::check_id(aggregate_id); !ok) return ok;
    return impl_->put(impl_->store->commits, commit_key(ctx, aggregate_id, commit.location.first_version),
                      encode_entry(commit), [&] {
                          return "writing the commit at version " + std::to_string(commit.location.first_version) +
                                 " of " + describe(ctx, aggregate_id);
                      });
}

result<void, store_error> write_batch::set_checkpoint(context ctx, partition_id partition,
                                                      log_offset next_offset) {
    if (!impl_) return fail(moved_from());
    // Kafka's partitions and offsets are never negative; a negative one here is a
    // logical offset (OFFSET_END, ...) that slipped through, and would resume wrongly.
    if (partition.value() < 0 || next_offset.value() < 0) {
        return fail(store_error{store_errc::invalid_argument, "state store: checkpoint " + std::to_string(partition.value()) + ":" +
                                std::to_string(next_offset.value()) +
                                " refused: partitions and offsets are never negative"});
    }
    small_bytes<8> value;
    put_be(value, static_cast<std::uint64_t>(next_offset.value()));
    return impl_->put(impl_->store->checkpoints, checkpoint_key(ctx, partition), value, [&] {
        return "writing the " + std::string(name_of(ctx)) + " checkpoint of partition " + std::to_string(partition.value());
    });
}

result<void, store_error> write_batch::put_member(context ctx, std::string_view aggregate_id,
                                                  const member_entry& entry) {
    if (!impl_) return fail(moved_from());
    if (auto ok = state_store::impl::check_id(aggregate_id); !ok) return ok;
    if (auto ok = state_store::impl::check_member(entry.member); !ok) return ok;
    return impl_->put(impl_->store->members, member_key(ctx, aggregate_id, entry.member), entry.value,
                      [&] { return "writing the side index of " + describe(ctx, aggregate_id); });
}

result<std::optional<std::string>, store_error> write_batch::member(context ctx, std::string_view aggregate_id,
                                                                    std::string_view member) {
    if (!impl_) return fail(moved_from());
    auto txn = impl_->usable();
    if (!txn) return fail(txn.error());
    return impl_->store->get_member(**txn, ctx, aggregate_id, member);
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
    if (auto committed = (*txn)->commit(); !committed) {
        return fail(impl_->store->mdb_failure(committed.error(), "committing a write batch"));
    }
    return {};
}

}  // namespace shopstream::eventstore
