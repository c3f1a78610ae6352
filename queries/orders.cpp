#include "queries/orders.hpp"

#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <pqxx/pqxx>

#include "postgres/client.hpp"
#include "projections/orders_vocabulary.hpp"
#include "queries/order_cursor.hpp"

namespace shopstream::queries {
namespace {

namespace order = domain::order;
namespace payment = domain::payment;
using steady = std::chrono::steady_clock;

constexpr std::int64_t max_timestamp_ms = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
constexpr std::int64_t max_summary_range_ms = 366LL * 24 * 3600 * 1000;
constexpr std::string_view model_name = "orders";  // projections::orders_model::name()

error invalid(std::string parameter, std::string why) {
    return error{errc::invalid_argument, std::move(parameter) + ": " + std::move(why)};
}

domain::money money_of(std::int64_t amount, const std::string& code) {
    // The model's CHECK constraint keeps the column to three capitals; parse can only
    // refuse a code ISO retired since, which is still the order's currency.
    auto parsed = domain::currency::parse(code);
    return {amount, parsed.value_or(domain::currency{})};
}

std::optional<order::cancel_reason> reason_named(const pqxx::field& f) {
    if (f.is_null()) return std::nullopt;
    using enum order::cancel_reason;
    for (const auto r : {customer_request, payment_declined, payment_timeout}) {
        if (projections::stored_name(r) == f.c_str()) return r;
    }
    return std::nullopt;
}

bool feeds_orders_model(eventstore::context c) noexcept {
    return c == eventstore::context::orders || c == eventstore::context::payments;
}

constexpr std::string_view ms_of_placed = "(extract(epoch FROM o.placed_at) * 1000)::bigint";
constexpr std::string_view ms_of_updated = "(extract(epoch FROM o.updated_at) * 1000)::bigint";
constexpr std::string_view time_of = "timestamptz 'epoch' + {} * interval '1 millisecond'";

std::string time_param(std::string_view param) {
    std::string out(time_of);
    out.replace(out.find("{}"), 2, param);
    return out;
}

}  // namespace

// ---- statements ---------------------------------------------------------------------------------

struct order_queries::statements {
    std::string get_order, list[2][2], summary, applied;

    // Every statement is prepared once per pooled connection (parsing and planning were a
    // third of PostgreSQL's time per order list, benchmarks/README.md) under these names.
    static constexpr const char* get_order_name = "shopstream_get_order";
    static constexpr const char* list_names[2][2] = {{"shopstream_list", "shopstream_list_after"},
                                                     {"shopstream_list_status", "shopstream_list_status_after"}};
    static constexpr const char* summary_name = "shopstream_summary";
    static constexpr const char* applied_name = "shopstream_applied";

    void prepare_on(pqxx::connection& c) const {
        c.prepare(get_order_name, get_order);
        for (int i = 0; i < 2; ++i) {
            for (int j = 0; j < 2; ++j) c.prepare(list_names[i][j], list[i][j]);
        }
        c.prepare(summary_name, summary);
        c.prepare(applied_name, applied);
    }

    explicit statements(const std::string& s) {
        const std::string newest_payment =
            " LEFT JOIN LATERAL (SELECT id, status, amount, currency, captured, refunded FROM " + s +
            ".payments WHERE order_id = o.id ORDER BY requested_at DESC, id DESC LIMIT 1) p ON true";
        // One statement, so one snapshot and one round trip: a row per line (the order's
        // columns repeated; one row with NULL line columns for an order without lines).
        get_order = "SELECT o.id, o.customer, o.status, o.total, o.currency, o.cancel_reason, o.payment_captured, "
                    "coalesce(h.version, o.version), " + std::string(ms_of_placed) + ", " + std::string(ms_of_updated) +
                    ", p.id, p.status, p.amount, p.currency, p.captured, p.refunded, l.sku, l.quantity, l.unit_price "
                    "FROM " + s + ".orders o" + newest_payment + " LEFT JOIN " + s +
                    ".aggregate_heads h ON h.context = 'orders' AND h.aggregate_id = o.id LEFT JOIN " + s +
                    ".order_lines l ON l.order_id = o.id WHERE o.id = $1 ORDER BY l.line_no";
        // [with status][with after]: fixed texts, so each uses its index. The page is cut
        // from the customer's orders first and only its rows are joined to their payments
        // and converted: with the join below the LIMIT, a plan that sorts the customer's
        // orders (all of them match) ran the payment lookup and the time arithmetic for
        // every order the customer has, not for the page (benchmarks/README.md).
        for (int with_status = 0; with_status < 2; ++with_status) {
            for (int with_after = 0; with_after < 2; ++with_after) {
                std::string page = "SELECT id, status, total, currency, version, placed_at, updated_at FROM " + s +
                                   ".orders WHERE customer = $1";
                if (with_status != 0) page += " AND status = $3";
                if (with_after != 0) {
                    page += " AND (placed_at, id) < (" + time_param(with_status != 0 ? "$4" : "$3") + ", " +
                            (with_status != 0 ? "$5" : "$4") + ")";
                }
                page += " ORDER BY placed_at DESC, id DESC LIMIT $2";
                list[with_status][with_after] = "SELECT o.id, o.status, o.total, o.currency, p.status, o.version, " +
                                                std::string(ms_of_placed) + ", " + std::string(ms_of_updated) +
                                                " FROM (" + page + ") o" + newest_payment +
                                                " ORDER BY o.placed_at DESC, o.id DESC";
            }
        }
        summary = "SELECT to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), status, currency, count(*), sum(total)::text "
                  "FROM " + s + ".orders WHERE placed_at >= " + time_param("$1") + " AND placed_at < " + time_param("$2") +
                  " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
        applied = "SELECT next_offset FROM " + s +
                  ".projection_checkpoints WHERE model = $1 AND context = $2 AND partition = $3";
    }
};

// ---- the connection pool ---------------------------------------------------------------------------

struct order_queries::pool {
    pool(const options& o, const statements& sql)
        : url(o.url), max(std::max<std::size_t>(1, o.max_connections)), statement_timeout(o.statement_timeout),
          connect_timeout(o.connect_timeout), sql_(sql) {}

