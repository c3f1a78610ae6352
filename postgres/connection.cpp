#include "postgres/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>

namespace shopstream::postgres {
namespace {

using steady = std::chrono::steady_clock;

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...");
// a log line is one line.
std::string one_line(std::string_view text) {
    std::string out;
    bool space = false;
    for (const char c : text) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

bool valid_ports(std::string_view ports) {
    while (true) {
        const auto comma = ports.find(',');
        const std::string_view one = ports.substr(0, comma);
        unsigned port = 0;
        auto [end, ec] = std::from_chars(one.data(), one.data() + one.size(), port);
        if (one.empty() || ec != std::errc{} || end != one.data() + one.size() || port < 1 || port > 65535) {
            return false;
        }
        if (comma == std::string_view::npos) return true;
        ports.remove_prefix(comma + 1);
    }
}

// The value of `key` in a key=value connection string, quoted as libpq reads it.
std::string quoted(std::string_view value) {
    std::string out = "'";
    for (const char c : value) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

struct connection_closer {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using connection_ptr = std::unique_ptr<PGconn, connection_closer>;
struct result_clearer {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_clearer>;

// Waits until the connection's socket is readable (or writable); false at the deadline.
result<void, error> wait_socket(PGconn* connection, bool for_writing, steady::time_point deadline,
                                std::chrono::milliseconds timeout) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
        if (left <= 0) return fail(error{errc::timed_out, "no answer within " + std::to_string(timeout.count()) + " ms"});
        pollfd pfd{.fd = PQsocket(connection), .events = static_cast<short>(for_writing ? POLLOUT : POLLIN),
                   .revents = 0};
        if (pfd.fd < 0) return fail(error{errc::connection_failed, "the connection has no socket"});
        const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 60'000)));
        if (ready > 0) return {};
        if (ready < 0 && errno != EINTR) return fail(error{errc::connection_failed, "poll failed"});
    }
}

}  // namespace

result<database_url, error> database_url::parse(std::string_view text) {
    const std::string copy(text);
    char* refusal = nullptr;
    PQconninfoOption* options = PQconninfoParse(copy.c_str(), &refusal);
    if (options == nullptr) {
        std::string why = refusal != nullptr ? one_line(refusal) : std::string("out of memory");
        PQfreemem(refusal);
        return fail(error{errc::invalid_url, "not a PostgreSQL connection URL: " + why});
    }
    database_url url;
    for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
        if (option->val != nullptr) url.settings_.emplace_back(option->keyword, option->val);
    }
    PQconninfoFree(options);

    const auto value = [&url](std::string_view key) -> std::string {
        for (const auto& [k, v] : url.settings_) {
            if (k == key) return v;
        }
        return {};
    };
    if (const std::string port = value("port"); !port.empty() && !valid_ports(port)) {
        return fail(error{errc::invalid_url,
                                    "not a PostgreSQL connection URL: port '" + port + "' is not a number from 1 to 65535"});
    }
    std::string host = value("host");
    if (host.empty()) host = value("hostaddr");
    if (host.empty()) host = "(local socket)";
    const std::string user = value("user");
    const std::string port = value("port");
    const std::string database = value("dbname");
    url.description_ = (user.empty() ? "" : user + "@") + host + (port.empty() ? "" : ":" + port) +
                       (database.empty() ? "" : "/" + database);
    return url;
}

std::string database_url::conninfo(std::chrono::seconds connect_timeout) const {
    std::string out;
    const auto add = [&out](std::string_view key, std::string_view value) {
        if (!out.empty()) out += ' ';
        out.append(key);
        out += '=';
        out += quoted(value);
    };
    bool has_timeout = false;
    bool has_name = false;
    for (const auto& [key, value] : settings_) {
        has_timeout = has_timeout || key == "connect_timeout";
        has_name = has_name || key == "application_name";
        add(key, value);
    }
    if (!has_timeout) add("connect_timeout", std::to_string(std::max<long long>(2, connect_timeout.count())));
    if (!has_name) add("application_name", "shopstream");
    return out;
}

result<std::optional<std::string>, error> query_one(const database_url& url, std::string_view sql,
                                                    std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    // connect_timeout does not apply to the non-blocking API: the deadline here does.
    std::string conninfo = url.conninfo();
    conninfo += " options=" + quoted("-c statement_timeout=" + std::to_string(timeout.count()));
    connection_ptr connection(PQconnectStart(conninfo.c_str()));
    const auto failed = [&connection](errc code) {
        return fail(error{code, one_line(PQerrorMessage(connection.get()))});
    };
    if (!connection) return fail(error{errc::connection_failed, "out of memory"});
    if (PQstatus(connection.get()) == CONNECTION_BAD) return failed(errc::connection_failed);
    // As libpq's manual says: behave as if the last poll had asked for writing.
    PostgresPollingStatusType polled = PGRES_POLLING_WRITING;
    while (polled != PGRES_POLLING_OK) {
        if (polled == PGRES_POLLING_FAILED) return failed(errc::connection_failed);
        if (auto ready = wait_socket(connection.get(), polled == PGRES_POLLING_WRITING, deadline, timeout); !ready) {
            return fail(error{ready.error().code, "cannot connect: " + ready.error().message});
        }
        polled = PQconnectPoll(connection.get());
    }

    const std::string statement(sql);
    if (PQsendQuery(connection.get(), statement.c_str()) == 0) return failed(errc::connection_failed);
    for (;;) {
        const int flushed = PQflush(connection.get());
        if (flushed == 0) break;
        if (flushed < 0) return failed(errc::connection_failed);
        if (auto ready = wait_socket(connection.get(), true, deadline, timeout); !ready) {
            return fail(error{ready.error().code, "query: " + ready.error().message});
        }
    }
    std::optional<std::string> value;
    std::optional<std::string> refusal;
    for (;;) {
        while (PQisBusy(connection.get()) != 0) {
            if (auto ready = wait_socket(connection.get(), false, deadline, timeout); !ready) {
                return fail(error{ready.error().code, "query: " + ready.error().message});
            }
            if (PQconsumeInput(connection.get()) == 0) return failed(errc::connection_failed);
        }
        result_ptr answer(PQgetResult(connection.get()));
        if (!answer) break;
        const auto status = PQresultStatus(answer.get());
        if (status == PGRES_TUPLES_OK) {
            if (!value && PQntuples(answer.get()) > 0 && PQnfields(answer.get()) > 0 &&
                PQgetisnull(answer.get(), 0, 0) == 0) {
                value = PQgetvalue(answer.get(), 0, 0);
            }
        } else if (status != PGRES_COMMAND_OK && !refusal) {
            refusal = one_line(PQresultErrorMessage(answer.get()));
        }
    }
    if (refusal) return fail(error{errc::query_failed, std::move(*refusal)});
    return value;
}

result<void, error> ping(const database_url& url, std::chrono::milliseconds timeout) {
    auto answer = query_one(url, "SELECT 1", timeout);
    if (!answer) return fail(std::move(answer.error()));
    if (*answer != "1") return fail(error{errc::unexpected_answer, "SELECT 1 did not return 1"});
    return {};
}

health::health(database_url url, std::chrono::milliseconds timeout, std::chrono::milliseconds cache_for)
    : url_(std::move(url)), timeout_(timeout), cache_for_(cache_for) {}

std::optional<error> health::check() {
    const std::scoped_lock lock(mu_);
    const auto now = steady::now();
    if (checked_at_ && now - *checked_at_ < cache_for_) return last_;
    auto answer = ping(url_, timeout_);
    last_ = answer ? std::nullopt : std::optional<error>(error{answer.error().code, "unreachable: " + answer.error().message});
    checked_at_ = steady::now();
    return last_;
}

}  // namespace shopstream::postgres
