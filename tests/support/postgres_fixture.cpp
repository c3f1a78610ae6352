#include "tests/support/postgres_fixture.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace shopstream::testing {

result<std::unique_ptr<postgres_server>, std::string> postgres_server::start() {
    std::string pattern = (std::filesystem::temp_directory_path() / "shopstream-pg-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        return fail("postgres fixture: mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    // From here on the destructor removes the directory, whatever fails.
    std::unique_ptr<postgres_server> server(new postgres_server());
    server->directory_ = pattern;
    adapters::postgres::local_cluster_options options;
    options.directory = server->directory_;
    if (const char* user = std::getenv("SHOPSTREAM_TEST_PG_USER"); user != nullptr && *user != '\0') {
        options.os_user = user;
    }
    auto cluster = adapters::postgres::local_cluster::start(std::move(options));
    if (!cluster) return fail("postgres fixture: " + cluster.error().message);
    server->cluster_ = std::move(*cluster);
    return server;
}

postgres_server::~postgres_server() { (void)stop(); }

std::string postgres_server::connection_string(std::string_view database) const { return cluster_->url(database); }

std::string postgres_server::create_database() {
    const std::string name = "test_" + std::to_string(::getpid()) + "_" + std::to_string(++database_counter_);
    if (auto created = cluster_->ensure_database(name); !created) {
        throw std::runtime_error("postgres fixture: " + created.error().message + "\nserver log:\n" +
                                 adapters::postgres::tail_of(log_file()));
    }
    return name;
}

exit_status postgres_server::stop() {
    exit_status status;
    if (cluster_) status = cluster_->stop();
    if (!directory_.empty() && !removed_) {
        std::error_code ignored;
        std::filesystem::remove_all(directory_, ignored);
        removed_ = true;
    }
    return status;
}

postgres_server& shared_postgres() {
    // Function-local statics: constructed on first use, destroyed (server stopped, temp
    // dir removed) when the test binary exits normally. If it is killed instead,
    // PR_SET_PDEATHSIG takes the server down; only the temp dir is left behind.
    static std::mutex mutex;
    static std::unique_ptr<postgres_server> server;
    static std::string error;
    const std::scoped_lock lock(mutex);
    if (server) return *server;
    if (!error.empty()) throw std::runtime_error(error);
    auto started = postgres_server::start();
    if (!started) {
        error = started.error();
        throw std::runtime_error(error);
    }
    server = std::move(*started);
    return *server;
}

}  // namespace shopstream::testing
