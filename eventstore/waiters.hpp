#pragma once
// The pending waits of a log reader - the tail's verdict and position waits, a
// projection's position waits - each under a ticket and ordered by deadline, so the
// reader's loop takes the expired ones earliest first and every one at stop. What a wait
// is for (a verdict key, a partition and offset) the owner indexes beside it.
//
// Not thread-safe: the owner calls it under its own mutex.

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eventstore/log_ports.hpp"

namespace shopstream::eventstore {

template <class Waiter>  // has a `clock::time_point deadline`
class waiter_registry {
public:
    using ticket = std::uint64_t;

    ticket add(Waiter w) {
        const ticket t = next_++;
        by_deadline_.emplace(w.deadline, t);
        waiters_.emplace(t, std::move(w));
        return t;
    }

    [[nodiscard]] bool contains(ticket t) const { return waiters_.contains(t); }

    // Removes the wait under `t`, which must be registered, and returns it.
    Waiter take(ticket t) {
        auto it = waiters_.find(t);
        Waiter w = std::move(it->second);
        waiters_.erase(it);
        auto range = by_deadline_.equal_range(w.deadline);
        for (auto d = range.first; d != range.second; ++d) {
            if (d->second == t) {
                by_deadline_.erase(d);
                break;
            }
        }
        return w;
    }

    // Removes every wait whose deadline is at or before `now`, earliest first.
    std::vector<std::pair<ticket, Waiter>> take_expired(clock::time_point now) {
        std::vector<std::pair<ticket, Waiter>> out;
        while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
            const ticket t = by_deadline_.begin()->second;
            out.emplace_back(t, take(t));
        }
        return out;
    }

    // Removes every wait (at stop).
    std::vector<std::pair<ticket, Waiter>> take_all() { return take_expired(clock::time_point::max()); }

    // The tickets of the waits `pred(waiter)` holds for.
    template <class Pred>
    [[nodiscard]] std::vector<ticket> tickets_where(Pred pred) const {
        std::vector<ticket> out;
        for (const auto& [t, w] : waiters_) {
            if (pred(w)) out.push_back(t);
        }
        return out;
    }

private:
    ticket next_ = 1;
    std::unordered_map<ticket, Waiter> waiters_;
    std::multimap<clock::time_point, ticket> by_deadline_;
};

}  // namespace shopstream::eventstore
