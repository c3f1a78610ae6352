#include "commands/executor.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace shopstream::commands {

thread_pool::thread_pool(std::size_t threads) {
    if (threads == 0) threads = 1;
    threads_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

thread_pool::~thread_pool() { stop(); }

bool thread_pool::post(std::function<void()> work) {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return false;
        queue_.push_back(std::move(work));
    }
    cv_.notify_one();
    return true;
}

void thread_pool::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
}

void thread_pool::run() {
    for (;;) {
        std::function<void()> work;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything queued has run
            work = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            work();
        } catch (const std::exception& e) {
            // Work here answers its own failures; this is a bug, not a path.
            spdlog::error("command executor: uncaught exception: {}", e.what());
        }
    }
}

}  // namespace shopstream::commands
