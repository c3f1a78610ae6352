// --kafka-config / --kafka-config-file: parsing, the file format, librdkafka's own check
// of every key and value, the reserved keys, and secrets never shown.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "eventstore/client_settings.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

namespace kafka = eventstore::kafka;

TEST(client_settings, key_value_pairs_are_trimmed_and_a_later_value_wins) {
    kafka::client_settings s;
    ASSERT_TRUE(kafka::add_setting(s, "security.protocol=SASL_SSL", "--kafka-config").has_value());
    ASSERT_TRUE(kafka::add_setting(s, " sasl.mechanism = SCRAM-SHA-512 ", "--kafka-config").has_value());
    ASSERT_TRUE(kafka::add_setting(s, "security.protocol=SASL_PLAINTEXT", "--kafka-config").has_value());
    ASSERT_TRUE(kafka::add_setting(s, "client.id=a=b", "--kafka-config").has_value());
    EXPECT_EQ(s.at("security.protocol"), "SASL_PLAINTEXT");
    EXPECT_EQ(s.at("sasl.mechanism"), "SCRAM-SHA-512");
    EXPECT_EQ(s.at("client.id"), "a=b");  // only the first '=' splits
}

TEST(client_settings, a_pair_without_key_or_equals_sign_is_refused_naming_its_origin) {
    kafka::client_settings s;
    auto missing = kafka::add_setting(s, "security.protocol", "--kafka-config");
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().message, "--kafka-config: expected key=value, got 'security.protocol'");
    auto empty_key = kafka::add_setting(s, " =x", "f.properties:3");
    ASSERT_FALSE(empty_key.has_value());
    EXPECT_EQ(empty_key.error().message.rfind("f.properties:3: expected key=value", 0), 0U) << empty_key.error();
    EXPECT_TRUE(s.empty());
}

TEST(client_settings, a_file_holds_key_value_lines_comments_and_blank_lines) {
    testing::temp_dir dir;
    const auto path = dir.path() / "kafka.properties";
    std::ofstream(path) << "# the secured cluster\n\nsecurity.protocol=SASL_PLAINTEXT\n  # indented comment\n"
                           "sasl.mechanism=SCRAM-SHA-512\r\nsasl.username=shop\nsasl.password=p#ss=word\n";
    kafka::client_settings s;
    ASSERT_TRUE(kafka::add_settings_file(s, path).has_value());
    EXPECT_EQ(s.size(), 4U);
    EXPECT_EQ(s.at("sasl.mechanism"), "SCRAM-SHA-512");
    EXPECT_EQ(s.at("sasl.password"), "p#ss=word");  // a '#' inside a value is the value's
}

TEST(client_settings, a_bad_line_in_a_file_is_named_by_file_and_line) {
    testing::temp_dir dir;
    const auto path = dir.path() / "kafka.properties";
    std::ofstream(path) << "security.protocol=SSL\n# ok\nsasl.username\n";
    kafka::client_settings s;
    auto added = kafka::add_settings_file(s, path);
    ASSERT_FALSE(added.has_value());
    EXPECT_EQ(added.error().message.rfind(path.string() + ":3: expected key=value", 0), 0U) << added.error();
}

TEST(client_settings, a_missing_file_is_refused) {
    kafka::client_settings s;
    auto added = kafka::add_settings_file(s, "/nonexistent/kafka.properties");
    ASSERT_FALSE(added.has_value());
    EXPECT_EQ(added.error().message, "cannot read the Kafka settings file /nonexistent/kafka.properties");
}

TEST(client_settings, librdkafka_accepts_the_settings_of_a_secured_cluster) {
    const kafka::client_settings s = {{"security.protocol", "SASL_PLAINTEXT"},
                                      {"sasl.mechanism", "SCRAM-SHA-512"},
                                      {"sasl.username", "shop"},
                                      {"sasl.password", "hunter2"}};
    auto checked = kafka::validate(s);
    EXPECT_TRUE(checked.has_value()) << checked.error();
}

TEST(client_settings, an_unknown_key_fails_in_one_line_naming_it) {
    auto checked = kafka::validate({{"security.protocl", "SSL"}});
    ASSERT_FALSE(checked.has_value());
    EXPECT_EQ(checked.error().code, eventstore::errc::misconfigured);
    EXPECT_EQ(checked.error().message.rfind("Kafka setting security.protocl=SSL: ", 0), 0U) << checked.error();
    EXPECT_EQ(checked.error().message.find('\n'), std::string::npos);
}

TEST(client_settings, a_refused_value_fails_naming_key_and_value) {
    auto checked = kafka::validate({{"security.protocol", "carrier-pigeon"}});
    ASSERT_FALSE(checked.has_value());
    EXPECT_NE(checked.error().message.find("security.protocol=carrier-pigeon"), std::string::npos) << checked.error();
}

TEST(client_settings, keys_the_event_store_depends_on_are_refused) {
    for (const char* key : {"enable.idempotence", "acks", "group.id", "auto.offset.reset", "enable.auto.commit",
                            "transactional.id", "isolation.level"}) {
        auto checked = kafka::validate({{key, "x"}});
        ASSERT_FALSE(checked.has_value()) << key;
        EXPECT_NE(checked.error().message.find("set by shopstream itself"), std::string::npos) << checked.error();
    }
    auto brokers = kafka::validate({{"bootstrap.servers", "elsewhere:9092"}});
    ASSERT_FALSE(brokers.has_value());
    EXPECT_NE(brokers.error().message.find("use --brokers"), std::string::npos) << brokers.error();
}

TEST(client_settings, secret_keys_are_recognised_in_any_case) {
    for (const char* key : {"sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret",
                            "SASL.PASSWORD", "ssl.key.pem", "sasl.oauthbearer.config"}) {
        EXPECT_TRUE(kafka::is_secret_key(key)) << key;
    }
    for (const char* key : {"sasl.username", "security.protocol", "ssl.ca.location"}) {
        EXPECT_FALSE(kafka::is_secret_key(key)) << key;
    }
}

TEST(client_settings, describe_masks_every_secret_value) {
    const kafka::client_settings s = {{"sasl.username", "shop"},
                                      {"sasl.password", "hunter2"},
                                      {"ssl.keystore.password", "k3y"},
                                      {"sasl.oauthbearer.client.secret", "s3cr3t"}};
    const std::string shown = kafka::describe(s);
    EXPECT_EQ(shown, "sasl.oauthbearer.client.secret=*** sasl.password=*** sasl.username=shop ssl.keystore.password=***");
    EXPECT_EQ(kafka::describe({}), "none");
}

TEST(client_settings, a_refused_secret_is_not_shown_in_the_error) {
    auto refused_secret = kafka::validate({{"sasl.password.unknown", "hunter2"}});
    ASSERT_FALSE(refused_secret.has_value());
    EXPECT_EQ(refused_secret.error().message.find("hunter2"), std::string::npos) << refused_secret.error();
    EXPECT_NE(refused_secret.error().message.find("sasl.password.unknown=***"), std::string::npos) << refused_secret.error();
}

}  // namespace
}  // namespace shopstream
