#pragma once
// Why a child process could not be started, read or signalled: an errc to branch on
// and the message beside it (base/error.hpp), which names the program and the pid.
//
// Thread-safety: values; the category is a function-local static, safe from any thread.

#include <cstdint>
#include <string_view>
#include <system_error>

#include "base/error.hpp"

namespace shopstream::adapters::os {

// Reaches logs: values only appended.
enum class errc : std::uint8_t {
    not_found = 1,          // the program is not in PATH, or exec found no such file
    permission_denied = 2,  // exec, a credential change or an output file was refused (EACCES, EPERM)
    system = 3,             // another OS call failed: pipe, fork, open, chdir, poll, kill
    invalid_argument = 4,   // empty argv, stderr to an unread pipe, stdout not a pipe
    timed_out = 5,          // no line, no end of output or no exit within the timeout
    end_of_output = 6,      // the child closed stdout before a complete line
    not_running = 7,        // the child was already reaped
};

[[nodiscard]] const char* category_name(errc) noexcept;
[[nodiscard]] std::string_view describe(errc e) noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category_of<errc>()};
}

using error = shopstream::error<errc>;

}  // namespace shopstream::adapters::os

template <>
struct std::is_error_code_enum<shopstream::adapters::os::errc> : std::true_type {};
