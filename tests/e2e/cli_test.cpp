// The real `shopstream` binary, started as a separate process: exit codes, the embedded
// Kafka-protocol cluster it serves and that a foreign client (kcat) can read, a clean
// stop on SIGTERM and SIGINT, and `shopstream token`, whose HS256 signature a foreign
// implementation (the openssl command, which postgresql-15 pulls in) checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/process.hpp"

namespace shopstream::testing {
namespace {

using namespace std::chrono_literals;

process start_cluster(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {SHOPSTREAM_BINARY, "embedded-cluster"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    spawn_options options(argv);
    options.standard_error = output::null();
    auto child = process::spawn(options);
    if (!child) throw std::runtime_error(child.error().message);
    return std::move(*child);
}

TEST(cli, version_prints_and_exits_zero) {
    auto out = run({SHOPSTREAM_BINARY, "version"});
    ASSERT_TRUE(out.has_value()) << out.error();
    EXPECT_TRUE(out->status.success()) << out->status.describe();
    EXPECT_EQ(out->standard_output.rfind("shopstream ", 0), 0U) << out->standard_output;
}

TEST(cli, usage_errors_exit_two_with_a_message) {
    for (std::vector<std::string> argv : {
             std::vector<std::string>{SHOPSTREAM_BINARY},
             std::vector<std::string>{SHOPSTREAM_BINARY, "no-such-command"},
             std::vector<std::string>{SHOPSTREAM_BINARY, "embedded-cluster", "--partitions", "0"},
             std::vector<std::string>{SHOPSTREAM_BINARY, "embedded-cluster", "--partitions", "x"},
             std::vector<std::string>{SHOPSTREAM_BINARY, "embedded-cluster", "--no-such-flag"},
         }) {
        auto out = run(argv, 10s);
        ASSERT_TRUE(out.has_value()) << out.error();
        EXPECT_EQ(out->status, (exit_status{false, 2, 0})) << argv.back() << ": " << out->status.describe();
        EXPECT_FALSE(out->standard_error.empty()) << argv.back() << ": no message";
    }
}

TEST(cli, embedded_cluster_serves_the_event_topics_to_kcat) {
    auto cluster = start_cluster({"--partitions", "4"});
    auto bootstrap = cluster.read_line(10s);
    ASSERT_TRUE(bootstrap.has_value()) << bootstrap.error();
    ASSERT_NE(bootstrap->find("127.0.0.1:"), std::string::npos) << *bootstrap;

    auto listing = run({"kcat", "-b", *bootstrap, "-L", "-J"}, 20s);
    ASSERT_TRUE(listing.has_value()) << listing.error();
    ASSERT_TRUE(listing->status.success()) << listing->standard_error;
    auto metadata = nlohmann::json::parse(listing->standard_output);
    EXPECT_EQ(metadata.at("brokers").size(), 3U);
    std::map<std::string, std::size_t> partitions;
    for (const auto& topic : metadata.at("topics")) {
        partitions[topic.at("topic").get<std::string>()] = topic.at("partitions").size();
    }
    EXPECT_EQ(partitions["orders.events"], 4U);
    EXPECT_EQ(partitions["payments.events"], 4U);
    EXPECT_EQ(partitions["reviews.events"], 4U);

    // A foreign client writes and reads back through it.
    auto produced = run({"sh", "-c", "printf 'k1:v1\\n' | kcat -b " + *bootstrap +
                                         " -P -t reviews.events -K: -p 0"},
                        20s);
    ASSERT_TRUE(produced.has_value()) << produced.error();
    ASSERT_TRUE(produced->status.success()) << produced->standard_error;
    auto consumed = run({"kcat", "-b", *bootstrap, "-C", "-t", "reviews.events", "-p", "0", "-o",
                         "beginning", "-e", "-f", "%k=%s\\n"},
                        20s);
    ASSERT_TRUE(consumed.has_value()) << consumed.error();
    EXPECT_EQ(consumed->standard_output, "k1=v1\n") << consumed->standard_error;

    ASSERT_TRUE(cluster.send_signal(SIGTERM).has_value());
    auto status = cluster.wait_for(10s);
    ASSERT_TRUE(status.has_value()) << "did not stop on SIGTERM";
    EXPECT_TRUE(status->success()) << status->describe();
}

TEST(cli, embedded_cluster_stops_cleanly_on_sigint) {
    auto cluster = start_cluster();
    ASSERT_TRUE(cluster.read_line(10s).has_value());
    ASSERT_TRUE(cluster.send_signal(SIGINT).has_value());
    auto status = cluster.wait_for(10s);
    ASSERT_TRUE(status.has_value()) << "did not stop on SIGINT";
    EXPECT_TRUE(status->success()) << status->describe();
}

// ---- shopstream token -------------------------------------------------------------

const std::string jwt_secret = "e2e-secret-0123456789abcdef-0123456789";
const std::string other_jwt_secret = "e2e-other-secret-0123456789abcdef-0123";

std::string base64url_decode(std::string_view text) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        int v = 0;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else
            throw std::runtime_error("not base64url: " + std::string(text));
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

struct decoded_token {
    nlohmann::json header;
    nlohmann::json claims;
    std::string signing_input;  // header.payload
    std::string signature;      // base64url
};

decoded_token decode_token(const std::string& token) {
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    if (first == std::string::npos || second == std::string::npos) {
        throw std::runtime_error("not a JWS: " + token);
    }
    return {nlohmann::json::parse(base64url_decode(token.substr(0, first))),
            nlohmann::json::parse(base64url_decode(token.substr(first + 1, second - first - 1))),
            token.substr(0, second), token.substr(second + 1)};
}

// HMAC-SHA256 by the openssl command, as unpadded base64url.
std::string openssl_hs256(const std::string& signing_input, const std::string& key) {
    auto out = run({"sh", "-c",
                    "printf '%s' \"$1\" | openssl dgst -sha256 -mac HMAC -macopt \"key:$2\" -binary"
                    " | openssl base64 -A",
                    "sh", signing_input, key},
                   20s);
    if (!out || !out->status.success()) {
        throw std::runtime_error("openssl failed: " + (out ? out->standard_error : out.error().message));
    }
    std::string b64 = out->standard_output;
    std::string url;
    for (char c : b64) {
        if (c == '+')
            url += '-';
        else if (c == '/')
            url += '_';
        else if (c != '=' && c != '\n')
            url += c;
    }
    return url;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The token printed on stdout, checked: one line, HS256 signed with `key`.
decoded_token printed_token(const run_result& out, const std::string& key) {
    EXPECT_TRUE(out.status.success()) << out.status.describe() << ": " << out.standard_error;
    const auto& text = out.standard_output;
    if (text.empty() || text.back() != '\n' || text.find('\n') != text.size() - 1) {
        throw std::runtime_error("expected one line on stdout, got '" + text + "'");
    }
    auto token = decode_token(text.substr(0, text.size() - 1));
    EXPECT_EQ(token.header.at("alg"), "HS256");
    EXPECT_EQ(openssl_hs256(token.signing_input, key), token.signature)
        << "not signed with that key";
    return token;
}

TEST(cli, token_prints_a_token_a_foreign_hs256_implementation_verifies) {
    const auto before = unix_now();
    auto out = run({SHOPSTREAM_BINARY, "token", "--jwt-secret", jwt_secret, "--sub", "customer-7",
                    "--role", "admin", "--ttl", "15m"},
                   10s);
    const auto after = unix_now();
    ASSERT_TRUE(out.has_value()) << out.error();
    const auto token = printed_token(*out, jwt_secret);
    EXPECT_NE(openssl_hs256(token.signing_input, other_jwt_secret), token.signature);
    EXPECT_EQ(token.claims.at("sub"), "customer-7");
    EXPECT_EQ(token.claims.at("roles"), nlohmann::json::array({"admin"}));
    const auto iat = token.claims.at("iat").get<std::int64_t>();
    EXPECT_GE(iat, before);
    EXPECT_LE(iat, after);
    EXPECT_EQ(token.claims.at("nbf").get<std::int64_t>(), iat);
    EXPECT_EQ(token.claims.at("exp").get<std::int64_t>(), iat + 900);
}

TEST(cli, token_defaults_to_one_hour_for_a_customer) {
    auto out = run({SHOPSTREAM_BINARY, "token", "--jwt-secret", jwt_secret, "--sub", "c:1.x_y-z",
                    "--role", "customer"},
                   10s);
    ASSERT_TRUE(out.has_value()) << out.error();
    const auto token = printed_token(*out, jwt_secret);
    EXPECT_EQ(token.claims.at("sub"), "c:1.x_y-z");
    EXPECT_EQ(token.claims.at("roles"), nlohmann::json::array({"customer"}));
    EXPECT_EQ(
        token.claims.at("exp").get<std::int64_t>() - token.claims.at("iat").get<std::int64_t>(),
        3600);
    for (const auto& [ttl, seconds] : std::vector<std::pair<std::string, std::int64_t>>{
             {"30s", 30}, {"1h", 3600}, {"7d", 7 * 86400}}) {
        auto with_ttl = run({SHOPSTREAM_BINARY, "token", "--jwt-secret", jwt_secret, "--sub", "c1",
                             "--role", "customer", "--ttl", ttl},
                            10s);
        ASSERT_TRUE(with_ttl.has_value()) << with_ttl.error();
        const auto t = printed_token(*with_ttl, jwt_secret);
        EXPECT_EQ(t.claims.at("exp").get<std::int64_t>() - t.claims.at("iat").get<std::int64_t>(),
                  seconds)
            << ttl;
    }
}

TEST(cli, token_bad_values_exit_two_with_one_line) {
    const std::string short_secret = "only-31-bytes-long-0123456789ab";
    ASSERT_EQ(short_secret.size(), 31U);
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--jwt-secret", jwt_secret, "--sub", "c1", "--role", "root"}, "--role"},
        {{"--jwt-secret", jwt_secret, "--sub", "c1", "--role", "system"}, "--role"},
        {{"--jwt-secret", jwt_secret, "--sub", "c1", "--role", "admin", "--ttl", "1y"}, "--ttl"},
        {{"--jwt-secret", jwt_secret, "--sub", "c1", "--role", "admin", "--ttl", "0s"}, "--ttl"},
        {{"--jwt-secret", jwt_secret, "--sub", "c1", "--role", "admin", "--ttl", "-1h"}, "--ttl"},
        {{"--jwt-secret", jwt_secret, "--sub", "c1", "--role", "admin", "--ttl", "400d"}, "--ttl"},
        {{"--jwt-secret", short_secret, "--sub", "c1", "--role", "admin"}, "--jwt-secret"},
        {{"--jwt-secret", jwt_secret, "--sub", "two words", "--role", "admin"}, "--sub"},
        {{"--jwt-secret", jwt_secret, "--sub", "", "--role", "admin"}, "--sub"},
        {{"--sub", "c1", "--role", "admin"}, "--jwt-secret"},
        {{"--jwt-secret", jwt_secret, "--role", "admin"}, "--sub"},
        {{"--jwt-secret", jwt_secret, "--sub", "c1"}, "--role"},
        {{"--jwt-secret", jwt_secret, "--sub", "c1", "--role", "admin", "--no-such-flag"},
         "--no-such-flag"},
    };
    for (const auto& [flags, named] : cases) {
        std::vector<std::string> argv = {SHOPSTREAM_BINARY, "token"};
        argv.insert(argv.end(), flags.begin(), flags.end());
        std::string label;
        for (const auto& f : flags) label += f + " ";
        auto out = run(argv, 10s, {{"SHOPSTREAM_JWT_SECRET", ""}});
        ASSERT_TRUE(out.has_value()) << out.error();
        EXPECT_EQ(out->status, (exit_status{false, 2, 0}))
            << label << ": " << out->status.describe();
        EXPECT_TRUE(out->standard_output.empty()) << label << ": " << out->standard_output;
        const auto& err = out->standard_error;
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << label << ": '" << err << "'";
        EXPECT_NE(err.find(named), std::string::npos) << label << ": '" << err << "'";
        EXPECT_EQ(err.find(short_secret), std::string::npos) << "the secret was echoed: " << err;
    }
}

TEST(cli, token_takes_the_secret_from_the_environment_and_the_flag_wins) {
    auto from_env = run({SHOPSTREAM_BINARY, "token", "--sub", "c1", "--role", "customer"}, 10s,
                        {{"SHOPSTREAM_JWT_SECRET", jwt_secret}});
    ASSERT_TRUE(from_env.has_value()) << from_env.error();
    printed_token(*from_env, jwt_secret);

    auto flag_wins = run({SHOPSTREAM_BINARY, "token", "--jwt-secret", jwt_secret, "--sub", "c1",
                          "--role", "customer"},
                         10s, {{"SHOPSTREAM_JWT_SECRET", other_jwt_secret}});
    ASSERT_TRUE(flag_wins.has_value()) << flag_wins.error();
    const auto token = printed_token(*flag_wins, jwt_secret);
    EXPECT_NE(openssl_hs256(token.signing_input, other_jwt_secret), token.signature);

    // An invalid environment value does not matter when the flag overrides it.
    auto over_bad_env = run({SHOPSTREAM_BINARY, "token", "--jwt-secret", jwt_secret, "--sub", "c1",
                             "--role", "customer"},
                            10s, {{"SHOPSTREAM_JWT_SECRET", "short"}});
    ASSERT_TRUE(over_bad_env.has_value()) << over_bad_env.error();
    printed_token(*over_bad_env, jwt_secret);

    auto bad_env = run({SHOPSTREAM_BINARY, "token", "--sub", "c1", "--role", "customer"}, 10s,
                       {{"SHOPSTREAM_JWT_SECRET", "short"}});
    ASSERT_TRUE(bad_env.has_value()) << bad_env.error();
    EXPECT_EQ(bad_env->status, (exit_status{false, 2, 0})) << bad_env->status.describe();
    EXPECT_NE(bad_env->standard_error.find("--jwt-secret"), std::string::npos)
        << bad_env->standard_error;
}

}  // namespace
}  // namespace shopstream::testing
