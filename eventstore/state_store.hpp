#pragma once
// The aggregate state store (ARCHITECTURE.md decision 2): an LMDB environment per
// process holding, per context,
//   aggregates   aggregate id -> version, recent command ids (with the version and
//                position they applied at), partition, state snapshot
//   commits      (aggregate id, first version) -> where that commit sits in the log,
//                the record headers a history shows and the commit's bytes, so
//                single-aggregate reads and replays are served from here (decision 2)
//                and checked against the log only on demand (aggregate_reader::verify)
//   checkpoints  partition -> next offset to apply
//   members      (aggregate id, member) -> value: an aggregate's side index, the entries
//                its applied events write (eventstore/aggregates.hpp, "side indexes";
//                the review's voters)
// plus the identity of the log it was built from. The tail changes all of it for a
// batch of records in ONE write transaction, so a crash leaves the store at a batch
// boundary and the tail resumes from the checkpoints it wrote with that batch.
//
// Thread-safety: reads may run concurrently from any threads (each opens its own read
// transaction; the environment uses MDB_NOTLS). There is one writer at a time: a
// write_batch must be used by one thread and must not outlive its store, and
// begin_write() blocks while another thread's batch is open.

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/error.hpp"
#include "base/function_ref.hpp"
#include "base/result.hpp"
#include "eventstore/apply_rule.hpp"
#include "eventstore/context.hpp"
#include "eventstore/position.hpp"

namespace shopstream::eventstore {

struct stored_aggregate {
    aggregate_head head;
    partition_id partition{0};
    std::vector<std::uint8_t> snapshot;  // the context's state, as its snapshot codec writes it

    friend bool operator==(const stored_aggregate&, const stored_aggregate&) = default;
};

// One applied commit of an aggregate: versions first_version .. first_version+count-1.
struct commit_location {
    std::uint64_t first_version = 0;
    std::uint32_t event_count = 0;
    position at;

    friend bool operator==(const commit_location&, const commit_location&) = default;
};

// The record headers of an applied commit that its history shows (eventstore/commit.hpp
// names them), and the record's timestamp.
struct commit_headers {
    std::int64_t timestamp_ms = -1;  // -1: unknown
    std::string command_type;
    std::string correlation_id;
    std::string causation_id;
    std::string actor;
    std::string traceparent;

    friend bool operator==(const commit_headers&, const commit_headers&) = default;
};

// One applied commit as the store keeps it.
struct stored_commit {
    commit_location location;
    commit_headers headers;
    std::vector<std::uint8_t> record;  // the commit record's value as the log holds it

    friend bool operator==(const stored_commit&, const stored_commit&) = default;
};

// The same, read in place (state_store::visit_commits): the views point into the read
// transaction's memory or the store's scratch copy, and are valid only inside the
// callback that receives them. `record` starts at an 8-byte boundary, so FlatBuffers
// reads it in place (eventstore::view_commit copies nothing).
struct commit_headers_view {
    std::int64_t timestamp_ms = -1;  // -1: unknown
    std::string_view command_type;
    std::string_view correlation_id;
    std::string_view causation_id;
    std::string_view actor;
    std::string_view traceparent;

    [[nodiscard]] commit_headers owned() const {
        return {timestamp_ms,           std::string(command_type), std::string(correlation_id),
                std::string(causation_id), std::string(actor),     std::string(traceparent)};
    }
};

struct stored_commit_view {
    commit_location location;
    commit_headers_view headers;
    std::span<const std::uint8_t> record;
};

// One entry of an aggregate's side index (eventstore/aggregates.hpp, "side indexes").
struct member_entry {
    std::string member;  // 1-200 bytes
    std::string value;

    friend bool operator==(const member_entry&, const member_entry&) = default;
};

// An aggregate and one entry of its side index, read in one transaction.
struct aggregate_with_member {
    std::optional<stored_aggregate> aggregate;
    std::optional<std::string> member_value;  // nullopt: no entry for the member
};

// Why the state store refused or failed an operation: a code to branch on and the
// message beside it (base/error.hpp), which names the directory and what was being done.
// Reaches logs: values only appended.
enum class store_errc : std::uint8_t {
    io = 1,                // an LMDB operation failed (open, read, write, commit)
    full = 2,              // the LMDB map is full: raise options::map_size
    corrupt = 3,           // a stored record, key or checkpoint does not decode
    invalid_argument = 4,  // an id or member out of bounds, a negative checkpoint
    wrong_format = 5,      // the directory holds another store format: rebuild it
    misuse = 6,            // a write_batch used after commit/failure/move, or nested on one thread
};

[[nodiscard]] const char* category_name(store_errc) noexcept;
[[nodiscard]] std::string_view describe(store_errc e) noexcept;

[[nodiscard]] inline std::error_code make_error_code(store_errc e) noexcept {
    return {static_cast<int>(e), category_of<store_errc>()};
}

using store_error = shopstream::error<store_errc>;

class write_batch;

class state_store {
public:
    enum class durability : std::uint8_t {
        // fsync data at every batch commit (MDB_NOMETASYNC): a machine crash may undo the
        // last batch, never corrupts. Kafka re-applies what was undone.
        synced = 0,
        // no fsync at commit; the OS writes back (MDB_NOSYNC). A process crash loses
        // nothing; a machine crash may corrupt the store (LMDB's documentation of
        // MDB_NOSYNC). Nothing here detects that reliably - a damaged page can crash a
        // reader before any check runs - so after a machine crash such a store must be
        // deleted by hand, which rebuilds it from offset 0. For benchmarks and tests,
        // whose stores never outlive the machine they ran on.
        relaxed = 1,
    };

