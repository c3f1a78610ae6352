#pragma once
// The answers to commands sent with an `Idempotency-Key` (issue #4, ARCHITECTURE.md
// decision 3): a retry with the same key and the same request gets the first answer again
// - same status, same headers that matter (ETag, Location, X-Position), same body - and
// appends nothing; the same key with a different request is refused (422).
//
// Keys are scoped to the principal by the caller (the command id "idem:<principal>:<key>").
// The store is an LMDB environment of its own in the data directory, so answers survive a
// restart. An answer is kept for `retention` (24 h by default, like the payment APIs whose
// convention this follows); older ones are treated as absent and swept out a few at a time
// as new ones are written.
//
// What is recorded: answers the command itself decided (2xx, and the 4xx verdicts of the
// decider and of If-Match). Not recorded: answers that say "try again" (429, 503, 504,
// 500), and requests refused before the command ran (auth, validation) - a client may fix
// and resend those under the same key.
//
// One process's store: a retry that reaches ANOTHER `serve` process is still never applied
// twice (the key fixes the command id and, for a new order, the order id, so the apply rule
// turns it into a duplicate), but it gets the duplicate's answer rather than these bytes,
// and a different body is only caught here.
//
// Durability: every answer's write is fsynced at its commit, the LMDB meta page with
// the next one (MDB_NOMETASYNC). A process crash loses nothing; a machine crash may undo
// the last recorded answer(s), never corrupts the store (LMDB keeps the previous meta
// page valid), and a retry of an undone answer meets the log's duplicate rule above.
// (With MDB_NOSYNC, as before, LMDB's documentation says a machine crash can corrupt
// the database; that is why the fsync is paid.)
//
// One store per directory per process: opening a directory this process already has
// open is refused (LMDB forbids it).
//
// Thread-safety: every member may be called from any thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/errc.hpp"
#include "base/result.hpp"

namespace shopstream::adapters::http {

struct stored_answer {
    std::string request_digest;  // request_digest() of the request that got this answer
    int status = 200;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::int64_t recorded_at_ms = 0;  // Unix time
};

struct idempotency_store_options {
    std::chrono::milliseconds retention = std::chrono::hours(24);
    std::int64_t map_size = std::int64_t{1} << 30;  // LMDB map: the most the store can hold
    // Expired answers removed per write (bounds the work one write does).
    std::size_t sweep_per_write = 16;
};

// What makes two requests "the same": the method, the route with its parameter, and the
// JSON body as a value (key order and whitespace do not matter; a body that is not JSON
// is compared byte for byte). A SHA-256, hex.
[[nodiscard]] std::string request_digest(std::string_view method, std::string_view route, std::string_view body);

// SHA-256 of the parts, concatenated; lowercase hex (64 characters).
[[nodiscard]] std::string sha256_hex(std::initializer_list<std::string_view> parts);

// The command id of a request sent with Idempotency-Key `key` by `principal` (the JWT
// subject): "idem:<SHA-256 of the principal, hex>:<key>". A retry with the same key gets
// the same id, in any process and after restarts; two principals share it only if their
// SHA-256 digests collide (a 64-bit hash here once let colliding principals share command
// ids, order ids and stored answers). At most 170 bytes for a key of 100.
[[nodiscard]] std::string idempotent_command_id(std::string_view principal, std::string_view key);

// The id of an order placed by command `command_id`: "o-" and 32 hex digits of its
// SHA-256, so a keyed retry addresses the same order (domain::is_valid_id holds).
[[nodiscard]] std::string order_id_of(std::string_view command_id);

class idempotency_store {
public:
    // Errors: permission_denied (the directory cannot be created or written), already_open,
    // store_corrupted, io.
    [[nodiscard]] static result<std::unique_ptr<idempotency_store>, error> open(
        const std::filesystem::path& dir, idempotency_store_options options = {});

    idempotency_store(const idempotency_store&) = delete;
    idempotency_store& operator=(const idempotency_store&) = delete;
    ~idempotency_store();

    // The answer recorded for `key`, unless it is older than the retention at `now_ms`.
    [[nodiscard]] result<std::optional<stored_answer>, error> find(std::string_view key, std::int64_t now_ms) const;

    // Records the first answer for `key`; a key already holding an unexpired answer keeps
    // it (and that answer is returned). Sweeps a few expired answers in the same write.
    // A full map is errc::store_full.
    [[nodiscard]] result<stored_answer, error> record(std::string_view key, stored_answer answer);

    // Removes every answer older than the retention at `now_ms`; returns how many.
    [[nodiscard]] result<std::size_t, error> sweep(std::int64_t now_ms);

    // The LMDB flags the environment was opened with (mdb_env_get_flags), so tests and
    // diagnostics can see which durability is in force.
    [[nodiscard]] unsigned int environment_flags() const noexcept;

    // Number of answers held (expired ones not yet swept included).
    [[nodiscard]] result<std::size_t, error> size() const;

    struct impl;

private:
    explicit idempotency_store(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::adapters::http
