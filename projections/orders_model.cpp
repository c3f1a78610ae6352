#include "projections/orders_model.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "postgres/array_literal.hpp"
#include "postgres/client.hpp"
#include "projections/orders_schema.hpp"
#include "projections/orders_vocabulary.hpp"

namespace shopstream::projections {
namespace {

namespace order = domain::order;
namespace payment = domain::payment;
using postgres::array_literal;

constexpr std::array<context, 2> fed_by = {context::orders, context::payments};

// What timestamptz holds without overflow, and what a reader would call a time: 1970 to 9999.
constexpr std::int64_t max_timestamp_ms = 253'402'300'799'999;

bool feeds_this_model(context c) noexcept { return c == context::orders || c == context::payments; }

bool is_currency_code(std::string_view code) noexcept {
    return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::optional<std::string> bad_time(std::string_view event, std::int64_t at) {
    if (at >= 0 && at <= max_timestamp_ms) return std::nullopt;
    return std::string(event) + " at " + std::to_string(at) + " ms: not a time from 1970 to 9999";
}

// ---- the rows, as the fold sees them ------------------------------------------------

struct order_row {
    std::string id;
    std::string customer;
    order::order_status status = order::order_status::pending;
    std::int64_t total = 0;
    std::string currency;
    std::optional<std::string> cancel_reason;
    std::optional<std::string> payment_id;
    bool payment_captured = false;
    std::uint64_t version = 0;
    std::int64_t placed_ms = 0;
    std::int64_t updated_ms = 0;
};

struct payment_row {
    std::string id;
    std::string order_id;
    payment::payment_status status = payment::payment_status::requested;
    std::int64_t amount = 0;
    std::string currency;
    std::int64_t captured = 0;
    std::int64_t refunded = 0;
    std::uint64_t version = 0;
    std::int64_t requested_ms = 0;
    std::int64_t updated_ms = 0;
};

template <class Row>
struct work {
    std::optional<Row> row;  // as loaded, then as the batch leaves it
    bool changed = false;
    std::vector<order::order_line> new_lines;  // orders: the lines of an order placed in this batch
};

// ---- one event's effect; a reason when it breaks the model's invariant ------------------

using verdict = std::optional<std::string>;

std::string unknown(std::string_view what, std::string_view event, const std::string& id) {
    return std::string(event) + " for " + std::string(what) + " " + id +
           ", which the model does not have (its first event was not seen or was refused)";
}

verdict apply(work<order_row>& w, const order::event& e, std::uint64_t version) {
    return std::visit(
        [&](const auto& ev) -> verdict {
            using event_type = std::decay_t<decltype(ev)>;
            constexpr std::string_view name = event_type::name;
            if (auto t = bad_time(name, ev.at)) return t;
            if constexpr (std::is_same_v<event_type, order::order_placed>) {
                if (w.row) {
                    return std::string(name) + " for order " + ev.id.value() + ", which the model already has (version " +
                           std::to_string(w.row->version) + ")";
                }
                if (!is_currency_code(ev.currency.code())) return std::string(name) + ": no currency";
                if (ev.total < 0) return std::string(name) + ": negative total " + std::to_string(ev.total);
                if (ev.customer.empty()) return std::string(name) + ": no customer";
                w.row = order_row{.id = ev.id.value(), .customer = ev.customer.value(),
                                  .status = order::order_status::pending, .total = ev.total,
                                  .currency = std::string(ev.currency.code()), .cancel_reason = std::nullopt,
                                  .payment_id = std::nullopt, .payment_captured = false, .version = version,
                                  .placed_ms = ev.at, .updated_ms = ev.at};
                w.new_lines = ev.lines;
                return std::nullopt;
            } else {
                if (!w.row) return unknown("order", name, ev.id.value());
                order_row& row = *w.row;
                if constexpr (std::is_same_v<event_type, order::order_cancelled>) {
                    const std::string_view reason = stored_name(ev.reason);
                    if (reason.empty()) return std::string(name) + ": unknown cancel reason";
                    row.status = order::order_status::cancelled;
                    row.cancel_reason = std::string(reason);
                } else if constexpr (std::is_same_v<event_type, order::order_confirmed>) {
                    row.status = order::order_status::confirmed;
                    row.payment_id = ev.payment.value();
                } else if constexpr (std::is_same_v<event_type, order::order_shipped>) {
                    row.status = order::order_status::shipped;
                } else {
                    static_assert(std::is_same_v<event_type, order::order_payment_captured>);
                    row.payment_captured = true;
                    if (!row.payment_id) row.payment_id = ev.payment.value();
                }
                row.version = version;
                row.updated_ms = ev.at;
                return std::nullopt;
            }
        },
        e);
}

verdict apply(work<payment_row>& w, const payment::event& e, std::uint64_t version) {
    return std::visit(
        [&](const auto& ev) -> verdict {
            using event_type = std::decay_t<decltype(ev)>;
            constexpr std::string_view name = event_type::name;
            if (auto t = bad_time(name, ev.at)) return t;
            if constexpr (std::is_same_v<event_type, payment::payment_requested>) {
                if (w.row) {
                    return std::string(name) + " for payment " + ev.id.value() +
                           ", which the model already has (version " + std::to_string(w.row->version) + ")";
                }
                if (!domain::is_valid_id(ev.order.value())) {
                    return std::string(name) + " for a malformed order id '" + ev.order.value() + "'";
                }
                if (!is_currency_code(ev.amount.currency.code())) return std::string(name) + ": no currency";
                w.row = payment_row{.id = ev.id.value(), .order_id = ev.order.value(),
                                    .status = payment::payment_status::requested, .amount = ev.amount.amount,
                                    .currency = std::string(ev.amount.currency.code()), .captured = 0, .refunded = 0,
                                    .version = version, .requested_ms = ev.at, .updated_ms = ev.at};
                return std::nullopt;
            } else {
                if (!w.row) return unknown("payment", name, ev.id.value());
                payment_row& row = *w.row;
                if constexpr (std::is_same_v<event_type, payment::payment_authorized>) {
                    row.status = payment::payment_status::authorized;
                } else if constexpr (std::is_same_v<event_type, payment::payment_declined>) {
                    row.status = payment::payment_status::declined;
                } else if constexpr (std::is_same_v<event_type, payment::payment_captured>) {
                    if (ev.amount.currency.code() != row.currency) {
                        return std::string(name) + " in " + std::string(ev.amount.currency.code()) +
                               " for a payment in " + row.currency;
                    }
                    row.status = payment::payment_status::captured;
                    row.captured = ev.amount.amount;
                } else if constexpr (std::is_same_v<event_type, payment::payment_voided>) {
                    row.status = payment::payment_status::voided;
                } else {
                    static_assert(std::is_same_v<event_type, payment::payment_refunded>);
                    if (ev.amount.currency.code() != row.currency) {
                        return std::string(name) + " in " + std::string(ev.amount.currency.code()) +
                               " for a payment in " + row.currency;
                    }
                    const auto refunded = domain::checked_add(row.refunded, ev.amount.amount);
                    if (!refunded) return std::string(name) + ": the refunds overflow";
                    row.refunded = *refunded;
                }
                row.version = version;
                row.updated_ms = ev.at;
                return std::nullopt;
            }
        },
        e);
}

template <class Event>
const std::string& aggregate_named(const Event& e) {
    return std::visit([](const auto& ev) -> const std::string& { return ev.id.value(); }, e);
}

// Folds one commit onto its aggregate's work: all of its events, or (a refusal) none.
template <class Row, class Event>
verdict fold(work<Row>& w, const applied_commit& c) {
    work<Row> tentative = w;
    for (std::size_t i = 0; i < c.events.size(); ++i) {
        const auto* e = std::get_if<Event>(&c.events[i]);
        if (e == nullptr) return std::string("an event of another context in a ") + std::string(name_of(c.ctx)) + " commit";
        if (aggregate_named(*e) != c.aggregate_id) {
            return "an event for " + aggregate_named(*e) + " in a commit of " + c.aggregate_id;
        }
        const std::uint64_t version = c.first_version + i;
        if (tentative.row && version <= tentative.row->version) continue;  // stored already: the guard
        if (auto refused = apply(tentative, *e, version)) return refused;
        tentative.changed = true;
    }
    w = std::move(tentative);
    return std::nullopt;
}

// ---- heads as stored: [[command_id, version, partition, offset], ...] -----------------------

std::string encode_recent(const eventstore::aggregate_head& head) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : head.recent_commands) {
        out.push_back({c.command_id, c.version, c.at.partition.value(), c.at.offset.value()});
    }
    return out.dump();
}

std::optional<std::vector<eventstore::applied_command>> decode_recent(std::string_view text) {
    const auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (!parsed.is_array()) return std::nullopt;
    std::vector<eventstore::applied_command> out;
    out.reserve(parsed.size());
    for (const auto& c : parsed) {
        if (!c.is_array() || c.size() != 4 || !c[0].is_string() || !c[1].is_number_unsigned() ||
            !c[2].is_number_integer() || !c[3].is_number_integer()) {
            return std::nullopt;
        }
        const auto partition = c[2].get<std::int64_t>();
        if (partition < 0 || partition > std::numeric_limits<std::int32_t>::max()) return std::nullopt;
        out.push_back({c[0].get<std::string>(), c[1].get<std::uint64_t>(),
                       position{partition_id(static_cast<std::int32_t>(partition)), log_offset(c[3].get<std::int64_t>())}});
    }
    return out;
}

std::optional<context> context_named(std::string_view name) {
    for (const context c : eventstore::all_contexts) {
        if (name_of(c) == name) return c;
    }
    return std::nullopt;
}

eventstore::error invalid(std::string message) {
    return eventstore::error{eventstore::errc::invalid_argument, "orders read model: " + std::move(message)};
}

// The batch's shape, checked before anything is written.
std::optional<eventstore::error> misshapen(const batch& b) {
    for (const auto& c : b.commits) {
        if (!feeds_this_model(c.ctx)) return invalid("a commit of " + std::string(name_of(c.ctx)) + " (it takes orders and payments)");
        if (c.first_version == 0 || c.events.empty()) return invalid("commit " + c.command_id + " at " + to_string(c.at) + " has no events or version 0");
    }
    for (const auto& h : b.heads) {
        if (!feeds_this_model(h.ctx)) return invalid("a head of " + std::string(name_of(h.ctx)));
        if (h.head.version == 0) return invalid("a head of version 0 for " + h.aggregate_id);
    }
    for (const auto& cp : b.checkpoints) {
        if (!feeds_this_model(cp.ctx)) return invalid("a checkpoint of " + std::string(name_of(cp.ctx)));
        if (cp.partition.value() < 0 || cp.next_offset.value() < 0) {
            return invalid("checkpoint " + std::string(name_of(cp.ctx)) + ":" + std::to_string(cp.partition.value()) + ":" +
                           std::to_string(cp.next_offset.value()) + " is negative");
        }
    }
    return std::nullopt;
}

// ---- statements -----------------------------------------------------------------------------

constexpr std::string_view ms_to_time = "timestamptz 'epoch' + {} * interval '1 millisecond'";
constexpr std::string_view time_to_ms = "(extract(epoch FROM {}) * 1000)::bigint";

std::string fill(std::string_view pattern, std::string_view value) {
    std::string out(pattern);
    out.replace(out.find("{}"), 2, value);
    return out;
}

}  // namespace

