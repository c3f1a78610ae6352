#include "projections/reviews_model.hpp"

#include <mutex>

#include "eventstore/codec/review_codec.hpp"

namespace shopstream::projections {
namespace {

namespace es = eventstore;
namespace lmdb = eventstore::lmdb;
namespace review = domain::review;
using review::review_status;

constexpr std::array<context, 1> reviews_contexts{context::reviews};
constexpr std::uint8_t record_format = 1;

void put_u64(std::string& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
std::uint64_t get_u64(std::string_view in, std::size_t at) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
    return v;
}
void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
std::uint32_t get_u32(std::string_view in, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
    return v;
}
void put_u16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}
std::uint16_t get_u16(std::string_view in, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(in[at]) << 8) | static_cast<unsigned char>(in[at + 1]));
}
// Descending order under bytewise comparison.
std::uint64_t desc(std::int64_t v) { return ~static_cast<std::uint64_t>(v); }

// ---- records ----

std::string encode_record(const review_record& r) {
    std::string out;
    out.push_back(static_cast<char>(record_format));
    put_u64(out, r.version);
    put_u64(out, static_cast<std::uint64_t>(r.updated_at));
    const auto snapshot = es::review_codec::encode_state(r.state);
    out.append(snapshot.begin(), snapshot.end());
    return out;
}

std::optional<review_record> decode_record(std::string_view bytes) {
    if (bytes.size() < 17 || static_cast<std::uint8_t>(bytes[0]) != record_format) return std::nullopt;
    review_record r;
    r.version = get_u64(bytes, 1);
    r.updated_at = static_cast<std::int64_t>(get_u64(bytes, 9));
    const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data()) + 17;
    auto state = es::review_codec::decode_state({data, bytes.size() - 17});
    if (!state) return std::nullopt;
    r.state = std::move(*state);
    return r;
}

// ---- listings ----

enum class index : std::uint8_t { recent = 0, helpful = 1, rating = 2, customer = 3 };
constexpr std::array<index, 4> all_indexes{index::recent, index::helpful, index::rating, index::customer};

// The bytes after "owner \0" and before the review id.
std::size_t sort_bytes(index i) {
    switch (i) {
        case index::recent: return 8;
        case index::helpful: return 16;
        case index::rating: return 9;
        case index::customer: return 8;
    }
    return 8;
}

std::string index_key(index i, const review::state& s) {
    std::string key = i == index::customer ? s.author.value() : s.sku;
    key.push_back('\0');
    if (i == index::helpful) put_u64(key, ~s.helpful_votes);
    if (i == index::rating) key.push_back(static_cast<char>(0xff - s.rating));
    put_u64(key, desc(s.submitted_at));
    key += s.id.value();
    return key;
}

std::string index_value(const review::state& s) {
    std::string v(1, static_cast<char>(s.status));
    v += s.author.value();
    return v;
}

index index_of(const review_listing& l) {
    if (l.of == review_listing::kind::customer) return index::customer;
    switch (l.order) {
        case review_order::recent: return index::recent;
        case review_order::helpful: return index::helpful;
        case review_order::rating: return index::rating;
    }
    return index::recent;
}

// ---- summaries ----

rating_summary decode_summary(std::string_view v) {
    rating_summary s;
    if (v.size() != 8 * 8) return s;
    s.count = get_u64(v, 0);
    s.sum = get_u64(v, 8);
    for (std::size_t i = 0; i < 5; ++i) s.histogram[i] = get_u64(v, 16 + 8 * i);
    s.helpful_votes = get_u64(v, 56);
    return s;
}

std::string encode_summary(const rating_summary& s) {
    std::string out;
    put_u64(out, s.count);
    put_u64(out, s.sum);
    for (auto h : s.histogram) put_u64(out, h);
    put_u64(out, s.helpful_votes);
    return out;
}