    class lease {
    public:
        lease(pool& p, std::unique_ptr<pqxx::connection> c) : pool_(&p), connection_(std::move(c)) {}
        lease(lease&& other) noexcept = default;
        lease& operator=(lease&&) = delete;
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;
        ~lease() {
            if (pool_ != nullptr && connection_) pool_->give_back(std::move(connection_), broken_);
        }
        pqxx::connection& operator*() const { return *connection_; }
        void broke() noexcept { broken_ = true; }

    private:
        pool* pool_;
        std::unique_ptr<pqxx::connection> connection_;
        bool broken_ = false;
    };

    result<lease, error> take() {
        {
            std::unique_lock lock(mu);
            if (!freed.wait_for(lock, statement_timeout, [&] { return !idle.empty() || open < max; })) {
                return fail(error{errc::unavailable, "orders read model: all " + std::to_string(max) +
                                                         " connections stayed busy for " +
                                                         std::to_string(statement_timeout.count()) + " ms"});
            }
            if (!idle.empty()) {
                auto c = std::move(idle.back());
                idle.pop_back();
                return lease(*this, std::move(c));
            }
            ++open;
        }
        auto opened = postgres::connect(url, connect_timeout);
        if (opened) {
            // The statements are declarations only (libpqxx prepares each on the server at
            // its first use); the timeout is one round trip, once per connection.
            auto ready = postgres::guarded("preparing a connection for the order queries", [&] {
                pqxx::nontransaction(**opened).exec("SET statement_timeout = " +
                                                    std::to_string(statement_timeout.count()));
                sql_.prepare_on(**opened);
            });
            if (!ready) opened = fail(std::move(ready.error()));
        }
        if (!opened) {
            const std::scoped_lock lock(mu);
            --open;
            freed.notify_one();
            return fail(error{errc::unavailable, "orders read model: " + opened.error().message});
        }
        return lease(*this, std::move(*opened));
    }

    void give_back(std::unique_ptr<pqxx::connection> c, bool broken) {
        const std::scoped_lock lock(mu);
        if (broken || !c->is_open()) {
            --open;
        } else {
            idle.push_back(std::move(c));
        }
        freed.notify_one();
    }

