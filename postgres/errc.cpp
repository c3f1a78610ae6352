#include "postgres/errc.hpp"

namespace shopstream::postgres {

const char* category_name(errc) noexcept { return "shopstream.postgres"; }

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::invalid_url: return "not a PostgreSQL connection URL";
        case errc::timed_out: return "PostgreSQL did not answer in time";
        case errc::connection_failed: return "cannot connect to PostgreSQL";
        case errc::query_failed: return "PostgreSQL refused the statement";
        case errc::unexpected_answer: return "PostgreSQL gave an unexpected answer";
        case errc::not_installed: return "PostgreSQL 15 is not installed";
        case errc::no_server_user: return "no user to run PostgreSQL as";
        case errc::permission_denied: return "PostgreSQL's user cannot use the directory";
        case errc::io: return "a file or socket operation failed";
        case errc::initdb_failed: return "initdb failed";
        case errc::start_failed: return "PostgreSQL did not start";
        case errc::address_in_use: return "PostgreSQL could not bind its port";
        case errc::invalid_name: return "not a plain database name";
        case errc::trusts_without_password: return "the cluster trusts connections without a password";
    }
    return "unknown PostgreSQL error";
}

}  // namespace shopstream::postgres
