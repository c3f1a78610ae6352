#include "postgres/client.hpp"

#include <pqxx/pqxx>

namespace shopstream::postgres {
namespace {

// libpq's messages span lines; a log line is one line.
std::string first_line(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    std::string out(text.substr(0, text.find('\n')));
    return out;
}

}  // namespace

result<std::unique_ptr<pqxx::connection>, error> connect(const database_url& url, std::chrono::seconds connect_timeout) {
    try {
        return std::make_unique<pqxx::connection>(url.conninfo(connect_timeout));
    } catch (const std::exception& thrown) {
        return fail(error{errc::connection_failed,
                          "cannot connect to PostgreSQL at " + url.describe() + ": " + first_line(thrown.what())});
    }
}

error error_from(std::string_view doing, const std::exception& thrown) {
    std::string message(doing);
    message += ": ";
    if (dynamic_cast<const pqxx::broken_connection*>(&thrown) != nullptr) {
        return error{errc::connection_failed, message + "the connection to PostgreSQL broke: " + first_line(thrown.what())};
    }
    if (const auto* refused = dynamic_cast<const pqxx::sql_error*>(&thrown); refused != nullptr) {
        message += "PostgreSQL refused the statement";
        if (!refused->sqlstate().empty()) message += " (SQLSTATE " + refused->sqlstate() + ")";
        return error{errc::query_failed, message + ": " + first_line(refused->what())};
    }
    return error{errc::query_failed, message + first_line(thrown.what())};
}

bool is_plain_schema_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 63) return false;
    if (!(name.front() == '_' || (name.front() >= 'a' && name.front() <= 'z'))) return false;
    for (const char c : name) {
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

}  // namespace shopstream::postgres