    const postgres::database_url url;
    const std::size_t max;
    const std::chrono::milliseconds statement_timeout;
    const std::chrono::seconds connect_timeout;
    const statements& sql_;
    std::mutex mu;
    std::condition_variable freed;
    std::vector<std::unique_ptr<pqxx::connection>> idle;
    std::size_t open = 0;
};

namespace {

// Runs body(connection) on a pooled connection with libpqxx's exceptions as errors
// (unavailable); a connection that failed is closed rather than returned to the pool.
template <class Pool, class F>
auto on_connection(Pool& p, std::string_view doing, F&& body)
    -> result<typename std::invoke_result_t<F&, pqxx::connection&>::value_type, error> {
    using value = typename std::invoke_result_t<F&, pqxx::connection&>::value_type;
    auto lease = p.take();
    if (!lease) return fail(std::move(lease.error()));
    auto done = postgres::guarded(doing, [&] { return body(**lease); });
    if (!done) {
        lease->broke();
        return fail(error{errc::unavailable, "orders read model, " + done.error().message});
    }
    if (!*done) return fail(std::move(done->error()));
    if constexpr (std::is_void_v<value>) {
        return {};
    } else {
        return std::move(**done);
    }
}

}  // namespace

// ---- the queries ------------------------------------------------------------------------------------

result<order::order_status, error> parse_order_status(std::string_view text) {
    if (auto s = projections::order_status_named(text)) return *s;
    return fail(invalid("status", "'" + std::string(text.substr(0, 40)) +
                                      "' is not an order status (pending, confirmed, cancelled, shipped)"));
}

order_queries::order_queries(options o) : options_(std::move(o)) {}
order_queries::~order_queries() = default;

result<std::unique_ptr<order_queries>, error> order_queries::open(options o) {
    if (!postgres::is_plain_schema_name(o.schema)) {
        return fail(error{errc::invalid_argument, "schema: '" + o.schema + "' is not a plain schema name"});
    }
    if (o.cursor_key.size() < 16) {
        return fail(error{errc::invalid_argument, "cursor_key: at least 16 bytes are needed to sign cursors"});
    }
    std::unique_ptr<order_queries> q(new order_queries(std::move(o)));
    q->sql_ = std::make_unique<const statements>("\"" + q->options_.schema + "\"");
    q->pool_ = std::make_unique<pool>(q->options_, *q->sql_);
    return q;
}

result<order_view, error> order_queries::get_order(std::string_view id) {
    return on_connection(*pool_, "getting an order", [&](pqxx::connection& c) -> result<order_view, error> {
        pqxx::nontransaction txn(c);  // one statement: no BEGIN and COMMIT round trips
        const auto rows = txn.exec_prepared(statements::get_order_name, std::string(id));
        if (rows.empty()) return fail(error{errc::not_found, "no order " + std::string(id.substr(0, 128))});
        const auto r = rows[0];
        order_view v;
        v.id = r[0].as<std::string>();
        v.customer = r[1].as<std::string>();
        v.status = projections::order_status_named(r[2].c_str()).value_or(order::order_status::none);
        v.total = money_of(r[3].as<std::int64_t>(), r[4].as<std::string>());
        v.cancel_reason = reason_named(r[5]);
        v.payment_captured = r[6].as<bool>();
        v.version = r[7].as<std::uint64_t>();
        v.placed_at_ms = r[8].as<std::int64_t>();
        v.updated_at_ms = r[9].as<std::int64_t>();
        if (!r[10].is_null()) {
            v.payment = payment_view{
                r[10].as<std::string>(),
                projections::payment_status_named(r[11].c_str()).value_or(payment::payment_status::none),
                money_of(r[12].as<std::int64_t>(), r[13].as<std::string>()), r[14].as<std::int64_t>(),
                r[15].as<std::int64_t>()};
        }
        for (const auto& line : rows) {
            if (line[16].is_null()) continue;
            v.lines.push_back({line[16].as<std::string>(), line[17].as<std::int32_t>(), line[18].as<std::int64_t>()});
        }
        return v;
    });
}

result<order_page, error> order_queries::list_orders(const list_orders_request& request) {
    if (request.limit < 1 || request.limit > max_page_size) {
        return fail(invalid("limit", "must be from 1 to " + std::to_string(max_page_size) + ", not " +
                                         std::to_string(request.limit)));
    }
    std::optional<list_position> after;
    if (request.after) {
        auto decoded = decode_cursor(options_.cursor_key, request.customer, *request.after);
        if (!decoded) return fail(std::move(decoded.error()));
        after = std::move(*decoded);
    }
    return on_connection(*pool_, "listing orders", [&](pqxx::connection& c) -> result<order_page, error> {
        pqxx::nontransaction txn(c);  // one statement: no BEGIN and COMMIT round trips
        const std::string sql = statements::list_names[request.status ? 1 : 0][after ? 1 : 0];
        const int fetch = request.limit + 1;  // one more: is there a next page?
        pqxx::result rows;
        if (request.status && after) {
            rows = txn.exec_prepared(sql, request.customer, fetch, std::string(projections::stored_name(*request.status)),
                                   after->placed_at_ms, after->order_id);
        } else if (request.status) {
            rows = txn.exec_prepared(sql, request.customer, fetch, std::string(projections::stored_name(*request.status)));
        } else if (after) {
            rows = txn.exec_prepared(sql, request.customer, fetch, after->placed_at_ms, after->order_id);
        } else {
            rows = txn.exec_prepared(sql, request.customer, fetch);
        }
        order_page page;
        for (const auto& r : rows) {
            if (page.items.size() == static_cast<std::size_t>(request.limit)) {
                const auto& last = page.items.back();
                page.next = encode_cursor(options_.cursor_key, request.customer, {last.placed_at_ms, last.id});
                break;
            }
            order_list_item item;
            item.id = r[0].as<std::string>();
            item.status = projections::order_status_named(r[1].c_str()).value_or(order::order_status::none);
            item.total = money_of(r[2].as<std::int64_t>(), r[3].as<std::string>());
            if (!r[4].is_null()) item.payment_status = projections::payment_status_named(r[4].c_str());
            item.version = r[5].as<std::uint64_t>();
            item.placed_at_ms = r[6].as<std::int64_t>();
            item.updated_at_ms = r[7].as<std::int64_t>();
            page.items.push_back(std::move(item));
        }
        return page;
    });
}

result<order_summary, error> order_queries::summary(std::int64_t from_ms, std::int64_t to_ms) {
    if (from_ms < 0 || from_ms > max_timestamp_ms) return fail(invalid("from", "not a time from 1970 to 9999"));
    if (to_ms < 0 || to_ms > max_timestamp_ms) return fail(invalid("to", "not a time from 1970 to 9999"));
    if (to_ms <= from_ms) return fail(invalid("to", "must be after from"));
    if (to_ms - from_ms > max_summary_range_ms) return fail(invalid("to", "at most 366 days after from"));
    return on_connection(*pool_, "summarising orders", [&](pqxx::connection& c) -> result<order_summary, error> {
        pqxx::nontransaction txn(c);
        order_summary out;
        std::map<std::string, std::int64_t> totals;
        for (const auto& r : txn.exec_prepared(statements::summary_name, from_ms, to_ms)) {
            const std::string day = r[0].as<std::string>();
            const auto status = projections::order_status_named(r[1].c_str()).value_or(order::order_status::none);
            const std::string currency = r[2].as<std::string>();
            const std::string_view sum = r[4].c_str();
            std::int64_t revenue = 0;
            if (auto [end, ec] = std::from_chars(sum.data(), sum.data() + sum.size(), revenue);
                ec != std::errc{} || end != sum.data() + sum.size() ||
                !domain::checked_add(totals[currency], revenue)) {
                return fail(error{errc::invalid_argument,
                                  "to: the revenue in " + currency + " over the range exceeds 64-bit minor units; "
                                  "ask for a shorter range"});
            }
            totals[currency] += revenue;
            if (out.rows.empty() || out.rows.back().day != day || out.rows.back().status != status) {
                out.rows.push_back({day, status, 0, {}});
            }
            out.rows.back().count += r[3].as<std::int64_t>();
            out.rows.back().revenue.push_back(money_of(revenue, currency));
        }
        for (const auto& [currency, total] : totals) out.revenue.push_back(money_of(total, currency));
        return out;
    });
}

result<eventstore::log_offset, error> order_queries::applied_offset(eventstore::context ctx,
                                                                     eventstore::partition_id partition) {
    if (!feeds_orders_model(ctx)) {
        return fail(invalid("position", "the orders read model is fed by orders and payments, not " +
                                            std::string(name_of(ctx))));
    }
    return on_connection(*pool_, "reading the applied position",
                         [&](pqxx::connection& c) -> result<eventstore::log_offset, error> {
                             pqxx::nontransaction q(c);
                             const auto rows = q.exec_prepared(statements::applied_name, std::string(model_name),
                                                             std::string(name_of(ctx)), partition.value());
                             return eventstore::log_offset(rows.empty() ? 0 : rows[0][0].as<std::int64_t>());
                         });
}

result<void, error> order_queries::wait_until_applied(eventstore::context ctx, eventstore::position at,
                                                      std::chrono::milliseconds timeout, std::chrono::milliseconds poll) {
    const auto deadline = steady::now() + timeout;
    for (;;) {
        auto applied = applied_offset(ctx, at.partition);
        if (!applied) return fail(std::move(applied.error()));
        if (applied->value() > at.offset.value()) return {};
        const auto now = steady::now();
        if (now >= deadline) {
            return fail(error{errc::not_yet_applied,
                              "the orders read model has applied " + std::string(name_of(ctx)) + " partition " +
                                  std::to_string(at.partition.value()) + " below offset " +
                                  std::to_string(applied->value()) + ", not yet " + to_string(at) + " (waited " +
                                  std::to_string(timeout.count()) + " ms)"});
        }
        std::this_thread::sleep_for(std::min<steady::duration>(poll, deadline - now));  // between polls
    }
}

}  // namespace shopstream::queries