// Adds (sign +1) or removes (-1) a visible review's share of its product's summary.
void account(rating_summary& sum, const review::state& s, int sign) {
    const auto d = [sign](std::uint64_t& into, std::uint64_t by) { into = sign > 0 ? into + by : into - by; };
    d(sum.count, 1);
    d(sum.sum, s.rating);
    d(sum.histogram[static_cast<std::size_t>(s.rating - 1)], 1);
    d(sum.helpful_votes, s.helpful_votes);
}

// ---- meta: checkpoints, heads, identity ----

constexpr std::string_view identity_key = "identity";

std::string checkpoint_key(context ctx, partition_id p) {
    std::string k = "cp";
    k.push_back(static_cast<char>(ctx));
    put_u32(k, static_cast<std::uint32_t>(p.value()));
    return k;
}

std::string head_key(context ctx, std::string_view id) {
    std::string k = "head";
    k.push_back(static_cast<char>(ctx));
    k += id;
    return k;
}

std::string encode_head(const es::aggregate_head& h) {
    std::string out;
    put_u64(out, h.version);
    put_u16(out, static_cast<std::uint16_t>(h.recent_commands.size()));
    for (const auto& c : h.recent_commands) {
        put_u16(out, static_cast<std::uint16_t>(c.command_id.size()));
        out += c.command_id;
        put_u64(out, c.version);
        put_u32(out, static_cast<std::uint32_t>(c.at.partition.value()));
        put_u64(out, static_cast<std::uint64_t>(c.at.offset.value()));
    }
    return out;
}

std::optional<es::aggregate_head> decode_head(std::string_view in) {
    if (in.size() < 10) return std::nullopt;
    es::aggregate_head h;
    h.version = get_u64(in, 0);
    const std::size_t n = get_u16(in, 8);
    std::size_t at = 10;
    for (std::size_t i = 0; i < n; ++i) {
        if (in.size() < at + 2) return std::nullopt;
        const std::size_t len = get_u16(in, at);
        at += 2;
        if (in.size() < at + len + 20) return std::nullopt;
        es::applied_command c;
        c.command_id = std::string(in.substr(at, len));
        at += len;
        c.version = get_u64(in, at);
        c.at.partition = partition_id(static_cast<std::int32_t>(get_u32(in, at + 8)));
        c.at.offset = log_offset(static_cast<std::int64_t>(get_u64(in, at + 12)));
        at += 20;
        h.recent_commands.push_back(std::move(c));
    }
    if (at != in.size()) return std::nullopt;
    return h;
}

std::int64_t time_of(const review::event& e) {
    return std::visit([](const auto& ev) { return ev.at; }, e);
}
const domain::review_id& id_of(const review::event& e) {
    return std::visit([](const auto& ev) -> const domain::review_id& { return ev.id; }, e);
}

}  // namespace

struct reviews_model::impl {
    std::filesystem::path dir;
    lmdb::env env;
    MDB_dbi reviews = 0, ratings = 0, meta = 0;
    std::array<MDB_dbi, 4> listings{};
    // Shared by every transaction; taken exclusively only to grow the map.
    mutable std::shared_mutex grow;

    impl(std::filesystem::path d, lmdb::env e) : dir(std::move(d)), env(std::move(e)) {}

    [[nodiscard]] es::error failed(std::string_view doing, const lmdb::error& e) const {
        return es::error{es::errc::store_failed,
                         "the reviews read model in " + dir.string() + ": " + std::string(doing) + ": " + e.message};
    }

    // Writes the batch in `t`; the refusals, or the LMDB failure (map_full included).
    result<std::vector<refusal>, lmdb::error> write(lmdb::txn& t, const batch& b) const;
    result<void, lmdb::error> apply(lmdb::txn& t, const applied_commit& c, std::vector<refusal>& refused) const;
};