struct orders_model::statements {
    std::string load_orders, load_payments, upsert_orders, insert_lines, upsert_payments, upsert_heads,
        upsert_checkpoints, load_heads, load_checkpoints, get_identity, set_identity;

    explicit statements(const std::string& s) {
        load_orders = "SELECT id, customer, status, total, currency, cancel_reason, payment_id, payment_captured, version, " +
                      fill(time_to_ms, "placed_at") + ", " + fill(time_to_ms, "updated_at") + " FROM " + s +
                      ".orders WHERE id = ANY($1::text[])";
        load_payments = "SELECT id, order_id, status, amount, currency, captured, refunded, version, " +
                        fill(time_to_ms, "requested_at") + ", " + fill(time_to_ms, "updated_at") + " FROM " + s +
                        ".payments WHERE id = ANY($1::text[])";
        upsert_orders =
            "INSERT INTO " + s + ".orders AS o (id, customer, status, total, currency, cancel_reason, payment_id, "
            "payment_captured, version, placed_at, updated_at) "
            "SELECT u.id, u.customer, u.status, u.total, u.currency, u.cancel_reason, u.payment_id, u.payment_captured, "
            "u.version, " + fill(ms_to_time, "u.placed_ms") + ", " + fill(ms_to_time, "u.updated_ms") +
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], "
            "$8::boolean[], $9::bigint[], $10::bigint[], $11::bigint[]) AS u(id, customer, status, total, currency, "
            "cancel_reason, payment_id, payment_captured, version, placed_ms, updated_ms) "
            "ON CONFLICT (id) DO UPDATE SET customer = EXCLUDED.customer, status = EXCLUDED.status, "
            "total = EXCLUDED.total, currency = EXCLUDED.currency, cancel_reason = EXCLUDED.cancel_reason, "
            "payment_id = EXCLUDED.payment_id, payment_captured = EXCLUDED.payment_captured, "
            "version = EXCLUDED.version, placed_at = EXCLUDED.placed_at, updated_at = EXCLUDED.updated_at "
            "WHERE o.version < EXCLUDED.version";
        insert_lines = "INSERT INTO " + s + ".order_lines (order_id, line_no, sku, quantity, unit_price) "
                       "SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::bigint[]) "
                       "ON CONFLICT (order_id, line_no) DO NOTHING";
        upsert_payments =
            "INSERT INTO " + s + ".payments AS p (id, order_id, status, amount, currency, captured, refunded, version, "
            "requested_at, updated_at) "
            "SELECT u.id, u.order_id, u.status, u.amount, u.currency, u.captured, u.refunded, u.version, " +
            fill(ms_to_time, "u.requested_ms") + ", " + fill(ms_to_time, "u.updated_ms") +
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], "
            "$8::bigint[], $9::bigint[], $10::bigint[]) AS u(id, order_id, status, amount, currency, captured, refunded, "
            "version, requested_ms, updated_ms) "
            "ON CONFLICT (id) DO UPDATE SET order_id = EXCLUDED.order_id, status = EXCLUDED.status, "
            "amount = EXCLUDED.amount, currency = EXCLUDED.currency, captured = EXCLUDED.captured, "
            "refunded = EXCLUDED.refunded, version = EXCLUDED.version, requested_at = EXCLUDED.requested_at, "
            "updated_at = EXCLUDED.updated_at WHERE p.version < EXCLUDED.version";
        upsert_heads = "INSERT INTO " + s + ".aggregate_heads AS h (context, aggregate_id, version, recent_commands) "
                       "SELECT u.context, u.aggregate_id, u.version, u.recent::jsonb "
                       "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(context, aggregate_id, version, recent) "
                       "ON CONFLICT (context, aggregate_id) DO UPDATE SET version = EXCLUDED.version, "
                       "recent_commands = EXCLUDED.recent_commands WHERE h.version < EXCLUDED.version";
        upsert_checkpoints = "INSERT INTO " + s + ".projection_checkpoints AS c (model, context, partition, next_offset) "
                             "SELECT $1, u.context, u.partition, u.next_offset "
                             "FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(context, partition, next_offset) "
                             "ON CONFLICT (model, context, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset "
                             "WHERE c.next_offset < EXCLUDED.next_offset";
        load_heads = "SELECT aggregate_id, version, recent_commands::text FROM " + s +
                     ".aggregate_heads WHERE context = $1 AND aggregate_id = ANY($2::text[])";
        load_checkpoints = "SELECT context, partition, next_offset FROM " + s + ".projection_checkpoints WHERE model = $1";
        get_identity = "SELECT identity FROM " + s + ".log_identity WHERE model = $1";
        set_identity = "INSERT INTO " + s + ".log_identity (model, identity) VALUES ($1, $2) "
                       "ON CONFLICT (model) DO UPDATE SET identity = EXCLUDED.identity";
    }
};

