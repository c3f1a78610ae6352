#pragma once
// Where the command path continues work that must not run on the thread that learned of
// it: a verdict arrives on the tail's thread, a delivery report on the producer's, and
// neither may decide again, produce, start the lane's next command or ask the brokers
// for a partition's end there (tail.hpp: callbacks must be short). A command_handler
// owns a small thread_pool by default; tests inject a manual one to run each step
// deterministically.
//
// Thread-safety: post() may be called from any thread; stop() from one.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shopstream::commands {

class executor {
public:
    virtual ~executor() = default;
    // Runs `work` later on one of the executor's threads; false (and `work` is dropped
    // unrun) once the executor is stopping: the caller must then finish inline.
    [[nodiscard]] virtual bool post(std::function<void()> work) = 0;
};

// A fixed set of threads over one FIFO queue.
class thread_pool final : public executor {
public:
    explicit thread_pool(std::size_t threads);
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() override;  // stop()

    [[nodiscard]] bool post(std::function<void()> work) override;

    // Refuses new work, runs everything already queued, then joins the threads. Work
    // still running may post more: that is refused and finished inline by its poster.
    void stop();

private:
    void run();

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace shopstream::commands