reviews_model::reviews_model(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
reviews_model::~reviews_model() = default;

result<std::unique_ptr<reviews_model>, es::error> reviews_model::open(const std::filesystem::path& dir, options opts) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail(es::error{es::errc::store_failed, "cannot create " + dir.string() + ": " + ec.message()});
    auto env = lmdb::env::open(dir, {.map_size = opts.initial_map_size, .max_dbs = 8, .durability = opts.durability});
    if (!env) return fail(es::error{es::errc::store_failed, "the reviews read model in " + dir.string() + ": " + env.error().message});
    auto p = std::make_unique<impl>(dir, std::move(*env));
    // The map of an existing environment may be larger than asked (it grew before).
    auto t = p->env.begin_write();
    if (!t) return fail(p->failed("opening", t.error()));
    const std::array<const char*, 4> names{"by_recent", "by_helpful", "by_rating", "by_customer"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto dbi = t->open_dbi(names[i]);
        if (!dbi) return fail(p->failed("opening", dbi.error()));
        p->listings[i] = *dbi;
    }
    for (auto [name, into] : {std::pair{"reviews", &p->reviews}, {"ratings", &p->ratings}, {"meta", &p->meta}}) {
        auto dbi = t->open_dbi(name);
        if (!dbi) return fail(p->failed("opening", dbi.error()));
        *into = *dbi;
    }
    if (auto c = t->commit(); !c) return fail(p->failed("opening", c.error()));
    return std::unique_ptr<reviews_model>(new reviews_model(std::move(p)));
}

std::span<const context> reviews_model::contexts() const noexcept { return reviews_contexts; }

std::string reviews_model::location() const { return impl_->dir.string(); }

std::uint64_t reviews_model::map_size() const noexcept { return impl_->env.map_size(); }

result<std::optional<std::string>, es::error> reviews_model::load_log_identity() {
    std::shared_lock lock(impl_->grow);
    auto t = impl_->env.begin_read();
    if (!t) return fail(impl_->failed("reading the log identity", t.error()));
    auto v = t->get(impl_->meta, identity_key);
    if (!v) return fail(impl_->failed("reading the log identity", v.error()));
    if (!*v) return std::optional<std::string>{};
    return std::optional<std::string>(std::string(**v));
}

result<std::vector<checkpoint>, es::error> reviews_model::load_checkpoints() {
    std::shared_lock lock(impl_->grow);
    auto t = impl_->env.begin_read();
    if (!t) return fail(impl_->failed("reading the checkpoints", t.error()));
    auto c = t->open_cursor(impl_->meta);
    if (!c) return fail(impl_->failed("reading the checkpoints", c.error()));
    std::vector<checkpoint> out;
    for (auto e = c->seek("cp"); ; e = c->next()) {
        if (!e) return fail(impl_->failed("reading the checkpoints", e.error()));
        if (!*e || !(*e)->first.starts_with("cp")) break;
        const auto& [key, value] = **e;
        if (key.size() != 7 || value.size() != 8) {
            return fail(es::error{es::errc::store_failed, "the reviews read model in " + impl_->dir.string() +
                                                               " holds a damaged checkpoint: delete it to rebuild"});
        }
        out.push_back({static_cast<context>(key[2]), partition_id(static_cast<std::int32_t>(get_u32(key, 3))),
                       log_offset(static_cast<std::int64_t>(get_u64(value, 0)))});
    }
    return out;
}

result<std::vector<std::optional<es::aggregate_head>>, es::error> reviews_model::load_heads(
    context ctx, std::span<const std::string> aggregate_ids) {
    std::shared_lock lock(impl_->grow);
    auto t = impl_->env.begin_read();
    if (!t) return fail(impl_->failed("reading heads", t.error()));
    std::vector<std::optional<es::aggregate_head>> out;
    out.reserve(aggregate_ids.size());
    for (const auto& id : aggregate_ids) {
        auto v = t->get(impl_->meta, head_key(ctx, id));
        if (!v) return fail(impl_->failed("reading heads", v.error()));
        if (!*v) {
            out.emplace_back();
            continue;
        }
        auto h = decode_head(**v);
        if (!h) {
            return fail(es::error{es::errc::store_failed, "the reviews read model in " + impl_->dir.string() +
                                                               " holds a damaged head for " + id + ": delete it to rebuild"});
        }
        out.push_back(std::move(h));
    }
    return out;
}

