#include "adapters/cli/serve.hpp"
#include "adapters/cli/signals.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include "adapters/auth/jwt.hpp"
#include "adapters/cli/data_dir.hpp"
#include "adapters/cli/serve_saga.hpp"
#include "adapters/payment/gateway.hpp"
#include "adapters/http/server.hpp"
#include "adapters/kafka/local_broker.hpp"
#include "adapters/metrics/service_metrics.hpp"
#include "adapters/postgres/local_cluster.hpp"
#include "postgres/connection.hpp"
#include "commands/command_handler.hpp"
#include "eventstore/client_settings.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/producer.hpp"
#include "eventstore/state_store.hpp"
#include "eventstore/tail.hpp"
#include "projections/orders_model.hpp"
#include "projections/reviews_model.hpp"
#include "projections/runtime.hpp"
#include "queries/orders.hpp"
#include "queries/reviews.hpp"
#include "eventstore/topics.hpp"

namespace shopstream::adapters {
namespace {

constexpr int exit_environment = 1;
constexpr int exit_usage = 2;
constexpr adapters::os::exit_status kafka_stopped_by_sigterm{false, 128 + SIGTERM, 0};
constexpr std::size_t min_cursor_key_bytes = 16;  // queries::order_queries::open's floor

// `%*`: the message as the contents of a JSON string (spdlog's %v is not escaped).
class json_message_flag : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        static constexpr char hex[] = "0123456789abcdef";
        for (char ch : msg.payload) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                dest.push_back('\\');
                dest.push_back(ch);
            } else if (c < 0x20) {
                const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                dest.append(esc, esc + sizeof esc);
            } else {
                dest.push_back(ch);
            }
        }
    }
    [[nodiscard]] std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
        return std::make_unique<json_message_flag>();
    }
};

void use_json_logs() {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<json_message_flag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","message":"%*"})");
    spdlog::set_formatter(std::move(formatter));
}


// Removes the temporary data directory of an embedded run when the process ends.
struct temp_dir_guard {
    std::filesystem::path path;
    ~temp_dir_guard() {
        if (path.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

// A rate flag's value: a finite decimal number in [0, 1e9]; nullopt otherwise.
std::optional<double> parse_rate(std::string_view text) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !(value >= 0 && value <= 1e9)) {
        return std::nullopt;
    }
    return value;
}

// ARCHITECTURE.md decision 12 at start: false (after one line per refused setting) when
// a topic lets an acknowledged commit be lost or deleted, or its settings cannot be read.
bool topics_guaranteed(const std::string& bootstrap, const eventstore::kafka::client_settings& settings) {
    auto report = eventstore::check_topic_guarantees(bootstrap, std::chrono::seconds(15), settings);
    if (!report) {
        spdlog::error("cannot check the event topics' guarantees on the Kafka cluster at {}: {}", bootstrap,
                      report.error());
        return false;
    }
    if (!report->checked) {
        spdlog::warn("topic guarantees NOT checked on the Kafka cluster at {}: {} - librdkafka's mock cluster "
                     "(shopstream embedded-cluster) is the one known to do so; nothing it holds is durable",
                     bootstrap, report->unchecked_reason);
        return true;
    }
    bool refused = false;
    bool single_node_noted = false;
    for (const auto& verdict : report->verdicts) {
        if (verdict.severity == eventstore::topic_verdict::kind::refuse) {
            spdlog::error("refusing to run: {}", verdict.message);
            refused = true;
        } else if (!single_node_noted) {
            spdlog::warn("the Kafka cluster at {} has a single broker: every topic keeps ONE copy of each commit "
                         "(a lost disk loses the log)", bootstrap);
            single_node_noted = true;
        }
    }
    return !refused;
}

}  // namespace

std::optional<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return std::nullopt;
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        return std::nullopt;  // an IPv6 address needs brackets
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) return std::nullopt;
    return std::pair{std::string(host), static_cast<std::uint16_t>(port)};
}

