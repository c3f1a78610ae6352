// The only translation unit of payment/ that includes asio (heavy headers): see
// timer_clock.hpp.
#include "adapters/payment/timer_clock.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <thread>
#include <utility>

namespace shopstream::adapters::payment {

struct timer_clock::impl {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> busy = asio::make_work_guard(io);
    std::thread thread{[this] { io.run(); }};
};

timer_clock::timer_clock() : impl_(std::make_unique<impl>()) {}

timer_clock::~timer_clock() {
    impl_->busy.reset();
    impl_->io.stop();  // waiting timers are not run: their handlers are destroyed with io
    if (impl_->thread.joinable()) impl_->thread.join();
}

gateway_clock::time_point timer_clock::now() { return std::chrono::steady_clock::now(); }

void timer_clock::schedule(duration after, std::function<void()> work) {
    // The timer is created on the io thread: asio's timer objects are not safe for
    // concurrent use, and the io thread is the only one that touches them.
    asio::post(impl_->io, [this, after, work = std::move(work)]() mutable {
        auto timer = std::make_shared<asio::steady_timer>(impl_->io, after);
        timer->async_wait([timer, work = std::move(work)](const std::error_code& ec) mutable {
            if (!ec) work();
        });
    });
}

gateway_clock& system_clock() {
    static timer_clock clock;
    return clock;
}

}  // namespace shopstream::adapters::payment
