#include "adapters/http/idempotency_store.hpp"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "eventstore/lmdb/lmdb.hpp"

namespace shopstream::adapters::http {
namespace {

namespace lmdb = eventstore::lmdb;

// The expiry index key: big-endian recording time, then the key, so a cursor walks the
// answers oldest first.
std::string time_key(std::int64_t recorded_at_ms, std::string_view key) {
    std::string out(8, '\0');
    auto v = static_cast<std::uint64_t>(recorded_at_ms);
    for (int i = 7; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
        v >>= 8;
    }
    out.append(key);
    return out;
}

std::int64_t time_of(std::string_view time_key) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8 && i < time_key.size(); ++i) {
        v = (v << 8) | static_cast<unsigned char>(time_key[i]);
    }
    return static_cast<std::int64_t>(v);
}

std::string encode(const stored_answer& a) {
    nlohmann::json headers = nlohmann::json::array();
    for (const auto& [name, value] : a.headers) headers.push_back({name, value});
    const nlohmann::json j = {{"d", a.request_digest}, {"s", a.status},  {"c", a.content_type},
                              {"h", headers},          {"b", a.body},    {"t", a.recorded_at_ms}};
    return j.dump();
}

std::optional<stored_answer> decode(std::string_view bytes) {
    auto j = nlohmann::json::parse(bytes, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        stored_answer a;
        a.request_digest = j.at("d").get<std::string>();
        a.status = j.at("s").get<int>();
        a.content_type = j.at("c").get<std::string>();
        for (const auto& h : j.at("h")) a.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
        a.body = j.at("b").get<std::string>();
        a.recorded_at_ms = j.at("t").get<std::int64_t>();
        return a;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

}  // namespace

std::string request_digest(std::string_view method, std::string_view route, std::string_view body) {
    std::string canonical;
    if (auto j = nlohmann::json::parse(body, nullptr, false); !j.is_discarded()) {
        canonical = "json:" + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
        canonical = "bytes:" + std::string(body);
    }
    return sha256_hex({std::string(method) + ' ' + std::string(route) + '\n', canonical});
}

std::string sha256_hex(std::initializer_list<std::string_view> parts) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int md_len = 0;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1;
    for (const auto part : parts) ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
    if (!ok || EVP_DigestFinal_ex(ctx.get(), md.data(), &md_len) != 1) {
        throw std::runtime_error("SHA-256 is not available from OpenSSL");
    }
    std::string hex;
    hex.reserve(md_len * 2);
    static constexpr char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < md_len; ++i) {
        hex.push_back(digits[md[i] >> 4]);
        hex.push_back(digits[md[i] & 0xF]);
    }
    return hex;
}

std::string idempotent_command_id(std::string_view principal, std::string_view key) {
    return "idem:" + sha256_hex({principal}) + ":" + std::string(key);
}

std::string order_id_of(std::string_view command_id) {
    return "o-" + sha256_hex({"order:", command_id}).substr(0, 32);
}

namespace {

// The store's code for what LMDB (or the OS under it) said.
errc code_of(const lmdb::error& e) noexcept {
    switch (e.code) {
        case lmdb::errc::map_full: return errc::store_full;
        case lmdb::errc::corrupted:
        case lmdb::errc::incompatible: return errc::store_corrupted;
        case lmdb::errc::already_open: return errc::already_open;
        case lmdb::errc::system:
            return e.status == EACCES || e.status == EPERM || e.status == EROFS ? errc::permission_denied : errc::io;
        default: return errc::io;
    }
}

}  // namespace

struct idempotency_store::impl {
    std::filesystem::path dir;
    idempotency_store_options options;
    lmdb::env env;
    MDB_dbi answers = 0;
    MDB_dbi by_time = 0;

    [[nodiscard]] http::error failure(const lmdb::error& e, std::string_view what) const {
        return {code_of(e), "idempotency store " + dir.string() + ": " + std::string(what) + ": " + e.message};
    }

    [[nodiscard]] bool expired(const stored_answer& a, std::int64_t now_ms) const {
        return a.recorded_at_ms < now_ms - options.retention.count();
    }

    // Deletes up to `limit` answers recorded before the retention at `now_ms`.
    result<std::size_t, error> sweep_in(lmdb::txn& txn, std::int64_t now_ms, std::size_t limit) const {
        auto cursor = txn.open_cursor(by_time);
        if (!cursor) return fail(failure(cursor.error(), "opening a cursor"));
        std::size_t removed = 0;
        auto at = cursor->first();
        while (at && *at && removed < limit) {
            const auto tk = (*at)->first;
            if (time_of(tk) >= now_ms - options.retention.count()) break;
            if (auto gone = txn.del(answers, tk.substr(8)); !gone) {
                return fail(failure(gone.error(), "removing an expired answer"));
            }
            if (auto gone = cursor->del(); !gone) {
                return fail(failure(gone.error(), "removing an expired answer's index entry"));
            }
            ++removed;
            at = cursor->current();
            if (at && !*at) at = cursor->first();
        }
        if (!at) return fail(failure(at.error(), "walking the expiry index"));
        return removed;
    }
};