int run_serve(const serve_config& config) {
    if (config.log_format != "text" && config.log_format != "json") {
        std::fprintf(stderr, "shopstream serve: --log-format: expected text or json, got '%s' (see --help)\n",
                     config.log_format.c_str());
        return exit_usage;
    }
    if (config.partitions < 1 || config.partitions > 1024) {
        std::fprintf(stderr, "shopstream serve: --partitions: expected 1 to 1024, got %d (see --help)\n",
                     config.partitions);
        return exit_usage;
    }
    const auto rate_limit = parse_rate(config.rate_limit);
    if (!rate_limit) {
        std::fprintf(stderr,
                     "shopstream serve: --rate-limit: expected requests per second, a number from 0 (no limit) "
                     "to 1e9, got '%s' (see --help)\n",
                     config.rate_limit.c_str());
        return exit_usage;
    }
    std::optional<double> rate_burst;
    if (!config.rate_burst.empty()) {
        rate_burst = parse_rate(config.rate_burst);
        if (!rate_burst || *rate_burst < 1) {
            std::fprintf(stderr,
                         "shopstream serve: --rate-burst: expected a number from 1 to 1e9, got '%s' (see --help)\n",
                         config.rate_burst.c_str());
            return exit_usage;
        }
    }
    // --roles: any non-empty subset (serve_saga.hpp). Every process keeps the state store,
    // the tail and the command handlers (the api decides on them, the saga and the gateway
    // worker issue their commands through them); the rest is per role:
    //   api          the HTTP API (without it the listener answers only /healthz, /readyz
    //                and /metrics: http::server_options::api), and the reviews replica,
    //                which serves the review queries and so runs where the api runs;
    //   projections  the orders projector's membership in its consumer group over the
    //                shared PostgreSQL model. An api process without it serves the order
    //                queries from that model all the same; read-your-writes waits on the
    //                checkpoint whichever process applied the position stored there;
    //   saga, gateway  serve_saga.hpp.
    // PostgreSQL is needed (and --postgres with --brokers) only by api and projections.
    const auto roles = parse_roles(config.roles);
    if (!roles) {
        std::fprintf(stderr, "shopstream serve: --roles: %s (see --help)\n", roles.error().c_str());
        return exit_usage;
    }
    const bool read_side = roles->api || roles->projections;
    const auto payment_timeout = payment::parse_duration(config.payment_timeout);
    if (!payment_timeout || payment_timeout->count() == 0) {
        std::fprintf(stderr, "shopstream serve: --payment-timeout: %s (see --help)\n",
                     payment_timeout ? "must be more than 0" : payment_timeout.error().c_str());
        return exit_usage;
    }
    const auto breaker = parse_breaker(config.payment_breaker);
    if (!breaker) {
        std::fprintf(stderr, "shopstream serve: --payment-breaker: %s (see --help)\n", breaker.error().c_str());
        return exit_usage;
    }
    if (auto gateway = check_payment_gateway(config.payment_gateway); !gateway) {
        std::fprintf(stderr, "shopstream serve: --payment-gateway: %s (see --help)\n", gateway.error().c_str());
        return exit_usage;
    }
    if (config.log_format == "json") use_json_logs();
    const bool embedded = config.brokers.empty();
    if (config.kafka != "local" && config.kafka != "mock") {
        std::fprintf(stderr, "shopstream serve: --kafka: expected local or mock, got '%s' (see --help)\n",
                     config.kafka.c_str());
        return exit_usage;
    }
    // Without --brokers: a local single-node Kafka in the data dir, or the in-process mock.
    const bool mock = embedded && config.kafka == "mock";
    if (!embedded && config.data_dir.empty()) {
        std::fprintf(stderr, "shopstream serve: --data-dir is required with --brokers (see --help)\n");
        return exit_usage;
    }
    if (!embedded && config.jwt_secret.empty()) {
        std::fprintf(stderr, "shopstream serve: --jwt-secret is required with --brokers (see --help)\n");
        return exit_usage;
    }
    // With a real Kafka cluster the read models must outlive this process: a PostgreSQL
    // started here would not, so it must be named.
    if (!embedded && config.postgres.empty() && read_side) {
        std::fprintf(stderr, "shopstream serve: --postgres is required with --brokers (see --help)\n");
        return exit_usage;
    }
    if (!config.postgres.empty() && !read_side) {
        spdlog::warn("--postgres is not used by --roles {}: only api and projections read or write PostgreSQL",
                     config.roles);
    }
    std::optional<shopstream::postgres::database_url> postgres_url;
    if (!config.postgres.empty() && read_side) {
        auto parsed = shopstream::postgres::database_url::parse(config.postgres);
        if (!parsed) {
            std::fprintf(stderr, "shopstream serve: --postgres: %s (see --help)\n", parsed.error().message.c_str());
            return exit_usage;
        }
        postgres_url.emplace(std::move(*parsed));
    }
    const auto listen = parse_listen(config.listen);
    if (!listen) {
        std::fprintf(stderr, "shopstream serve: --listen: expected HOST:PORT, got '%s' (see --help)\n",
                     config.listen.c_str());
        return exit_usage;
    }
    std::optional<std::pair<std::string, std::uint16_t>> health_listen;
    if (!config.health_listen.empty()) {
        health_listen = parse_listen(config.health_listen);
        if (!health_listen) {
            std::fprintf(stderr, "shopstream serve: --health-listen: expected HOST:PORT, got '%s' (see --help)\n",
                         config.health_listen.c_str());
            return exit_usage;
        }
    }
    eventstore::kafka::client_settings kafka_settings;
    if (!config.kafka_config_file.empty()) {
        if (auto read = eventstore::kafka::add_settings_file(kafka_settings, config.kafka_config_file); !read) {
            std::fprintf(stderr, "shopstream serve: --kafka-config-file: %s\n", read.error().message.c_str());
            return exit_usage;
        }
    }
    for (const auto& pair : config.kafka_config) {
        if (auto added = eventstore::kafka::add_setting(kafka_settings, pair, "--kafka-config"); !added) {
            std::fprintf(stderr, "shopstream serve: %s (see --help)\n", added.error().message.c_str());
            return exit_usage;
        }
    }
    if (auto valid = eventstore::kafka::validate(kafka_settings); !valid) {
        std::fprintf(stderr, "shopstream serve: %s\n", valid.error().message.c_str());
        return exit_usage;
    }
    if (!config.jwt_secret.empty()) {
        if (auto given = auth::jwt_authority::create(config.jwt_secret); !given) {
            std::fprintf(stderr, "shopstream serve: --jwt-secret: %s\n", given.error().message.c_str());
            return exit_usage;
        }
    }
    if (!config.cursor_key.empty() && config.cursor_key.size() < min_cursor_key_bytes) {
        std::fprintf(stderr, "shopstream serve: --cursor-key: must be at least %zu bytes, got %zu (see --help)\n",
                     min_cursor_key_bytes, config.cursor_key.size());
        return exit_usage;
    }

    // Before any library thread starts, so every thread inherits the mask.
    const sigset_t signals = block_termination_signals();

    // ---- the data directory ----
    std::error_code ec;
    temp_dir_guard temp;
    std::filesystem::path data_dir = config.data_dir;
    // The mock log forgets everything at exit: a store kept from it would be refused next
    // time (another log identity), so its run gets a temporary directory unless one is given.
    const bool ephemeral_log = mock;
    const bool local_postgres_wanted = !postgres_url && read_side;
    bool default_dir = false;
    if (data_dir.empty() && ephemeral_log) {
        std::string pattern = (std::filesystem::temp_directory_path() / "shopstream-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            spdlog::error("cannot create a temporary data directory in {}",
                          std::filesystem::temp_directory_path().string());
            return exit_environment;
        }
        data_dir = pattern;
        temp.path = data_dir;
        spdlog::info("data directory {} (temporary: removed at exit)", data_dir.string());
    } else if (data_dir.empty()) {
        data_dir = default_data_dir();
        default_dir = true;
        spdlog::info("data directory {} (the default: kept across runs; --data-dir to use another)",
                     data_dir.string());
    }
    std::filesystem::create_directories(data_dir, ec);
    if (ec) {
        spdlog::error("cannot create the data directory {}: {}", data_dir.string(), ec.message());
        return exit_environment;
    }
    // The local services run as `nobody` when we are root and must get through the
    // directories this process made (their own subdirectories are theirs, mode 0700).
    if (::geteuid() == 0 && local_postgres_wanted && (default_dir || !temp.path.empty())) {
        std::filesystem::permissions(data_dir, std::filesystem::perms::others_exec, std::filesystem::perm_options::add,
                                     ec);
    }

    // ---- the JWT secret: given, or kept in the data directory so tokens survive a restart ----
    std::string secret = config.jwt_secret;
    bool secret_created = false;
    if (secret.empty()) {
        auto kept = read_or_create_secret(data_dir / "jwt-secret");
        if (!kept) {
            spdlog::error("JWT secret: {}", kept.error());
            return exit_environment;
        }
        secret = std::move(kept->value);
        secret_created = kept->created;
    }
    auto authority = auth::jwt_authority::create(secret);
    if (!authority) {
        spdlog::error("JWT secret in {}: {}", (data_dir / "jwt-secret").string(), authority.error());
        return exit_environment;
    }

    // ---- the order cursors' key: given, or kept beside the JWT secret ----
    std::string cursor_key = config.cursor_key;
    if (cursor_key.empty()) {
        auto kept = read_or_create_secret(data_dir / "cursor-key");
        if (!kept) {
            spdlog::error("cursor key: {}", kept.error());
            return exit_environment;
        }
        cursor_key = std::move(kept->value);
    }

    // ---- the log ----
    std::optional<eventstore::embedded_cluster> cluster;
    std::string bootstrap = config.brokers;
    // Declared before every Kafka client: on each return they are gone before it stops.
    std::unique_ptr<kafka::local_broker> local_kafka;
    if (mock) {
        auto started = eventstore::embedded_cluster::start(3);
        if (!started) {
            spdlog::error("cannot start the embedded Kafka-protocol cluster: {}", started.error());
            return exit_environment;
        }
        cluster.emplace(std::move(*started));
        if (auto created = eventstore::create_topics(*cluster, config.partitions); !created) {
            spdlog::error("cannot create the event topics: {}", created.error());
            return exit_environment;
        }
        bootstrap = cluster->bootstrap_servers();
        spdlog::warn(
            "NO --brokers: running on the EMBEDDED Kafka-protocol cluster (librdkafka mock) at {}. "
            "It is EPHEMERAL - every event is gone when this process exits - and keeps at most 5 MiB per "
            "partition (older records are dropped). Without --kafka mock a local Kafka keeps them in the data "
            "directory; --brokers names a cluster of your own.",
            bootstrap);
    }
    // Without --brokers the local broker's JVM starts now and PostgreSQL (below) while it
    // does; kafka_checked() awaits it then. The two used to start one after the other.
    const auto kafka_began = std::chrono::steady_clock::now();
    kafka::local_broker_options broker_options = kafka::local_run_options(data_dir / "kafka");
    if (embedded && !mock) {
        broker_options.wait_until_ready = false;
        auto started = kafka::local_broker::start(broker_options);
        if (!started) {
            const std::string& why = started.error().message;
            spdlog::error("cannot start the local Kafka in {}: {}", broker_options.directory.string(),
                          why.substr(0, why.find('\n')));
            return exit_environment;
        }
        local_kafka = std::move(*started);
        bootstrap = local_kafka->bootstrap();
    }
    // The Kafka at `bootstrap` answers and its topics are fit (false: said why, in one line).
    const auto kafka_checked = [&]() -> bool {
        if (local_kafka) {
            if (auto ready = local_kafka->wait_ready(broker_options.ready_timeout); !ready) {
                const std::string& why = ready.error().message;
                spdlog::error("cannot start the local Kafka in {}: {}", broker_options.directory.string(),
                              why.substr(0, why.find('\n')));
                return false;
            }
            const auto took =
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - kafka_began);
            spdlog::warn(
                "NO --brokers: started a LOCAL Apache Kafka {} (KRaft, single node, pid {}, {} ms, {}) at {} with its "
                "log in {}. It lives and dies with this process and keeps ONE copy of every commit. Use --brokers "
                "for a cluster of your own, --kafka mock for an ephemeral in-process one.",
                kafka::kafka_version, local_kafka->pid(), took.count(),
                local_kafka->formatted() ? "log formatted now" : "existing log", bootstrap,
                local_kafka->log_directory().string());
        }
        if (!kafka_settings.empty()) {
            spdlog::info("Kafka client settings: {}", eventstore::kafka::describe(kafka_settings));
        }
        // Fail fast, in one line, when nothing answers at --brokers (issue #4).
        if (auto reached = eventstore::probe_brokers(bootstrap, std::chrono::seconds(5), kafka_settings); !reached) {
            spdlog::error("cannot reach Kafka at {}: {}", bootstrap, reached.error());
            return false;
        }
        if (auto ensured =
                eventstore::ensure_topics(bootstrap, config.partitions, std::chrono::seconds(15), kafka_settings);
            !ensured) {
            spdlog::error("cannot create the event topics on the Kafka cluster at {}: {}", bootstrap,
                          ensured.error());
            return false;
        }
        return topics_guaranteed(bootstrap, kafka_settings);
    };
    if (!embedded && !kafka_checked()) return exit_environment;

    // ---- PostgreSQL (declared after `temp`: on every return it stops before the directory goes) ----
    std::unique_ptr<postgres::local_cluster> local_postgres;
    if (!read_side) {
        // Nothing of this process reads or writes PostgreSQL.
    } else if (postgres_url) {
        // Fail fast, in one line, when nothing answers at --postgres (issue #4).
        if (auto reached = shopstream::postgres::ping(*postgres_url, std::chrono::seconds(5)); !reached) {
            spdlog::error("cannot reach PostgreSQL at {}: {}", postgres_url->describe(), reached.error());
            return exit_environment;
        }
        spdlog::info("PostgreSQL at {} answers", postgres_url->describe());
    } else {
        const auto began = std::chrono::steady_clock::now();
        postgres::local_cluster_options pg_options;
        pg_options.directory = data_dir / "postgres";
        pg_options.durable = true;  // fsync, synchronous_commit and full_page_writes on
        auto password = read_or_create_secret(data_dir / "postgres-password", 24);
        if (!password) {
            spdlog::error("local PostgreSQL password: {}", password.error());
            return exit_environment;
        }
        pg_options.password = std::move(password->value);
        auto started = postgres::local_cluster::start(pg_options);
        if (!started) {
            // The first line names the cause and the log file; the log's tail follows it there.
            const std::string& why = started.error().message;
            spdlog::error("cannot start the local PostgreSQL in {}: {}", pg_options.directory.string(),
                          why.substr(0, why.find('\n')));
            return exit_environment;
        }
        local_postgres = std::move(*started);
        if (auto created = local_postgres->ensure_database("shopstream"); !created) {
            spdlog::error("local PostgreSQL in {}: {}", local_postgres->directory().string(), created.error());
            return exit_environment;
        }
        postgres_url.emplace(*shopstream::postgres::database_url::parse(local_postgres->url("shopstream")));
        const auto took =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
        spdlog::warn(
            "NO --postgres: started a LOCAL PostgreSQL 15 (pid {}, {} ms, {}) at postgresql://{} with its data in {}, "
            "listening on 127.0.0.1 only, password (SCRAM-SHA-256) in {}. It lives and dies with this process and "
            "holds the orders read model. Use --postgres for a server of your own.",
            local_postgres->pid(), took.count(), local_postgres->initialized() ? "new cluster" : "existing cluster",
            postgres_url->describe(), local_postgres->data_directory().string(),
            (data_dir / "postgres-password").string());
    }
    if (embedded && !mock && !kafka_checked()) return exit_environment;
    // /readyz checks what this process's roles use, nothing else (an empty check is left out).
    std::optional<shopstream::postgres::health> postgres_health;
    http::readiness_check postgres_ready;
    if (read_side) {
        postgres_health.emplace(*postgres_url);
        postgres_ready = [&postgres_health]() -> std::optional<std::string> {
            if (auto failed = postgres_health->check()) return std::move(failed->message);
            return std::nullopt;
        };
    }

    // ---- the event store ----
    eventstore::state_store::options store_options;
    // Synced in every mode (no MDB_NOSYNC): a machine crash must not corrupt a kept store.
    store_options.durability = eventstore::state_store::durability::synced;
    auto store = eventstore::state_store::open(data_dir / "state", store_options);
    if (!store) {
        spdlog::error("cannot open the state store in {}: {}", (data_dir / "state").string(), store.error().message);
        return exit_environment;
    }
    eventstore::tail_options tail_options;
    tail_options.bootstrap_servers = bootstrap;
    tail_options.extra = kafka_settings;
    if (mock) tail_options.fetch_wait = eventstore::embedded_fetch_wait;
    auto tail = eventstore::tail::start(tail_options, **store);
    if (!tail) {
        spdlog::error("cannot start the tail: {}", tail.error());
        return exit_environment;
    }
    // The reviews read model, a complete local replica in every process serving the API
    // (ARCHITECTURE.md decision 6), and the projection feeding it from every partition.
    std::unique_ptr<projections::reviews_model> review_model;
    std::unique_ptr<projections::runtime> review_projection;
    std::optional<queries::review_queries> review_queries;
    projections::runtime_options projection_options;
    projection_options.bootstrap_servers = bootstrap;
    projection_options.extra = kafka_settings;
    if (mock) projection_options.fetch_wait = eventstore::embedded_fetch_wait;
    if (roles->api) {
        projections::reviews_model::options review_model_options;
        if (ephemeral_log) review_model_options.durability = eventstore::lmdb::durability::relaxed;
        auto opened = projections::reviews_model::open(data_dir / "reviews", review_model_options);
        if (!opened) {
            spdlog::error("cannot open the reviews read model: {}", opened.error());
            return exit_environment;
        }
        review_model = std::move(*opened);
        auto started = projections::runtime::start(projection_options, *review_model);
        if (!started) {
            spdlog::error("cannot start the reviews projection: {}", started.error());
            return exit_environment;
        }
        review_projection = std::move(*started);
        review_queries.emplace(*review_model);
    }

    // The orders read model in the shared PostgreSQL (migrated here), fed through a
    // consumer group: several serve processes split its partitions (decision 6). On the
    // mock a new member waits session.timeout.ms - 1 s to join, on Kafka a dead one holds
    // its partitions that long: 6 s unless --kafka-config says otherwise.
    std::unique_ptr<projections::orders_model> order_model;
    std::unique_ptr<projections::runtime> order_projection;
    if (roles->projections) {
        auto opened = projections::orders_model::open(*postgres_url);
        if (!opened) {
            spdlog::error("cannot open the orders read model: {}", opened.error());
            return exit_environment;
        }
        order_model = std::move(*opened);
        projections::runtime_options order_projection_options = projection_options;
        order_projection_options.mode = projections::assignment_mode::consumer_group;
        // One group per model database: processes sharing a PostgreSQL split the partitions,
        // a deployment with a PostgreSQL of its own on the same Kafka must not take half of
        // them away (its model would lack them). Spelled otherwise for the same database, two
        // groups each apply everything, which the model's version guard makes harmless.
        order_projection_options.group_id = "shopstream-projection-orders " + order_model->location();
        order_projection_options.extra = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
        for (const auto& [key, value] : kafka_settings) order_projection_options.extra[key] = value;
        auto started = projections::runtime::start(order_projection_options, *order_model);
        if (!started) {
            spdlog::error("cannot start the orders projection: {}", started.error());
            return exit_environment;
        }
        order_projection = std::move(*started);
    }
    // The order queries read the shared model whoever feeds it (api without projections).
    std::unique_ptr<queries::order_queries> order_queries;
    if (roles->api) {
        auto opened = queries::order_queries::open({.url = *postgres_url, .cursor_key = cursor_key});
        if (!opened) {
            spdlog::error("cannot open the order queries: {}", opened.error());
            return exit_environment;
        }
        order_queries = std::move(*opened);
    }
    http::readiness_check projections_ready;
    if (review_projection || order_projection) {
        projections_ready = [&review_projection, &order_projection]() -> std::optional<std::string> {
            for (const auto& [name, runtime] : {std::pair{"reviews", review_projection.get()},
                                                std::pair{"orders", order_projection.get()}}) {
                if (runtime == nullptr) continue;  // not a role of this process
                if (auto failed = runtime->failure()) return std::string(name) + " projection stopped: " + *failed;
                if (auto away = runtime->outage()) return std::string(name) + " projection " + projections::describe(*away);
                if (!runtime->assigned()) return std::string(name) + " projection waiting for its consumer group's assignment";
            }
            return std::nullopt;
        };
    }

    eventstore::producer_options producer_options;
    producer_options.bootstrap_servers = bootstrap;
    producer_options.extra = kafka_settings;
    // Commands are appended from the HTTP event loop's threads: a full local queue is
    // answered 503 (Retry-After) at once rather than holding a loop thread while it drains.
    producer_options.enqueue_timeout = std::chrono::milliseconds(0);
    // librdkafka 2.0.2 sends one partition per ProduceRequest and a broker serves one
    // request per connection at a time: four connections let a real broker work on four
    // partitions' appends at once (1.5x the commands/s on the local broker, measured in
    // benchmarks/README.md). The mock cluster is one thread whatever the connections.
    if (!mock) producer_options.connections = 4;
    auto producer = eventstore::producer::start(producer_options);
    if (!producer) {
        spdlog::error("cannot start the producer: {}", producer.error());
        return exit_environment;
    }
    auto idempotency = http::idempotency_store::open(data_dir / "idempotency");
    if (!idempotency) {
        spdlog::error("cannot open the idempotency store: {}", idempotency.error());
        return exit_environment;
    }
    metrics::service_metrics service_metrics(SHOPSTREAM_VERSION);  // outlives the server and the handlers
    service_metrics.watch(**tail);
    if (review_projection) service_metrics.watch("reviews", *review_projection);
    if (order_projection) service_metrics.watch("orders", *order_projection);
    auto orders = std::make_unique<commands::order_handler>(commands::store_runtime{**store, **producer, **tail},
                                                            &service_metrics.commands());
    auto reviews = std::make_unique<commands::review_handler>(commands::store_runtime{**store, **producer, **tail},
                                                              &service_metrics.commands());
    // The saga and the payment gateway worker (issue 12), unless --roles leaves them out.
    auto payments = std::make_unique<commands::payment_handler>(commands::store_runtime{**store, **producer, **tail},
                                                                &service_metrics.commands());
    saga_roles_config saga_config{roles->saga, roles->gateway, config.payment_gateway, *payment_timeout,
                                  std::chrono::milliseconds(2'000), bootstrap,
                                  mock ? eventstore::embedded_fetch_wait : std::chrono::milliseconds(5), kafka_settings,
                                  *breaker};
    saga_config.max_payments_in_flight = static_cast<std::size_t>(config.payment_max_in_flight);
    auto saga = saga_roles::start(saga_config, *orders, *payments, **store, **tail, service_metrics);
    if (!saga) {
        spdlog::error("{}", saga.error());
        return exit_environment;
    }

    rd_kafka_t* client = (*producer)->client();
    http::readiness_check brokers = [client]() -> std::optional<std::string> {
        const rd_kafka_metadata_t* metadata = nullptr;
        const auto err = rd_kafka_metadata(client, 0, nullptr, &metadata, 1000);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::string("unreachable: ") + rd_kafka_err2str(err);
        const int count = metadata->broker_cnt;
        rd_kafka_metadata_destroy(metadata);
        if (count == 0) return std::string("no brokers in the cluster metadata");
        return std::nullopt;
    };

    // ---- the HTTP API ----
    http::server_options server_options;
    server_options.host = listen->first;
    server_options.port = listen->second;
    server_options.rate_limit = *rate_limit;
    server_options.access_log = config.access_log;
    server_options.drain_timeout = std::chrono::milliseconds(config.drain_timeout_ms);
    server_options.rate_burst = rate_burst;
    server_options.max_connections_per_client = config.max_connections_per_client;
    server_options.header_timeout = std::chrono::milliseconds(config.header_timeout_ms);
    server_options.min_position_timeout = std::chrono::milliseconds(config.min_position_timeout_ms);
    server_options.api = roles->api;
    if (health_listen) {
        server_options.health_host = health_listen->first;
        server_options.health_port = health_listen->second;
    }
    auto server = http::server::start(server_options,
                                      http::server_dependencies{*orders, *reviews, **store, **tail,
                                                                *authority, brokers, postgres_ready,
                                                                idempotency->get(), &service_metrics,
                                                                review_queries ? &*review_queries : nullptr,
                                                                review_projection.get(), order_queries.get(),
                                                                projections_ready,
                                                                [&saga] { return (*saga)->breaker_state(); }});
    if (!server) {
        spdlog::error("{}", server.error());
        return exit_environment;
    }
    const std::string host =
        listen->first.find(':') != std::string::npos ? "[" + listen->first + "]" : listen->first;
    const std::string base = "http://" + host + ":" + std::to_string((*server)->port());
    std::printf("listening on %s\n", base.c_str());
    if (const auto health_port = (*server)->health_port()) {
        const std::string health_host = health_listen->first.find(':') != std::string::npos
                                            ? "[" + health_listen->first + "]"
                                            : health_listen->first;
        std::printf("health on http://%s:%u\n", health_host.c_str(), static_cast<unsigned>(*health_port));
    }
    std::fflush(stdout);
    spdlog::info("{} on {} (roles {}, log {}, {} partitions per context, data in {})",
                 roles->api ? "HTTP API" : "no API (--roles without api): /healthz, /readyz and /metrics only", base,
                 config.roles, bootstrap, config.partitions, data_dir.string());

    if (!embedded && config.cursor_key.empty() && roles->api) {  // said once serving, not before a failed start's one line
        spdlog::warn("no --cursor-key: the order list's cursors are signed with {} - every serve process sharing "
                     "this PostgreSQL must use the same key, or a cursor one issued is refused by another",
                     (data_dir / "cursor-key").string());
    }
    if (config.jwt_secret.empty() && roles->api) {
        const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        auto customer = authority->mint("customer-1", domain::role::customer, std::chrono::hours(24), now);
        auto admin = authority->mint("admin-1", domain::role::admin, std::chrono::hours(24), now);
        const std::string secret_file = (data_dir / "jwt-secret").string();
        spdlog::warn("no --jwt-secret: using the one in {} ({})", secret_file,
                     secret_created ? "generated now, mode 0600" : "kept from an earlier run");
        if (customer && admin) {
            spdlog::info("example token for customer 'customer-1' (24h): {}", *customer);
            spdlog::info("example token for admin 'admin-1' (24h): {}", *admin);
            spdlog::info(
                "try: curl -si -X POST {}/v1/orders -H 'Authorization: Bearer {}' -H 'Content-Type: "
                "application/json' -d '{{\"paymentMethod\":{{\"token\":\"tok_visa\"}},\"lines\":[{{\"sku\":\"sku-1\",\"quantity\":2,\"unitPrice\":{{\"amount\":1250,"
                "\"currency\":\"EUR\"}}}}]}}'",
                base, *customer);
            spdlog::info("more tokens: shopstream token --jwt-secret \"$(cat {})\" --sub ID --role customer|admin",
                         secret_file);
        }
    }
    spdlog::info("press Ctrl-C (SIGINT) or send SIGTERM to stop");

    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("signal {} received: no new connections, finishing the requests in flight", received);

    // The order of command_handler.hpp, "Shutdown": no more handle() calls (the server
    // drains), the handlers stop (no thread of theirs calls the producer after this), then
    // the producer (flushes), then the tail, then the store. The server itself goes after
    // the producer and the tail: their last callbacks still answer through it.
    const std::size_t unanswered = (*server)->shutdown();
    if (unanswered != 0) spdlog::warn("{} requests were still unanswered at the drain deadline", unanswered);
    saga->reset();  // its last steps finish through the handlers
    orders->stop();
    reviews->stop();
    payments->stop();
    producer->reset();
    tail->reset();
    review_projection.reset();  // its last waits still answer through the server
    order_projection.reset();
    server->reset();
    review_queries.reset();
    review_model.reset();
    order_queries.reset();
    order_model.reset();
    orders.reset();
    reviews.reset();
    payments.reset();
    store->reset();
    cluster.reset();
    if (local_kafka) {
        const auto ended = local_kafka->stop();
        // The JVM ends a SIGTERM (its controlled shutdown) with exit code 128 + 15.
        if (ended.success() || ended == kafka_stopped_by_sigterm) {
            spdlog::info("local Kafka stopped");
        } else {
            spdlog::warn("local Kafka ended with {}", ended.describe());
        }
    }
    if (local_postgres) {
        const auto ended = local_postgres->stop();
        if (ended.success()) {
            spdlog::info("local PostgreSQL stopped");
        } else {
            spdlog::warn("local PostgreSQL ended with {}", ended.describe());
        }
    }
    spdlog::info("stopped");
    return 0;
}

}  // namespace shopstream::adapters
