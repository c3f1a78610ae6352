// `--postgres` values: what libpq takes is taken, anything else is a usage error; the
// conninfo adds a connect timeout; logs never see the password.
#include <gtest/gtest.h>

#include "postgres/connection.hpp"

namespace shopstream::postgres {
namespace {

using namespace std::chrono_literals;

TEST(database_url, takes_a_url_and_describes_it_without_the_password) {
    auto url = database_url::parse("postgresql://shop:s3cret@db.example:6543/orders?sslmode=require");
    ASSERT_TRUE(url.has_value()) << url.error();
    EXPECT_EQ(url->describe(), "shop@db.example:6543/orders");
    const std::string conninfo = url->conninfo(3s);
    EXPECT_NE(conninfo.find("host='db.example'"), std::string::npos) << conninfo;
    EXPECT_NE(conninfo.find("port='6543'"), std::string::npos) << conninfo;
    EXPECT_NE(conninfo.find("password='s3cret'"), std::string::npos) << conninfo;
    EXPECT_NE(conninfo.find("sslmode='require'"), std::string::npos) << conninfo;
    EXPECT_NE(conninfo.find("connect_timeout='3'"), std::string::npos) << conninfo;
    EXPECT_NE(conninfo.find("application_name='shopstream'"), std::string::npos) << conninfo;
    // What conninfo() says, libpq reads back the same (in its own order of keywords).
    auto again = database_url::parse(conninfo);
    ASSERT_TRUE(again.has_value()) << again.error();
    EXPECT_EQ(again->describe(), url->describe());
    auto twice = database_url::parse(again->conninfo(3s));
    ASSERT_TRUE(twice.has_value()) << twice.error();
    EXPECT_EQ(twice->conninfo(3s), again->conninfo(3s));
    EXPECT_EQ(again->conninfo(3s).size(), conninfo.size());
}

TEST(database_url, keeps_the_urls_own_timeout_and_name_and_quotes_values) {
    auto url = database_url::parse(R"(host=localhost dbname='it\'s' connect_timeout=10 application_name=mine)");
    ASSERT_TRUE(url.has_value()) << url.error();
    const std::string conninfo = url->conninfo(3s);
    EXPECT_NE(conninfo.find("connect_timeout='10'"), std::string::npos) << conninfo;
    EXPECT_EQ(conninfo.find("connect_timeout='3'"), std::string::npos) << conninfo;
    EXPECT_EQ(conninfo.find("shopstream"), std::string::npos) << conninfo;
    EXPECT_NE(conninfo.find(R"(dbname='it\'s')"), std::string::npos) << conninfo;
    EXPECT_EQ(url->describe(), "localhost/it's");
    // libpq's minimum connect timeout is 2 s.
    EXPECT_NE(database_url::parse("postgresql:///db")->conninfo(0s).find("connect_timeout='2'"), std::string::npos);
}

TEST(database_url, refuses_what_libpq_would_not_take_in_one_sentence) {
    for (const char* bad : {"not a url", "postgresql://[::1/db", "postgresql://h/db?no_such_option=1",
                            "postgresql://h:99999/db", "postgresql://h:0/db", "postgresql://h:54x/db",
                            "host=h port=5432,abc"}) {
        auto url = database_url::parse(bad);
        ASSERT_FALSE(url.has_value()) << bad;
        EXPECT_EQ(url.error().code, errc::invalid_url) << bad;
        EXPECT_EQ(url.error().error_code(), make_error_code(errc::invalid_url));
        EXPECT_EQ(url.error().error_code().category().name(), std::string("shopstream.postgres"));
        EXPECT_EQ(url.error().error_code().message(), "not a PostgreSQL connection URL");
        EXPECT_EQ(url.error().message.rfind("not a PostgreSQL connection URL: ", 0), 0U) << url.error().message;
        EXPECT_EQ(url.error().message.find('\n'), std::string::npos) << url.error().message;
    }
    EXPECT_TRUE(database_url::parse("postgresql://a:5432,b:5433/db").has_value());
}

}  // namespace
}  // namespace shopstream::postgres
