#include "adapters/os/errc.hpp"

namespace shopstream::adapters::os {

const char* category_name(errc) noexcept { return "shopstream.os"; }

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::not_found: return "the program was not found";
        case errc::permission_denied: return "permission denied";
        case errc::system: return "a system call failed";
        case errc::invalid_argument: return "invalid arguments";
        case errc::timed_out: return "the child did not answer in time";
        case errc::end_of_output: return "the child's output ended";
        case errc::not_running: return "the child is no longer running";
    }
    return "unknown process error";
}

}  // namespace shopstream::adapters::os