idempotency_store::idempotency_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
idempotency_store::~idempotency_store() = default;

result<std::unique_ptr<idempotency_store>, error> idempotency_store::open(const std::filesystem::path& dir,
                                                                         idempotency_store_options options) {
    // synced (MDB_NOMETASYNC): a machine crash may undo the last answers, never corrupts.
    auto env = lmdb::env::open(dir, {.map_size = static_cast<std::uint64_t>(options.map_size),
                                     .max_dbs = 2,
                                     .durability = lmdb::durability::synced});
    if (!env) return fail(error{code_of(env.error()), "idempotency store " + dir.string() + ": " + env.error().message});
    auto p = std::make_unique<impl>(impl{dir, options, std::move(*env)});
    auto txn = p->env.begin_write();
    if (!txn) return fail(p->failure(txn.error(), "beginning the opening transaction"));
    auto answers = txn->open_dbi("answers");
    if (!answers) return fail(p->failure(answers.error(), "opening the answers"));
    auto by_time = txn->open_dbi("by_time");
    if (!by_time) return fail(p->failure(by_time.error(), "opening the expiry index"));
    if (auto committed = txn->commit(); !committed) {
        return fail(p->failure(committed.error(), "committing the opening transaction"));
    }
    p->answers = *answers;
    p->by_time = *by_time;
    return std::unique_ptr<idempotency_store>(new idempotency_store(std::move(p)));
}

unsigned int idempotency_store::environment_flags() const noexcept { return impl_->env.flags(); }

result<std::optional<stored_answer>, error> idempotency_store::find(std::string_view key,
                                                                    std::int64_t now_ms) const {
    auto txn = impl_->env.begin_read();
    if (!txn) return fail(impl_->failure(txn.error(), "beginning a read"));
    auto bytes = txn->get(impl_->answers, key);
    if (!bytes) return fail(impl_->failure(bytes.error(), "reading an answer"));
    if (!*bytes) return std::optional<stored_answer>{};
    auto answer = decode(**bytes);
    if (!answer) {
        return fail(error{errc::store_corrupted,
                          "idempotency store " + impl_->dir.string() + ": the answer for a key cannot be decoded"});
    }
    if (impl_->expired(*answer, now_ms)) return std::optional<stored_answer>{};
    return std::optional<stored_answer>(std::move(*answer));
}

result<stored_answer, error> idempotency_store::record(std::string_view key, stored_answer answer) {
    auto txn = impl_->env.begin_write();
    if (!txn) return fail(impl_->failure(txn.error(), "beginning a write"));
    auto bytes = txn->get(impl_->answers, key);
    if (!bytes) return fail(impl_->failure(bytes.error(), "reading an answer"));
    if (*bytes) {
        auto existing = decode(**bytes);
        if (existing && !impl_->expired(*existing, answer.recorded_at_ms)) return std::move(*existing);
        if (existing) {
            if (auto gone = txn->del(impl_->by_time, time_key(existing->recorded_at_ms, key)); !gone) {
                return fail(impl_->failure(gone.error(), "replacing an expired answer"));
            }
        }
    }
    if (auto put = txn->put(impl_->answers, key, encode(answer)); !put) {
        return fail(impl_->failure(put.error(), "writing an answer"));
    }
    if (auto put = txn->put(impl_->by_time, time_key(answer.recorded_at_ms, key), {}); !put) {
        return fail(impl_->failure(put.error(), "indexing an answer"));
    }
    if (auto swept = impl_->sweep_in(*txn, answer.recorded_at_ms, impl_->options.sweep_per_write); !swept) {
        return fail(std::move(swept.error()));
    }
    if (auto committed = txn->commit(); !committed) {
        return fail(impl_->failure(committed.error(), "committing an answer"));
    }
    return answer;
}

result<std::size_t, error> idempotency_store::sweep(std::int64_t now_ms) {
    auto txn = impl_->env.begin_write();
    if (!txn) return fail(impl_->failure(txn.error(), "beginning a sweep"));
    auto removed = impl_->sweep_in(*txn, now_ms, static_cast<std::size_t>(-1));
    if (!removed) return removed;
    if (auto committed = txn->commit(); !committed) {
        return fail(impl_->failure(committed.error(), "committing a sweep"));
    }
    return removed;
}

result<std::size_t, error> idempotency_store::size() const {
    auto txn = impl_->env.begin_read();
    if (!txn) return fail(impl_->failure(txn.error(), "beginning a read"));
    auto entries = txn->entries(impl_->answers);
    if (!entries) return fail(impl_->failure(entries.error(), "counting"));
    return *entries;
}

}  // namespace shopstream::adapters::http