namespace {

std::optional<std::string> optional_text(const pqxx::field& f) {
    if (f.is_null()) return std::nullopt;
    return f.as<std::string>();
}

void add_optional(array_literal& a, const std::optional<std::string>& v) {
    if (v) {
        a.add_text(*v);
    } else {
        a.add_null();
    }
}

std::int64_t as_int(std::uint64_t v) { return static_cast<std::int64_t>(std::min<std::uint64_t>(v, std::numeric_limits<std::int64_t>::max())); }

}  // namespace

struct orders_model::session {
    std::unique_ptr<pqxx::connection> connection;
};

orders_model::orders_model(postgres::database_url url, std::string schema)
    : url_(std::move(url)), schema_(std::move(schema)) {}

orders_model::~orders_model() = default;

std::span<const context> orders_model::contexts() const noexcept { return fed_by; }

result<std::unique_ptr<orders_model>, eventstore::error> orders_model::open(const postgres::database_url& url,
                                                                            std::string_view schema) {
    std::unique_ptr<orders_model> model(new orders_model(url, std::string(schema)));
    auto connection = model->connection();
    if (!connection) return fail(std::move(connection.error()));
    if (auto migrated = migrate_orders_schema(*(*connection)->connection, schema); !migrated) {
        return fail(model->failure("migrating the schema", migrated.error()));
    }
    // A plain name (the migration checked it): quoting is wrapping it.
    model->sql_ = std::make_unique<const statements>("\"" + model->schema_ + "\"");
    return model;
}