result<void, lmdb::error> reviews_model::impl::apply(lmdb::txn& t, const applied_commit& c,
                                                     std::vector<refusal>& refused) const {
    auto refuse = [&](std::string why) -> result<void, lmdb::error> {
        refused.push_back({c.ctx, c.at, std::move(why)});
        return {};
    };
    if (!review::parse_review_id(c.aggregate_id)) return refuse("the aggregate id is not a review id (<sku>~<customer>)");
    auto stored = t.get(reviews, c.aggregate_id);
    if (!stored) return fail(std::move(stored.error()));
    std::optional<review_record> before;
    if (*stored) {
        before = decode_record(**stored);
        if (!before) return fail(lmdb::error{lmdb::errc::corrupted, 0, "the record of review " + c.aggregate_id + " does not decode"});
    }
    review_record after = before.value_or(review_record{review::initial_state(), 0, 0});
    for (const auto& any : c.events) {
        const auto* e = std::get_if<review::event>(&any);
        if (e == nullptr) return refuse("not a review event");
        if (id_of(*e).value() != c.aggregate_id) return refuse("an event names review " + id_of(*e).value());
        after.state = review::evolve(std::move(after.state), *e);
        after.updated_at = time_of(*e);
    }
    after.version = c.first_version + c.events.size() - 1;
    if (after.state.exists() && (after.state.rating < 1 || after.state.rating > 5)) {
        return refuse("rating " + std::to_string(after.state.rating) + " is not 1-5");
    }

    const bool was = before && before->state.exists();
    const bool is = after.state.exists();
    for (const index i : all_indexes) {
        const MDB_dbi dbi = listings[static_cast<std::size_t>(i)];
        if (was) {
            if (auto d = t.del(dbi, index_key(i, before->state)); !d) return fail(std::move(d.error()));
        }
        if (is) {
            if (auto p = t.put(dbi, index_key(i, after.state), index_value(after.state)); !p) return fail(std::move(p.error()));
        }
    }
    const bool counted_before = was && before->state.status == review_status::visible;
    const bool counted_after = is && after.state.status == review_status::visible;
    if (counted_before || counted_after) {
        const std::string& sku = counted_after ? after.state.sku : before->state.sku;
        auto v = t.get(ratings, sku);
        if (!v) return fail(std::move(v.error()));
        rating_summary sum = *v ? decode_summary(**v) : rating_summary{};
        if (counted_before) account(sum, before->state, -1);
        if (counted_after) account(sum, after.state, +1);
        if (auto p = t.put(ratings, sku, encode_summary(sum)); !p) return fail(std::move(p.error()));
    }
    if (auto p = t.put(reviews, c.aggregate_id, encode_record(after)); !p) return fail(std::move(p.error()));
    return {};
}

result<std::vector<refusal>, lmdb::error> reviews_model::impl::write(lmdb::txn& t, const batch& b) const {
    std::vector<refusal> refused;
    for (const auto& c : b.commits) {
        if (c.ctx != context::reviews) continue;
        if (auto r = apply(t, c, refused); !r) return fail(std::move(r.error()));
    }
    for (const auto& h : b.heads) {
        if (auto p = t.put(meta, head_key(h.ctx, h.aggregate_id), encode_head(h.head)); !p) return fail(std::move(p.error()));
    }
    for (const auto& cp : b.checkpoints) {
        std::string v;
        put_u64(v, static_cast<std::uint64_t>(cp.next_offset.value()));
        if (auto p = t.put(meta, checkpoint_key(cp.ctx, cp.partition), v); !p) return fail(std::move(p.error()));
    }
    if (b.log_identity) {
        if (auto p = t.put(meta, identity_key, *b.log_identity); !p) return fail(std::move(p.error()));
    }
    return refused;
}

