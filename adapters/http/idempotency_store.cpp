#include "adapters/http/idempotency_store.hpp"

#include <lmdb.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <system_error>

namespace shopstream::adapters::http {
namespace {

MDB_val val_of(std::string_view bytes) {
    // mdb_put and mdb_get take a non-const MDB_val but never write through mv_data.
    return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

std::string_view view_of(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

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

struct idempotency_store::impl {
    std::filesystem::path dir;
    idempotency_store_options options;
    MDB_env* env = nullptr;
    MDB_dbi answers = 0;
    MDB_dbi by_time = 0;

    ~impl() {
        if (env != nullptr) mdb_env_close(env);
    }

    [[nodiscard]] std::string failure(int rc, std::string_view what) const {
        return "idempotency store " + dir.string() + ": " + std::string(what) + ": " + mdb_strerror(rc);
    }

    [[nodiscard]] bool expired(const stored_answer& a, std::int64_t now_ms) const {
        return a.recorded_at_ms < now_ms - options.retention.count();
    }

    // Deletes up to `limit` answers recorded before the retention at `now_ms`.
    result<std::size_t, std::string> sweep_in(MDB_txn* txn, std::int64_t now_ms, std::size_t limit) const {
        MDB_cursor* cursor = nullptr;
        if (const int rc = mdb_cursor_open(txn, by_time, &cursor); rc != 0) {
            return fail(failure(rc, "opening a cursor"));
        }
        std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> guard(cursor, &mdb_cursor_close);
        std::size_t removed = 0;
        MDB_val k, v;
        int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
        while (rc == 0 && removed < limit) {
            const auto tk = view_of(k);
            if (time_of(tk) >= now_ms - options.retention.count()) break;
            MDB_val ak = val_of(tk.substr(8));
            if (const int drc = mdb_del(txn, answers, &ak, nullptr); drc != 0 && drc != MDB_NOTFOUND) {
                return fail(failure(drc, "removing an expired answer"));
            }
            if (const int drc = mdb_cursor_del(cursor, 0); drc != 0) {
                return fail(failure(drc, "removing an expired answer's index entry"));
            }
            ++removed;
            rc = mdb_cursor_get(cursor, &k, &v, MDB_GET_CURRENT);
            if (rc == EINVAL || rc == MDB_NOTFOUND) rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) return fail(failure(rc, "walking the expiry index"));
        return removed;
    }
};

idempotency_store::idempotency_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
idempotency_store::~idempotency_store() = default;

result<std::unique_ptr<idempotency_store>, std::string> idempotency_store::open(const std::filesystem::path& dir,
                                                                               idempotency_store_options options) {
    auto p = std::make_unique<impl>();
    p->dir = dir;
    p->options = options;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail("idempotency store " + dir.string() + ": creating the directory: " + ec.message());
    if (const int rc = mdb_env_create(&p->env); rc != 0) {
        p->env = nullptr;
        return fail(p->failure(rc, "creating the LMDB environment"));
    }
    if (const int rc = mdb_env_set_maxdbs(p->env, 2); rc != 0) return fail(p->failure(rc, "setting the databases"));
    if (const int rc = mdb_env_set_mapsize(p->env, static_cast<std::size_t>(options.map_size)); rc != 0) {
        return fail(p->failure(rc, "setting the map size"));
    }
    if (const int rc = mdb_env_open(p->env, dir.c_str(), MDB_NOTLS | MDB_NOSYNC, 0644); rc != 0) {
        return fail(p->failure(rc, "opening the LMDB environment"));
    }
    MDB_txn* txn = nullptr;
    if (const int rc = mdb_txn_begin(p->env, nullptr, 0, &txn); rc != 0) {
        return fail(p->failure(rc, "beginning the opening transaction"));
    }
    std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> guard(txn, &mdb_txn_abort);
    if (const int rc = mdb_dbi_open(txn, "answers", MDB_CREATE, &p->answers); rc != 0) {
        return fail(p->failure(rc, "opening the answers"));
    }
    if (const int rc = mdb_dbi_open(txn, "by_time", MDB_CREATE, &p->by_time); rc != 0) {
        return fail(p->failure(rc, "opening the expiry index"));
    }
    if (const int rc = mdb_txn_commit(guard.release()); rc != 0) {
        return fail(p->failure(rc, "committing the opening transaction"));
    }
    return std::unique_ptr<idempotency_store>(new idempotency_store(std::move(p)));
}

result<std::optional<stored_answer>, std::string> idempotency_store::find(std::string_view key,
                                                                          std::int64_t now_ms) const {
    MDB_txn* txn = nullptr;
    if (const int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn); rc != 0) {
        return fail(impl_->failure(rc, "beginning a read"));
    }
    std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> guard(txn, &mdb_txn_abort);
    MDB_val k = val_of(key);
    MDB_val v;
    const int rc = mdb_get(txn, impl_->answers, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<stored_answer>{};
    if (rc != 0) return fail(impl_->failure(rc, "reading an answer"));
    auto answer = decode(view_of(v));
    if (!answer) return fail("idempotency store " + impl_->dir.string() + ": the answer for a key cannot be decoded");
    if (impl_->expired(*answer, now_ms)) return std::optional<stored_answer>{};
    return std::optional<stored_answer>(std::move(*answer));
}

result<stored_answer, std::string> idempotency_store::record(std::string_view key, stored_answer answer) {
    MDB_txn* txn = nullptr;
    if (const int rc = mdb_txn_begin(impl_->env, nullptr, 0, &txn); rc != 0) {
        return fail(impl_->failure(rc, "beginning a write"));
    }
    std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> guard(txn, &mdb_txn_abort);
    MDB_val k = val_of(key);
    MDB_val v;
    if (const int rc = mdb_get(txn, impl_->answers, &k, &v); rc == 0) {
        auto existing = decode(view_of(v));
        if (existing && !impl_->expired(*existing, answer.recorded_at_ms)) return std::move(*existing);
        if (existing) {
            const auto old = time_key(existing->recorded_at_ms, key);
            MDB_val ok = val_of(old);
            if (const int drc = mdb_del(txn, impl_->by_time, &ok, nullptr); drc != 0 && drc != MDB_NOTFOUND) {
                return fail(impl_->failure(drc, "replacing an expired answer"));
            }
        }
    } else if (rc != MDB_NOTFOUND) {
        return fail(impl_->failure(rc, "reading an answer"));
    }
    const auto bytes = encode(answer);
    MDB_val nv = val_of(bytes);
    if (const int rc = mdb_put(txn, impl_->answers, &k, &nv, 0); rc != 0) {
        return fail(impl_->failure(rc, "writing an answer"));
    }
    const auto tk = time_key(answer.recorded_at_ms, key);
    MDB_val tkv = val_of(tk);
    MDB_val empty{0, nullptr};
    if (const int rc = mdb_put(txn, impl_->by_time, &tkv, &empty, 0); rc != 0) {
        return fail(impl_->failure(rc, "indexing an answer"));
    }
    if (auto swept = impl_->sweep_in(txn, answer.recorded_at_ms, impl_->options.sweep_per_write); !swept) {
        return fail(std::move(swept.error()));
    }
    if (const int rc = mdb_txn_commit(guard.release()); rc != 0) {
        return fail(impl_->failure(rc, "committing an answer"));
    }
    return answer;
}

result<std::size_t, std::string> idempotency_store::sweep(std::int64_t now_ms) {
    MDB_txn* txn = nullptr;
    if (const int rc = mdb_txn_begin(impl_->env, nullptr, 0, &txn); rc != 0) {
        return fail(impl_->failure(rc, "beginning a sweep"));
    }
    std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> guard(txn, &mdb_txn_abort);
    auto removed = impl_->sweep_in(txn, now_ms, static_cast<std::size_t>(-1));
    if (!removed) return removed;
    if (const int rc = mdb_txn_commit(guard.release()); rc != 0) {
        return fail(impl_->failure(rc, "committing a sweep"));
    }
    return removed;
}

result<std::size_t, std::string> idempotency_store::size() const {
    MDB_txn* txn = nullptr;
    if (const int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn); rc != 0) {
        return fail(impl_->failure(rc, "beginning a read"));
    }
    std::unique_ptr<MDB_txn, decltype(&mdb_txn_abort)> guard(txn, &mdb_txn_abort);
    MDB_stat st{};
    if (const int rc = mdb_stat(txn, impl_->answers, &st); rc != 0) return fail(impl_->failure(rc, "counting"));
    return static_cast<std::size_t>(st.ms_entries);
}

}  // namespace shopstream::adapters::http