eventstore::error orders_model::failure(std::string_view doing, const postgres::error& e) const {
    return eventstore::error{e.code == postgres::errc::invalid_name ? eventstore::errc::invalid_argument
                                                                    : eventstore::errc::store_failed,
                             "orders read model (PostgreSQL at " + url_.describe() + ", schema " + schema_ + "), " +
                                 std::string(doing) + ": " + e.message};
}

result<orders_model::session*, eventstore::error> orders_model::connection() {
    if (session_ && session_->connection->is_open()) return session_.get();
    session_.reset();
    auto opened = postgres::connect(url_);
    if (!opened) return fail(failure("connecting", opened.error()));
    session_ = std::make_unique<session>(session{std::move(*opened)});
    return session_.get();
}

template <class F>
auto orders_model::run(std::string_view doing, F&& body) {
    using value = typename postgres::detail::guarded_result<std::invoke_result_t<F&, pqxx::connection&>>::type::value_type;
    auto c = connection();
    if (!c) return result<value, eventstore::error>(fail(std::move(c.error())));
    auto done = postgres::guarded(doing, [&] { return body(*(*c)->connection); });
    if (!done) {
        if (done.error().code == postgres::errc::connection_failed) session_.reset();
        return result<value, eventstore::error>(fail(failure(doing, done.error())));
    }
    if constexpr (std::is_void_v<value>) {
        return result<value, eventstore::error>();
    } else {
        return result<value, eventstore::error>(std::move(*done));
    }
}

