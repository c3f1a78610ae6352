#include "eventstore/client_settings.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <memory>

namespace shopstream::eventstore::kafka {
namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view text) noexcept {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

std::string shown(std::string_view key, std::string_view value) {
    return std::string(key) + "=" + (is_secret_key(key) ? std::string("***") : std::string(value));
}

}  // namespace

bool is_secret_key(std::string_view key) noexcept {
    try {
        const std::string k = lower(key);
        return k.find("password") != std::string::npos || k.find("secret") != std::string::npos ||
               k == "ssl.key.pem" || k == "sasl.oauthbearer.config";
    } catch (...) {
        return true;  // cannot tell: mask
    }
}

bool is_reserved_key(std::string_view key) noexcept {
    static constexpr std::array<std::string_view, 15> reserved = {
        "bootstrap.servers", "metadata.broker.list", "enable.idempotence", "acks", "request.required.acks",
        "enable.gapless.guarantee", "group.id", "group.instance.id", "enable.auto.commit",
        "enable.auto.offset.store", "auto.offset.reset", "enable.partition.eof", "isolation.level",
        "partitioner", "transactional.id"};
    return std::find(reserved.begin(), reserved.end(), key) != reserved.end();
}

result<void, error> add_setting(client_settings& into, std::string_view key_value, std::string_view origin) {
    const auto equals = key_value.find('=');
    const std::string_view key = trim(key_value.substr(0, equals));
    if (equals == std::string_view::npos || key.empty()) {
        return fail(error{errc::misconfigured, std::string(origin) + ": expected key=value, got '" +
                                                   std::string(trim(key_value.substr(0, equals))) + "'"});
    }
    into[std::string(key)] = std::string(trim(key_value.substr(equals + 1)));
    return {};
}

result<void, error> add_settings_file(client_settings& into, const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return fail(error{errc::misconfigured, "cannot read the Kafka settings file " + path.string()});
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string_view text = trim(line);
        if (text.empty() || text.front() == '#') continue;
        if (auto added = add_setting(into, text, path.string() + ":" + std::to_string(number)); !added) return added;
    }
    if (in.bad()) return fail(error{errc::misconfigured, "cannot read the Kafka settings file " + path.string()});
    return {};
}

result<void, error> validate(const client_settings& settings) {
    std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)> conf(rd_kafka_conf_new(), &rd_kafka_conf_destroy);
    std::array<char, 512> why{};
    for (const auto& [key, value] : settings) {
        if (is_reserved_key(key)) {
            return fail(error{errc::misconfigured, "Kafka setting " + key +
                                                       " is set by shopstream itself and cannot be given" +
                                                       (key == "bootstrap.servers" || key == "metadata.broker.list"
                                                            ? std::string(": use --brokers")
                                                            : std::string())});
        }
        if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), why.data(), why.size()) != RD_KAFKA_CONF_OK) {
            std::string reason = why.data();
            // librdkafka may quote the value back: never a secret's.
            if (is_secret_key(key) && !value.empty()) {
                for (auto at = reason.find(value); at != std::string::npos; at = reason.find(value, at + 3)) {
                    reason.replace(at, value.size(), "***");
                }
            }
            return fail(error{errc::misconfigured, "Kafka setting " + shown(key, value) + ": " + reason});
        }
    }
    return {};
}

std::string describe(const client_settings& settings) {
    if (settings.empty()) return "none";
    std::string out;
    for (const auto& [key, value] : settings) {
        if (!out.empty()) out += ' ';
        out += shown(key, value);
    }
    return out;
}

}  // namespace shopstream::eventstore::kafka
