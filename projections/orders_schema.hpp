#pragma once
// The orders read model's PostgreSQL schema (ARCHITECTURE.md decisions 5, 6, 9), created
// and migrated by the program: migrations are ordered SQL in orders_schema.cpp, each
// applied once and recorded in `<schema>.schema_migrations` (version, applied_at).
//
// The schema name is a parameter (orders_model.hpp's default_orders_schema): a rebuild builds a shadow
// schema beside the live one and swaps them by renaming. DDL cannot take parameters, so
// the name must be plain (postgres::is_plain_schema_name) and is quoted where spliced.
//
// migrate() is idempotent and safe to run from several processes at once: it runs in one
// transaction holding a transaction-level advisory lock keyed by the schema name, so a
// second process waits for the first and then finds nothing left to do. A schema already
// migrated beyond what this build knows is refused (a newer build wrote it: upgrade).
//
// Tables: orders, order_lines, payments (keyed by payment id, with the order id; joined
// to orders at query time, so the arrival order of the two topics never matters),
// projection_checkpoints (model, context, partition, next_offset), aggregate_heads (the
// apply rule's head per (context, aggregate id)), log_identity (model -> identity).
//
// Thread-safety: free functions over a connection the caller uses from one thread.

#include <string>
#include <string_view>

#include <pqxx/connection>

#include "base/result.hpp"
#include "postgres/errc.hpp"

namespace shopstream::projections {

// The number of the newest migration this build has.
[[nodiscard]] int latest_orders_migration() noexcept;

struct migration_report {
    int from = 0;  // the schema's version before (0: no schema)
    int to = 0;    // after: latest_orders_migration()
};

// Creates `schema` if needed and applies every migration it lacks, all in one transaction.
// invalid_name: not a plain schema name; query_failed: the server refused a statement, or
// the schema is newer than this build; connection_failed: the connection broke.
[[nodiscard]] result<migration_report, postgres::error> migrate_orders_schema(pqxx::connection& connection,
                                                                              std::string_view schema);

}  // namespace shopstream::projections