result<std::vector<checkpoint>, eventstore::error> orders_model::load_checkpoints() {
    return run("loading checkpoints", [&](pqxx::connection& c) -> result<std::vector<checkpoint>, postgres::error> {
        pqxx::read_transaction txn(c);
        std::vector<checkpoint> out;
        for (const auto& row : txn.exec_params(sql_->load_checkpoints, std::string(name()))) {
            const auto ctx = context_named(row[0].as<std::string>());
            if (!ctx || !feeds_this_model(*ctx)) {
                return fail(postgres::error{postgres::errc::unexpected_answer,
                                            "a checkpoint of context '" + row[0].as<std::string>() + "'"});
            }
            out.push_back({*ctx, partition_id(row[1].as<std::int32_t>()), log_offset(row[2].as<std::int64_t>())});
        }
        return out;
    });
}

result<std::vector<std::optional<eventstore::aggregate_head>>, eventstore::error> orders_model::load_heads(
    context ctx, std::span<const std::string> aggregate_ids) {
    using heads = std::vector<std::optional<eventstore::aggregate_head>>;
    if (!feeds_this_model(ctx)) return fail(invalid("heads of " + std::string(name_of(ctx)) + " asked"));
    if (aggregate_ids.empty()) return heads{};
    return run("loading heads", [&](pqxx::connection& c) -> result<heads, postgres::error> {
        array_literal ids;
        for (const auto& id : aggregate_ids) ids.add_text(id);
        pqxx::read_transaction txn(c);
        std::map<std::string, eventstore::aggregate_head, std::less<>> found;
        for (const auto& row : txn.exec_params(sql_->load_heads, std::string(name_of(ctx)), ids.str())) {
            auto recent = decode_recent(row[2].c_str());
            if (!recent) {
                return fail(postgres::error{postgres::errc::unexpected_answer,
                                            "the head of " + row[0].as<std::string>() +
                                                " is not what this build writes (aggregate_heads.recent_commands)"});
            }
            found.emplace(row[0].as<std::string>(), eventstore::aggregate_head{row[1].as<std::uint64_t>(), std::move(*recent)});
        }
        heads out;
        out.reserve(aggregate_ids.size());
        for (const auto& id : aggregate_ids) {
            const auto it = found.find(id);
            out.push_back(it == found.end() ? std::nullopt : std::optional(it->second));
        }
        return out;
    });
}

