#pragma once
// Errors as values a caller can branch on (redpanda's errc), the shape every subsystem
// shares: the subsystem declares an `enum class errc` and, beside it in its namespace,
//
//   const char* category_name(errc) noexcept;      // "shopstream.postgres"
//   std::string_view describe(errc) noexcept;       // one line per code
//   std::error_code make_error_code(errc e) noexcept { return {int(e), category_of<errc>()}; }
//
// and specialises std::is_error_code_enum. Its functions then return
// result<T, error<errc>>: the code to branch on and, beside it, the message for a person,
// which names what failed (directory, port, URL, program) and, where there is one, the
// fix. What users see (CLI output, logs, HTTP problems) is the message; the code is for
// callers and tests.
//
// Thread-safety: values; a category is a function-local static, safe from any thread.

#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

namespace shopstream {

// The std::error_category of a subsystem's errc, named and worded by the category_name()
// and describe() found beside the enum.
template <class Errc>
class errc_category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return category_name(Errc{}); }
    [[nodiscard]] std::string message(int value) const override {
        return std::string(describe(static_cast<Errc>(value)));
    }
};

template <class Errc>
[[nodiscard]] const std::error_category& category_of() noexcept {
    static const errc_category<Errc> instance;
    return instance;
}

template <class Errc>
struct error {
    Errc code{};
    std::string message;

    [[nodiscard]] std::error_code error_code() const noexcept { return make_error_code(code); }

    friend bool operator==(const error&, const error&) = default;
    friend std::ostream& operator<<(std::ostream& out, const error& e) { return out << e.message; }
};

}  // namespace shopstream

// Logged as its message: spdlog::error("{}", e).
template <class Errc>
struct fmt::formatter<shopstream::error<Errc>> : fmt::formatter<std::string> {
    auto format(const shopstream::error<Errc>& e, fmt::format_context& ctx) const {
        return fmt::formatter<std::string>::format(e.message, ctx);
    }
};
