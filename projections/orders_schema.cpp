#include "projections/orders_schema.hpp"

#include <array>
#include <pqxx/pqxx>

#include "postgres/client.hpp"

namespace shopstream::projections {
namespace {

struct migration {
    int version;
    std::string_view sql;  // "{s}" stands for the quoted schema name
};

// Append only: a released migration is never edited, a change is a new one.
constexpr std::array migrations{
    migration{1, R"sql(
CREATE TABLE {s}.orders (
    id               text        PRIMARY KEY,
    customer         text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'shipped')),
    total            bigint      NOT NULL CHECK (total >= 0),
    currency         text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    cancel_reason    text        CHECK (cancel_reason IN ('customer_request', 'payment_declined', 'payment_timeout')),
    payment_id       text,
    payment_captured boolean     NOT NULL DEFAULT false,
    version          bigint      NOT NULL CHECK (version > 0),
    placed_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- A customer's orders newest first, with and without a status filter (keyset pagination).
CREATE INDEX orders_by_customer ON {s}.orders (customer, placed_at DESC, id DESC);
CREATE INDEX orders_by_customer_status ON {s}.orders (customer, status, placed_at DESC, id DESC);
-- The admin summary's time range.
CREATE INDEX orders_by_placed_at ON {s}.orders (placed_at);

-- Written once, with the order_placed that carries them (no foreign key: both are written
-- in the same transaction, and the check would cost a lookup per line).
CREATE TABLE {s}.order_lines (
    order_id   text   NOT NULL,
    line_no    int    NOT NULL CHECK (line_no >= 0),
    sku        text   NOT NULL,
    quantity   int    NOT NULL,
    unit_price bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE {s}.payments (
    id           text        PRIMARY KEY,
    order_id     text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('requested', 'authorized', 'declined', 'captured', 'voided')),
    amount       bigint      NOT NULL,
    currency     text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    captured     bigint      NOT NULL DEFAULT 0,
    refunded     bigint      NOT NULL DEFAULT 0,
    version      bigint      NOT NULL CHECK (version > 0),
    requested_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX payments_by_order ON {s}.payments (order_id, requested_at DESC, id DESC);

CREATE TABLE {s}.projection_checkpoints (
    model       text   NOT NULL,
    context     text   NOT NULL,
    partition   int    NOT NULL CHECK (partition >= 0),
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    PRIMARY KEY (model, context, partition)
);

-- The apply rule's head of every aggregate the model has seen: version and the recent
-- command ids as [[command_id, version, partition, offset], ...], oldest first.
CREATE TABLE {s}.aggregate_heads (
    context         text   NOT NULL,
    aggregate_id    text   NOT NULL,
    version         bigint NOT NULL CHECK (version > 0),
    recent_commands jsonb  NOT NULL,
    PRIMARY KEY (context, aggregate_id)
);

CREATE TABLE {s}.log_identity (
    model    text PRIMARY KEY,
    identity text NOT NULL
);
)sql"},
};

std::string with_schema(std::string_view sql, const std::string& quoted_schema) {
    std::string out;
    out.reserve(sql.size() + 512);
    for (std::size_t at = 0;;) {
        const auto hole = sql.find("{s}", at);
        out.append(sql.substr(at, hole - at));
        if (hole == std::string_view::npos) return out;
        out += quoted_schema;
        at = hole + 3;
    }
}

}  // namespace

int latest_orders_migration() noexcept { return migrations.back().version; }

result<migration_report, postgres::error> migrate_orders_schema(pqxx::connection& connection, std::string_view schema) {
    if (!postgres::is_plain_schema_name(schema)) {
        return fail(postgres::error{postgres::errc::invalid_name,
                                    "schema '" + std::string(schema) +
                                        "': not a plain schema name (1 to 63 of a-z, 0-9 and '_', not starting with a digit)"});
    }
    const std::string name(schema);
    return postgres::guarded("migrating schema " + name, [&]() -> result<migration_report, postgres::error> {
        pqxx::work txn(connection);
        const std::string s = txn.quote_name(name);
        // Held until commit or rollback: a second migrator waits here, then sees our work.
        txn.exec_params("SELECT pg_advisory_xact_lock(hashtext('shopstream.migrate:' || $1))", name);
        txn.exec("CREATE SCHEMA IF NOT EXISTS " + s);
        txn.exec("CREATE TABLE IF NOT EXISTS " + s +
                 ".schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
        migration_report report;
        report.from = txn.exec("SELECT coalesce(max(version), 0) FROM " + s + ".schema_migrations")[0][0].as<int>();
        if (report.from > latest_orders_migration()) {
            return fail(postgres::error{postgres::errc::query_failed,
                                        "schema " + name + " is at migration " + std::to_string(report.from) +
                                            ", this build knows migrations up to " +
                                            std::to_string(latest_orders_migration()) +
                                            ": a newer shopstream wrote it; run that version or newer"});
        }
        for (const migration& m : migrations) {
            if (m.version <= report.from) continue;
            txn.exec(with_schema(m.sql, s));
            txn.exec_params("INSERT INTO " + s + ".schema_migrations (version) VALUES ($1)", m.version);
        }
        txn.commit();
        report.to = latest_orders_migration();
        return report;
    });
}

}  // namespace shopstream::projections