result<std::vector<refusal>, eventstore::error> orders_model::write_batch(const batch& b) {
    if (auto bad = misshapen(b)) return fail(std::move(*bad));
    std::optional<eventstore::error> hook_failed;  // b.before_commit's, which aborts the transaction
    auto written = run("writing a batch", [&](pqxx::connection& c) -> result<std::vector<refusal>, postgres::error> {
        // Sorted maps: rows are written in id order, so two writers never deadlock.
        std::map<std::string, work<order_row>, std::less<>> orders;
        std::map<std::string, work<payment_row>, std::less<>> payments;
        // Rows to load: those of aggregates the batch continues. One whose first commit here
        // is at version 1 had no head, hence no row (both are written in one transaction);
        // should another process have written one meanwhile, the upserts' guards hold.
        array_literal order_ids, payment_ids;
        for (const auto& commit : b.commits) {
            const bool is_order = commit.ctx == context::orders;
            const bool first = is_order ? orders.try_emplace(commit.aggregate_id).second
                                        : payments.try_emplace(commit.aggregate_id).second;
            if (first && commit.first_version > 1) (is_order ? order_ids : payment_ids).add_text(commit.aggregate_id);
        }
        pqxx::work txn(c);
        if (order_ids.size() > 0) {
            const auto& ids = order_ids;
            for (const auto& r : txn.exec_params(sql_->load_orders, ids.str())) {
                const auto status = order_status_named(r[2].as<std::string>());
                if (!status) return fail(postgres::error{postgres::errc::unexpected_answer, "order status " + r[2].as<std::string>()});
                orders[r[0].as<std::string>()].row =
                    order_row{.id = r[0].as<std::string>(), .customer = r[1].as<std::string>(), .status = *status,
                              .total = r[3].as<std::int64_t>(), .currency = r[4].as<std::string>(),
                              .cancel_reason = optional_text(r[5]), .payment_id = optional_text(r[6]),
                              .payment_captured = r[7].as<bool>(), .version = r[8].as<std::uint64_t>(),
                              .placed_ms = r[9].as<std::int64_t>(), .updated_ms = r[10].as<std::int64_t>()};
            }
        }
        if (payment_ids.size() > 0) {
            const auto& ids = payment_ids;
            for (const auto& r : txn.exec_params(sql_->load_payments, ids.str())) {
                const auto status = payment_status_named(r[2].as<std::string>());
                if (!status) return fail(postgres::error{postgres::errc::unexpected_answer, "payment status " + r[2].as<std::string>()});
                payments[r[0].as<std::string>()].row =
                    payment_row{.id = r[0].as<std::string>(), .order_id = r[1].as<std::string>(), .status = *status,
                                .amount = r[3].as<std::int64_t>(), .currency = r[4].as<std::string>(),
                                .captured = r[5].as<std::int64_t>(), .refunded = r[6].as<std::int64_t>(),
                                .version = r[7].as<std::uint64_t>(), .requested_ms = r[8].as<std::int64_t>(),
                                .updated_ms = r[9].as<std::int64_t>()};
            }
        }

        std::vector<refusal> refused;
        for (const auto& commit : b.commits) {
            const verdict v = commit.ctx == context::orders ? fold<order_row, order::event>(orders[commit.aggregate_id], commit)
                                                            : fold<payment_row, payment::event>(payments[commit.aggregate_id], commit);
            if (v) refused.push_back({commit.ctx, commit.at, *v});
        }

        array_literal o_id, o_customer, o_status, o_total, o_currency, o_reason, o_payment, o_captured, o_version,
            o_placed, o_updated, l_order, l_no, l_sku, l_quantity, l_price;
        for (const auto& [id, w] : orders) {
            if (!w.changed) continue;
            const order_row& r = *w.row;
            o_id.add_text(r.id);
            o_customer.add_text(r.customer);
            o_status.add_text(stored_name(r.status));
            o_total.add_int(r.total);
            o_currency.add_text(r.currency);
            add_optional(o_reason, r.cancel_reason);
            add_optional(o_payment, r.payment_id);
            o_captured.add_bool(r.payment_captured);
            o_version.add_int(as_int(r.version));
            o_placed.add_int(r.placed_ms);
            o_updated.add_int(r.updated_ms);
            for (std::size_t i = 0; i < w.new_lines.size(); ++i) {
                l_order.add_text(r.id);
                l_no.add_int(static_cast<std::int64_t>(i));
                l_sku.add_text(w.new_lines[i].sku);
                l_quantity.add_int(w.new_lines[i].quantity);
                l_price.add_int(w.new_lines[i].unit_price);
            }
        }
        if (o_id.size() > 0) {
            txn.exec_params(sql_->upsert_orders, o_id.str(), o_customer.str(), o_status.str(), o_total.str(),
                            o_currency.str(), o_reason.str(), o_payment.str(), o_captured.str(), o_version.str(),
                            o_placed.str(), o_updated.str());
        }
        if (l_order.size() > 0) {
            txn.exec_params(sql_->insert_lines, l_order.str(), l_no.str(), l_sku.str(), l_quantity.str(), l_price.str());
        }

        array_literal p_id, p_order, p_status, p_amount, p_currency, p_captured, p_refunded, p_version, p_requested,
            p_updated;
        for (const auto& [id, w] : payments) {
            if (!w.changed) continue;
            const payment_row& r = *w.row;
            p_id.add_text(r.id);
            p_order.add_text(r.order_id);
            p_status.add_text(stored_name(r.status));
            p_amount.add_int(r.amount);
            p_currency.add_text(r.currency);
            p_captured.add_int(r.captured);
            p_refunded.add_int(r.refunded);
            p_version.add_int(as_int(r.version));
            p_requested.add_int(r.requested_ms);
            p_updated.add_int(r.updated_ms);
        }
        if (p_id.size() > 0) {
            txn.exec_params(sql_->upsert_payments, p_id.str(), p_order.str(), p_status.str(), p_amount.str(),
                            p_currency.str(), p_captured.str(), p_refunded.str(), p_version.str(), p_requested.str(),
                            p_updated.str());
        }

        if (!b.heads.empty()) {
            // One row per aggregate (the last head given wins), in key order.
            std::map<std::pair<std::string_view, std::string_view>, const eventstore::aggregate_head*> last;
            for (const auto& h : b.heads) last[{name_of(h.ctx), h.aggregate_id}] = &h.head;
            array_literal h_context, h_id, h_version, h_recent;
            for (const auto& [key, head] : last) {
                h_context.add_text(key.first);
                h_id.add_text(key.second);
                h_version.add_int(as_int(head->version));
                h_recent.add_text(encode_recent(*head));
            }
            txn.exec_params(sql_->upsert_heads, h_context.str(), h_id.str(), h_version.str(), h_recent.str());
        }
        if (!b.checkpoints.empty()) {
            std::map<std::pair<std::string_view, std::int32_t>, std::int64_t> last;
            for (const auto& cp : b.checkpoints) {
                auto& next = last[{name_of(cp.ctx), cp.partition.value()}];
                next = std::max(next, cp.next_offset.value());
            }
            array_literal c_context, c_partition, c_offset;
            for (const auto& [key, next] : last) {
                c_context.add_text(key.first);
                c_partition.add_int(key.second);
                c_offset.add_int(next);
            }
            txn.exec_params(sql_->upsert_checkpoints, std::string(name()), c_context.str(), c_partition.str(), c_offset.str());
        }
        if (b.log_identity) txn.exec_params(sql_->set_identity, std::string(name()), *b.log_identity);
        if (!refused.empty() && b.before_commit) {
            if (auto h = b.before_commit(refused); !h) {
                hook_failed = std::move(h.error());
                return fail(postgres::error{postgres::errc::query_failed, "aborted before its commit"});
            }
        }
        txn.commit();
        return refused;
    });
    if (hook_failed) return fail(std::move(*hook_failed));
    return written;
}

result<std::optional<std::string>, eventstore::error> orders_model::load_log_identity() {
    return run("reading the log identity", [&](pqxx::connection& c) -> std::optional<std::string> {
        pqxx::read_transaction txn(c);
        const auto rows = txn.exec_params(sql_->get_identity, std::string(name()));
        if (rows.empty()) return std::nullopt;
        return rows[0][0].as<std::string>();
    });
}

std::string orders_model::location() const { return "schema " + schema_ + " of " + url_.describe(); }

}  // namespace shopstream::projections
