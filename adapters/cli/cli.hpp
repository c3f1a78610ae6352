#pragma once
// The `shopstream` command line: parses arguments and runs one subcommand.
// Exit codes: 0 success, 1 environment failure (a dependency could not be started or
// reached), 2 usage error (unknown subcommand or flag, bad value).

namespace shopstream::adapters {

[[nodiscard]] int run_cli(int argc, char** argv);

}  // namespace shopstream::adapters