result<std::vector<refusal>, es::error> reviews_model::write_batch(const batch& b) {
    for (;;) {
        {
            std::shared_lock lock(impl_->grow);
            auto t = impl_->env.begin_write();
            if (!t) return fail(impl_->failed("beginning a batch", t.error()));
            auto written = impl_->write(*t, b);
            if (written && !written->empty() && b.before_commit) {
                // The write transaction ends unstored when `t` goes out of scope.
                if (auto h = b.before_commit(*written); !h) return fail(std::move(h.error()));
            }
            if (written) {
                if (auto c = t->commit(); !c) {
                    if (c.error().code != lmdb::errc::map_full) return fail(impl_->failed("committing a batch", c.error()));
                } else {
                    return std::move(*written);
                }
            } else if (written.error().code != lmdb::errc::map_full) {
                return fail(impl_->failed("writing a batch", written.error()));
            }
        }  // the transaction is over: the map may grow
        std::unique_lock lock(impl_->grow);
        const std::uint64_t now = impl_->env.map_size();
        if (auto g = impl_->env.set_map_size(now * 2); !g) return fail(impl_->failed("growing the map", g.error()));
    }
}

result<std::optional<review_record>, es::error> reviews_model::get(std::string_view review_id) const {
    std::shared_lock lock(impl_->grow);
    auto t = impl_->env.begin_read();
    if (!t) return fail(impl_->failed("reading a review", t.error()));
    auto v = t->get(impl_->reviews, review_id);
    if (!v) return fail(impl_->failed("reading a review", v.error()));
    if (!*v) return std::optional<review_record>{};
    auto r = decode_record(**v);
    if (!r) return fail(es::error{es::errc::store_failed, "the reviews read model in " + impl_->dir.string() +
                                                               " holds a damaged review " + std::string(review_id)});
    return r;
}

result<rating_summary, es::error> reviews_model::rating(std::string_view sku) const {
    std::shared_lock lock(impl_->grow);
    auto t = impl_->env.begin_read();
    if (!t) return fail(impl_->failed("reading a rating", t.error()));
    auto v = t->get(impl_->ratings, sku);
    if (!v) return fail(impl_->failed("reading a rating", v.error()));
    return *v ? decode_summary(**v) : rating_summary{};
}

result<review_page, es::error> reviews_model::page(const review_listing& listing, std::string_view after,
                                                   std::size_t limit, filter keep) const {
    const index i = index_of(listing);
    std::string prefix = listing.owner;
    prefix.push_back('\0');
    if (!after.empty() && (!after.starts_with(prefix) || after.size() <= prefix.size() + sort_bytes(i))) {
        return fail(es::error{es::errc::invalid_argument, "the cursor is not one of this listing"});
    }
    std::shared_lock lock(impl_->grow);
    auto t = impl_->env.begin_read();
    if (!t) return fail(impl_->failed("reading a listing", t.error()));
    auto c = t->open_cursor(impl_->listings[static_cast<std::size_t>(i)]);
    if (!c) return fail(impl_->failed("reading a listing", c.error()));
    review_page out;
    auto e = c->seek(after.empty() ? std::string_view(prefix) : after);
    if (e && *e && !after.empty() && (*e)->first == after) e = c->next();
    for (;; e = c->next()) {
        if (!e) return fail(impl_->failed("reading a listing", e.error()));
        if (!*e || !(*e)->first.starts_with(prefix)) break;
        const auto& [key, value] = **e;
        if (value.empty()) continue;
        if (!keep(static_cast<review_status>(value[0]), value.substr(1))) continue;
        if (out.items.size() == limit) break;  // one more entry exists: `next` stays
        const std::string_view id = key.substr(prefix.size() + sort_bytes(i));
        auto v = t->get(impl_->reviews, id);
        if (!v) return fail(impl_->failed("reading a listing", v.error()));
        auto r = *v ? decode_record(**v) : std::nullopt;
        if (!r) return fail(es::error{es::errc::store_failed, "the reviews read model in " + impl_->dir.string() +
                                                                   " lists a review it cannot read: " + std::string(id)});
        out.items.push_back(std::move(*r));
        out.next = std::string(key);
    }
    // `next` is the last item's key only when the loop stopped at an item beyond the page.
    if (out.items.size() < limit || !e || !*e || !(*e)->first.starts_with(prefix)) out.next.reset();
    return out;
}

}  // namespace shopstream::projections
