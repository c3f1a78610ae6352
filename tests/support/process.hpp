#pragma once
// The child-process layer for tests: adapters/os/process.hpp, which `serve` uses to own
// its local PostgreSQL, under the names the tests have always used.

#include "adapters/os/process.hpp"

namespace shopstream::testing {

using adapters::os::exit_status;
using adapters::os::output;
using adapters::os::process;
using adapters::os::run;
using adapters::os::run_result;
using adapters::os::spawn_options;

}  // namespace shopstream::testing
