// The only translation unit that includes CLI11 (heavy header-only parser).
#include "adapters/cli/cli.hpp"
#include "adapters/cli/signals.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "adapters/auth/jwt.hpp"
#include "adapters/cli/serve.hpp"
#include "adapters/payment/fake_gateway.hpp"
#include "domain/common.hpp"
#include "eventstore/embedded_cluster.hpp"
#include "eventstore/topics.hpp"

namespace shopstream::adapters {
namespace {

constexpr int exit_environment = 1;
constexpr int exit_usage = 2;

// The event topics of the three contexts (ARCHITECTURE.md).
const std::vector<std::string> event_topics = {"orders.events", "payments.events",
                                               "reviews.events"};


int run_embedded_cluster(int brokers, int partitions) {
    const sigset_t signals = block_termination_signals();
    auto cluster = eventstore::embedded_cluster::start(brokers);
    if (!cluster) {
        spdlog::error("cannot start the embedded Kafka-protocol cluster: {}", cluster.error());
        return exit_environment;
    }
    if (auto created = eventstore::create_topics(*cluster, partitions); !created) {
        spdlog::error("cannot create the event topics: {}", created.error());
        return exit_environment;
    }
    // First stdout line is machine-readable: the bootstrap list.
    std::printf("%s\n", cluster->bootstrap_servers().c_str());
    std::fflush(stdout);
    spdlog::warn(
        "embedded Kafka-protocol cluster (librdkafka mock, {} brokers) at {}: it is EPHEMERAL "
        "(gone when this process exits) and keeps at most 5 MiB per partition",
        brokers, cluster->bootstrap_servers());
    spdlog::info("topics {} with {} partitions each; read them with: kcat -b {} -L",
                 fmt::join(event_topics, ", "), partitions, cluster->bootstrap_servers());
    spdlog::info("press Ctrl-C (SIGINT) or send SIGTERM to stop");
    int received = 0;
    sigwait(&signals, &received);
    spdlog::info("signal {} received, stopping the embedded cluster", received);
    return 0;
}

// Validators run on command-line and environment values alike, so a bad value fails in
// the parse with CLI11's one-line "--flag: reason" message and exit code 2.
CLI::Validator jwt_secret_validator() {
    return CLI::Validator(
        [](const std::string& secret) -> std::string {
            auto authority = auth::jwt_authority::create(secret);
            return authority ? std::string() : authority.error().message;
        },
        "SECRET");
}

CLI::Validator id_validator() {
    return CLI::Validator(
        [](const std::string& id) -> std::string {
            return domain::is_valid_id(id) ? std::string()
                                           : "must be 1-128 characters from [A-Za-z0-9._:-]";
        },
        "ID");
}

CLI::Validator ttl_validator() {
    return CLI::Validator(
        [](const std::string& ttl) -> std::string {
            auto parsed = auth::parse_ttl(ttl);
            return parsed ? std::string() : parsed.error().message;
        },
        "TTL");
}

int mint_token(const std::string& secret, const std::string& sub, const std::string& role,
               const std::string& ttl_text) {
    // Every value was validated during the parse; a failure here is a bug, still a usage one.
    auto authority = auth::jwt_authority::create(secret);
    auto ttl = auth::parse_ttl(ttl_text);
    if (!authority || !ttl) {
        std::fprintf(stderr, "shopstream token: %s\n",
                     (!authority ? authority.error() : ttl.error()).message.c_str());
        return exit_usage;
    }
    const auto now =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    auto token = authority->mint(
        sub, role == "admin" ? domain::role::admin : domain::role::customer, *ttl, now);
    if (!token) {
        std::fprintf(stderr, "shopstream token: %s\n", token.error().message.c_str());
        return exit_usage;
    }
    std::printf("%s\n", token->c_str());
    return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
    auto logger = spdlog::stderr_color_mt("shopstream");
    spdlog::set_default_logger(logger);

    CLI::App app{"shopstream: an event-sourced CQRS shop backend on Kafka"};
    app.require_subcommand(1);
    // Usage errors are one line on stderr (issue #4), not CLI11's two.
    app.failure_message([](const CLI::App*, const CLI::Error& e) {
        return std::string("shopstream: ") + e.what() + " (see --help)\n";
    });

    auto* version = app.add_subcommand("version", "print the version");

    int brokers = 3;
    int partitions = 16;
    auto* cluster = app.add_subcommand(
        "embedded-cluster",
        "run the embedded Kafka-protocol cluster (librdkafka mock) with the event topics "
        "until SIGINT/SIGTERM; prints the bootstrap list on stdout");
    cluster->add_option("--broker-count", brokers, "number of brokers")
        ->check(CLI::Range(1, 16))
        ->capture_default_str();
    cluster->add_option("--partitions", partitions, "partitions per event topic")
        ->envname("SHOPSTREAM_PARTITIONS")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();

    // serve's values are validated by run_serve, not here: CLI11 reads (and would
    // validate) the environment variables of every subcommand, so a bad SHOPSTREAM_* value
    // meant for serve would break `token` and `embedded-cluster`.
    serve_config serve_options;
    auto* serve = app.add_subcommand(
        "serve",
        "run the HTTP API with its event store until SIGINT/SIGTERM; without --brokers on a local "
        "single-node Kafka in the data dir (--kafka mock: the EPHEMERAL in-process cluster); prints "
        "'listening on http://HOST:PORT' on stdout");
    serve->add_option("--listen", serve_options.listen, "address to listen on, HOST:PORT (port 0: any free one)")
        ->envname("SHOPSTREAM_LISTEN")
        ->capture_default_str();
    serve->add_option("--brokers", serve_options.brokers,
                      "Kafka bootstrap servers host:port,...; absent: the embedded cluster")
        ->envname("SHOPSTREAM_BROKERS");
    serve->add_option("--kafka", serve_options.kafka,
                      "without --brokers: local (a single-node Apache Kafka in <data-dir>/kafka, durable, started and "
                      "stopped with serve) or mock (librdkafka's in-process cluster: instant, EPHEMERAL, a temporary "
                      "data dir unless --data-dir)")
        ->envname("SHOPSTREAM_KAFKA")
        ->capture_default_str();
    serve->add_option("--postgres", serve_options.postgres,
                      "PostgreSQL of the read models, a libpq URL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB); "
                      "checked at start; required with --brokers; absent: a local PostgreSQL 15 in "
                      "<data-dir>/postgres, started and stopped with serve (embedded mode only)")
        ->envname("SHOPSTREAM_POSTGRES")
        ->type_name("URL");
    serve->add_option("--data-dir", serve_options.data_dir,
                      "directory of the LMDB state store (and of the local PostgreSQL and Kafka); absent: ./data "
                      "(kept across runs), or with --kafka mock a temporary one, removed at exit")
        ->envname("SHOPSTREAM_DATA_DIR");
    serve->add_option("--jwt-secret", serve_options.jwt_secret,
                      "HMAC secret of the bearer tokens, at least 32 bytes; absent: the one in <data-dir>/jwt-secret, "
                      "generated on first start, with example tokens printed (without --brokers only)")
        ->envname("SHOPSTREAM_JWT_SECRET");
    serve->add_option("--cursor-key", serve_options.cursor_key,
                      "HMAC key of the order list's cursors, at least 16 bytes, the same in every serve process "
                      "sharing one PostgreSQL; absent: the one in <data-dir>/cursor-key, generated on first start")
        ->envname("SHOPSTREAM_CURSOR_KEY");
    serve->add_option("--partitions", serve_options.partitions, "partitions per event topic")
        ->envname("SHOPSTREAM_PARTITIONS")
        ->capture_default_str();
    serve->add_option("--log-format", serve_options.log_format, "text or json (one JSON object per line)")
        ->envname("SHOPSTREAM_LOG_FORMAT")
        ->capture_default_str();
    serve->add_flag("--access-log,!--no-access-log", serve_options.access_log,
                    "log every request at info: request id, method, path, status, time")
        ->envname("SHOPSTREAM_ACCESS_LOG");
    serve->add_option("--drain-timeout-ms", serve_options.drain_timeout_ms,
                      "at SIGTERM, how long the requests in flight may take to be answered before the "
                      "commands still running are ended (they append nothing more)")
        ->envname("SHOPSTREAM_DRAIN_TIMEOUT_MS")
        ->check(CLI::Range(0, 600'000))
        ->capture_default_str();
    serve->add_option("--rate-limit", serve_options.rate_limit,
                      "requests per second per principal (JWT subject); 0: no limit; refused: 429 with Retry-After")
        ->envname("SHOPSTREAM_RATE_LIMIT")
        ->type_name("R")
        ->capture_default_str();
    serve->add_option("--rate-burst", serve_options.rate_burst,
                      "requests a principal may make at once (token bucket size); absent: twice --rate-limit")
        ->envname("SHOPSTREAM_RATE_BURST")
        ->type_name("B");
    serve->add_option("--max-connections-per-client", serve_options.max_connections_per_client,
                      "connections one client address may hold open; the next is closed at accept; 0: no limit "
                      "(behind a proxy that limits on its own)")
        ->envname("SHOPSTREAM_MAX_CONNECTIONS_PER_CLIENT")
        ->type_name("N")
        ->capture_default_str();
    serve->add_option("--min-position-timeout-ms", serve_options.min_position_timeout_ms,
                      "how long a read with X-Min-Position (or ?minPosition=) waits for its read model to apply "
                      "the position; then 503 with Retry-After")
        ->envname("SHOPSTREAM_MIN_POSITION_TIMEOUT_MS")
        ->type_name("MS")
        ->check(CLI::Range(0, 600'000))
        ->capture_default_str();
    serve->add_option("--header-timeout-ms", serve_options.header_timeout_ms,
                      "milliseconds from connecting (or a request's first byte) to a complete request head; then "
                      "the connection is closed")
        ->envname("SHOPSTREAM_HEADER_TIMEOUT_MS")
        ->type_name("MS")
        ->check(CLI::Range(100, 600'000))
        ->capture_default_str();
    serve->add_option("--health-listen", serve_options.health_listen,
                      "HOST:PORT of a listener answering only /healthz, /readyz and /metrics, with connection slots "
                      "of its own (probes are answered while clients hold every API slot); prints 'health on "
                      "http://HOST:PORT' as the second line on stdout")
        ->envname("SHOPSTREAM_HEALTH_LISTEN");
    serve->add_option("--roles", serve_options.roles,
                      "the parts this process runs, comma-separated, any non-empty subset of: api (the HTTP API "
                      "and the local reviews replica that serves review queries), saga (the order/payment saga), "
                      "gateway (the payment gateway worker), projections (the orders projection's share of the "
                      "shared PostgreSQL model, through a consumer group). Without api the listener answers only "
                      "/healthz, /readyz and /metrics and every other request 503 (problem api-not-served); an api "
                      "process without projections serves order queries from the model other processes feed. "
                      "/readyz checks only what the roles run; --postgres is needed only with api or projections")
        ->envname("SHOPSTREAM_ROLES")
        ->type_name("LIST")
        ->capture_default_str();
    serve->add_option("--payment-gateway", serve_options.payment_gateway,
                      "the payment provider: simulator (deterministic, driven by the method token: tok_visa, "
                      "tok_declined, tok_insufficient_funds, tok_timeout, tok_flaky_N) or the http(s):// URL of a "
                      "provider (shopstream fake-gateway serves the simulator's rules)")
        ->envname("SHOPSTREAM_PAYMENT_GATEWAY")
        ->type_name("simulator|URL")
        ->capture_default_str();
    serve->add_option("--payment-timeout", serve_options.payment_timeout,
                      "how long a placed order waits for its payment's answer before the saga cancels it "
                      "(payment_timeout), e.g. 30s, 500ms")
        ->envname("SHOPSTREAM_PAYMENT_TIMEOUT")
        ->type_name("DURATION")
        ->capture_default_str();
    serve->add_option("--payment-breaker", serve_options.payment_breaker,
                      "the payment provider's circuit breaker, RATE/CALLS/WINDOW/OPEN: it opens when at least "
                      "RATE (0 to 1) of the provider calls within WINDOW failed (no answer in time, a 5xx, the "
                      "connection refused; a decline is an answer), once there were at least CALLS of them, and "
                      "stays open for OPEN before one probe call")
        ->envname("SHOPSTREAM_PAYMENT_BREAKER")
        ->type_name("RATE/CALLS/WINDOW/OPEN")
        ->capture_default_str();
    serve->add_option("--payment-max-in-flight", serve_options.payment_max_in_flight,
                      "payments the gateway worker works on at once, each with at most one provider call out "
                      "(a call waiting for its answer holds no thread); more wait in the order they arrived")
        ->envname("SHOPSTREAM_PAYMENT_MAX_IN_FLIGHT")
        ->type_name("N")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
    serve->add_option("--kafka-config", serve_options.kafka_config,
                      "a librdkafka setting for every Kafka client, KEY=VALUE (repeatable): security.protocol, "
                      "sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ...; secrets are never logged")
        ->type_name("KEY=VALUE")
        ->allow_extra_args(false);  // one KEY=VALUE per flag
    serve->add_option("--kafka-config-file", serve_options.kafka_config_file,
                      "a file of librdkafka settings, KEY=VALUE lines, # comments; --kafka-config wins over it")
        ->envname("SHOPSTREAM_KAFKA_CONFIG_FILE")
        ->type_name("PATH");

    std::string jwt_secret;
    std::string subject;
    std::string role;
    std::string ttl = "1h";
    auto* token = app.add_subcommand(
        "token", "print an HS256 bearer token for the HTTP API, signed with the JWT secret");
    token->add_option("--jwt-secret", jwt_secret, "HMAC secret, at least 32 bytes")
        ->envname("SHOPSTREAM_JWT_SECRET")
        ->required()
        ->check(jwt_secret_validator());
    token->add_option("--sub", subject, "the subject: a customer id")
        ->required()
        ->check(id_validator());
    token->add_option("--role", role, "customer or admin")
        ->required()
        ->check(CLI::IsMember({"customer", "admin"}));
    token->add_option("--ttl", ttl, "lifetime: 30s, 15m, 1h, 7d (at most 366d)")
        ->check(ttl_validator())
        ->capture_default_str();

    std::string fake_listen = "127.0.0.1:8090";
    std::string fake_latency = "0ms";
    auto* fake = app.add_subcommand(
        "fake-gateway",
        "serve the payment simulator's rules over HTTP, for testing the HTTP payment client: "
        "tok_visa authorizes; tok_declined declines; tok_insufficient_funds declines above 10000 "
        "minor units; tok_timeout never answers; tok_flaky_N fails transiently N times per "
        "idempotency key, then authorizes; other tokens decline. POST "
        "/v1/payments/ID/{authorize,capture,void,refund} with an Idempotency-Key header and "
        "{\"amount\":{\"amount\":N,\"currency\":\"EUR\"},\"token\":\"tok_...\",\"refundId\":\"...\"}; "
        "GET /v1/payments/ID shows what it holds. The first stdout line is 'listening on http://HOST:PORT'");
    fake->add_option("--listen", fake_listen, "address to listen on, HOST:PORT (port 0: any free one)")
        ->capture_default_str();
    fake->add_option("--latency", fake_latency, "delay of every answer: 250ms, 2s (tok_timeout: none ever)")
        ->check(CLI::Validator(
            [](const std::string& d) -> std::string {
                auto parsed = payment::parse_duration(d);
                return parsed ? std::string() : parsed.error();
            },
            "DURATION"))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : exit_usage;
    }

    if (*version) {
        std::printf("shopstream %s\n", SHOPSTREAM_VERSION);
        return 0;
    }
    if (*cluster) return run_embedded_cluster(brokers, partitions);
    if (*serve) return run_serve(serve_options);
    if (*token) return mint_token(jwt_secret, subject, role, ttl);
    if (*fake) {
        const auto listen = parse_listen(fake_listen);
        if (!listen) {
            std::fprintf(stderr, "shopstream: --listen: '%s' is not HOST:PORT (see --help)\n", fake_listen.c_str());
            return exit_usage;
        }
        payment::fake_gateway_options o;
        o.host = listen->first;
        o.port = listen->second;
        o.latency = *payment::parse_duration(fake_latency);
        return payment::run_fake_gateway(o);
    }
    return exit_usage;
}

}  // namespace shopstream::adapters
