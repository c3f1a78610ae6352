#pragma once
// Termination signals for long-running subcommands (serve, embedded-cluster).

#include <pthread.h>
#include <signal.h>

namespace shopstream::adapters {

// Blocks SIGINT/SIGTERM in the calling thread; call it before any library thread starts,
// so every thread inherits the mask and the signals are taken synchronously with sigwait.
inline sigset_t block_termination_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

}  // namespace shopstream::adapters