    struct options {
        std::uint64_t map_size = std::uint64_t{16} << 30;  // address space, not disk
        enum durability durability = durability::synced;
    };

    // Opens (creating if needed) the store in directory `dir`.
    [[nodiscard]] static result<std::unique_ptr<state_store>, store_error> open(
        const std::filesystem::path& dir, options opts);
    [[nodiscard]] static result<std::unique_ptr<state_store>, store_error> open(
        const std::filesystem::path& dir) {
        return open(dir, options{});
    }

    state_store(const state_store&) = delete;
    state_store& operator=(const state_store&) = delete;
    ~state_store();

    // The LMDB flags the environment was opened with (mdb_env_get_flags), so tests and
    // diagnostics can see which durability is in force.
    [[nodiscard]] unsigned int environment_flags() const noexcept;

    // The identity of the log this store was built from; nullopt for a new store.
    [[nodiscard]] result<std::optional<std::string>, store_error> log_identity() const;

    [[nodiscard]] result<std::optional<stored_aggregate>, store_error> load(
        context ctx, std::string_view aggregate_id) const;

    // The aggregate's applied commits, in version order, up to and including the commit
    // that produced `up_to_version`.
    [[nodiscard]] result<std::vector<commit_location>, store_error> commit_locations(
        context ctx, std::string_view aggregate_id,
        std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max()) const;

    // The same commits with their headers and bytes, as add_commit() stored them.
    [[nodiscard]] result<std::vector<stored_commit>, store_error> commits(
        context ctx, std::string_view aggregate_id,
        std::uint64_t up_to_version = std::numeric_limits<std::uint64_t>::max()) const;

    // The same commits again, each handed to `visit` in place, in version order, inside
    // one read transaction: no allocation per commit (what history reads use). `visit`
    // returns false to stop the scan early (the result is then still success). Every
    // entry is verified before `visit` sees it; a corrupt one ends the scan with an error.
    [[nodiscard]] result<void, store_error> visit_commits(context ctx, std::string_view aggregate_id,
                                                          std::uint64_t up_to_version,
                                                          function_ref<bool(const stored_commit_view&)> visit) const;

    // Next offset to apply, per partition that has a checkpoint.
    [[nodiscard]] result<std::map<partition_id, log_offset>, store_error> checkpoints(
        context ctx) const;

    // The aggregate (as load()) and the value of `member` in its side index, as of one
    // transaction: what the command handler decides on.
    [[nodiscard]] result<aggregate_with_member, store_error> load_with_member(context ctx,
                                                                            std::string_view aggregate_id,
                                                                            std::string_view member) const;
    // The aggregate's whole side index, in member order (bytewise): for tests and checks.
    [[nodiscard]] result<std::vector<member_entry>, store_error> members(context ctx,
                                                                       std::string_view aggregate_id) const;

    // Starts the (single) write transaction of a batch.
    [[nodiscard]] result<write_batch, store_error> begin_write();

    [[nodiscard]] const std::filesystem::path& directory() const noexcept;

    struct impl;

private:
    explicit state_store(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

// One LMDB write transaction. Reads through it see its own writes. Aborted by the
// destructor unless commit() succeeded.
class write_batch {
public:
    write_batch(write_batch&&) noexcept;
    write_batch& operator=(write_batch&&) noexcept;
    write_batch(const write_batch&) = delete;
    write_batch& operator=(const write_batch&) = delete;
    ~write_batch();

    [[nodiscard]] result<std::optional<stored_aggregate>, store_error> load(
        context ctx, std::string_view aggregate_id);
    [[nodiscard]] result<void, store_error> put(context ctx, std::string_view aggregate_id,
                                                const stored_aggregate& aggregate);
    [[nodiscard]] result<void, store_error> add_commit(context ctx, std::string_view aggregate_id,
                                                       const stored_commit& commit);
    // A commit known by its location only (no headers, no bytes: its history cannot be
    // served from the store): what tests and benchmarks of the layout need.
    [[nodiscard]] result<void, store_error> add_commit_location(context ctx, std::string_view aggregate_id,
                                                                const commit_location& location) {
        return add_commit(ctx, aggregate_id, stored_commit{location, {}, {}});
    }
    [[nodiscard]] result<void, store_error> set_checkpoint(context ctx, partition_id partition,
                                                           log_offset next_offset);
    // Sets `entry` in the aggregate's side index (replacing the member's value).
    [[nodiscard]] result<void, store_error> put_member(context ctx, std::string_view aggregate_id,
                                                       const member_entry& entry);
    [[nodiscard]] result<std::optional<std::string>, store_error> member(context ctx, std::string_view aggregate_id,
                                                                         std::string_view member);
    [[nodiscard]] result<void, store_error> set_log_identity(std::string_view identity);

    [[nodiscard]] result<void, store_error> commit();

    struct impl;

private:
    friend class state_store;
    explicit write_batch(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::eventstore

template <>
struct std::is_error_code_enum<shopstream::eventstore::store_errc> : std::true_type {};
