#pragma once
// Waiting on a condition in tests: polls `condition` every `poll` until it holds or
// `timeout` passes (then one last look), so a test waits on what it needs, never on a
// bare sleep. Header-only; call from any thread.

#include <chrono>
#include <thread>

namespace shopstream::testing {

template <class F>
bool eventually(F&& condition, std::chrono::milliseconds timeout,
                              std::chrono::milliseconds poll = std::chrono::milliseconds(50)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(poll);  // between polls of the condition
    }
    return condition();
}

}  // namespace shopstream::testing
