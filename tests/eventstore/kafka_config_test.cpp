// eventstore::kafka's configuration helpers refuse what librdkafka refuses, with a code
// to branch on and the setting named in the message.
#include "eventstore/kafka_config.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace shopstream::eventstore {
namespace {

TEST(kafka_config, a_setting_librdkafka_does_not_know_is_invalid_setting) {
    auto conf = kafka::make_conf({{"bootstrap.servers", "127.0.0.1:1"}, {"no.such.setting", "1"}});
    ASSERT_FALSE(conf.has_value());
    EXPECT_EQ(conf.error().code, errc::invalid_setting);
    EXPECT_EQ(conf.error().error_code(), make_error_code(errc::invalid_setting));
    EXPECT_EQ(conf.error().error_code().category().name(), std::string("shopstream.eventstore"));
    EXPECT_NE(conf.error().message.find("no.such.setting=1"), std::string::npos) << conf.error();
}

TEST(kafka_config, a_bad_value_is_invalid_setting_naming_it) {
    auto conf = kafka::make_conf({{"acks", "sometimes"}});
    ASSERT_FALSE(conf.has_value());
    EXPECT_EQ(conf.error().code, errc::invalid_setting);
    EXPECT_NE(conf.error().message.find("acks=sometimes"), std::string::npos) << conf.error();
    // Logged and printed as its message (base/error.hpp).
    std::ostringstream printed;
    printed << conf.error();
    EXPECT_EQ(printed.str(), conf.error().message);
    EXPECT_EQ(fmt::format("{}", conf.error()), conf.error().message);
}

TEST(kafka_config, settings_it_knows_make_a_client) {
    auto conf = kafka::make_conf({{"bootstrap.servers", "127.0.0.1:1"}, {"log_level", "0"}});
    ASSERT_TRUE(conf.has_value()) << conf.error();
    auto client = kafka::make_client(RD_KAFKA_PRODUCER, std::move(*conf));
    ASSERT_TRUE(client.has_value()) << client.error();
}

}  // namespace
}  // namespace shopstream::eventstore
