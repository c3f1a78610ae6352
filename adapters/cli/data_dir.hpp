#pragma once
// `serve`'s data directory: where it is by default, and the secrets kept in it so that a
// restart finds them again (the JWT secret, tokens survive; the local PostgreSQL's
// password, its cluster stays reachable).
//
// A secret file holds one line, is written atomically (a temporary file, fsync, rename)
// with mode 0600, and is refused when group or others may read it (as ssh does with
// its keys).
//
// Thread-safety: free functions; two processes creating the same secret at once may
// each write one (the rename makes the last one stand): `serve` holds the state store's
// lock on the data dir before it asks.

#include <cstddef>
#include <filesystem>
#include <string>

#include "base/result.hpp"

namespace shopstream::adapters {

// ./data of the current directory, absolute (git ignores it: .gitignore).
[[nodiscard]] std::filesystem::path default_data_dir();

struct secret {
    std::string value;
    bool created = false;  // written just now (absent before)
};

// The secret in `path`, or a new one (`bytes` random bytes from OpenSSL's CSPRNG, in hex)
// written there when the file does not exist. Errors are one line naming the file.
[[nodiscard]] result<secret, std::string> read_or_create_secret(const std::filesystem::path& path,
                                                                std::size_t bytes = 32);

}  // namespace shopstream::adapters
