// The routes' view of a request (adapters/http/request.hpp) without a server: a port that
// records its answers stands in for server.cpp, the log is the in-memory twin over a real
// state store. What is checked is the X-Min-Position reading every read route shares and
// the answer to a position not applied in time.
#include "adapters/http/request.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eventstore/memory_log.hpp"
#include "eventstore/state_store.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream::adapters::http {
namespace {

using eventstore::context;

// server.cpp's side of a request, reduced to what these functions use.
class recording_port final : public request_port {
public:
    std::optional<min_position_token> token;
    bool unreadable_query = false;
    mutable std::vector<response> answers;

    [[nodiscard]] std::string_view body() const override { return {}; }
    [[nodiscard]] result<query_parameters, problem> query() const override { return query_parameters{}; }
    [[nodiscard]] result<std::optional<min_position_token>, problem> min_position() const override {
        if (unreadable_query) return fail(bad_query_parameter("query", "the query string is not valid"));
        return token;
    }
    void answer(response r) const override { answers.push_back(std::move(r)); }
    [[nodiscard]] bool post(work_pool_id, std::function<void()>& job) const override {
        job();
        return true;
    }
    void post_after(std::chrono::milliseconds, work_pool_id, std::function<void()> job) const override { job(); }
    void run_command(command_route, context, command_start, command_renderer) const override {}
};

class request_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = eventstore::state_store::open(dir_.path() / "state",
                                               {std::uint64_t{1} << 24, eventstore::state_store::durability::relaxed});
        ASSERT_TRUE(s.has_value()) << s.error().message;
        store_ = std::move(*s);
        log_.emplace(*store_, clock_, 4);
        port_->path = "/v1/reviews/sku~c-1";
    }

    request with_token(std::string text, bool from_header = true) {
        port_->token = min_position_token{std::move(text), from_header};
        return request(port_);
    }
    result<std::optional<min_position>, problem> read_for_reviews(const request& rq) {
        return read_min_position(rq, *log_, {context::reviews}, context::reviews);
    }

    testing::temp_dir dir_;
    eventstore::manual_clock clock_;
    std::unique_ptr<eventstore::state_store> store_;
    std::optional<eventstore::memory_log> log_;
    std::shared_ptr<recording_port> port_ = std::make_shared<recording_port>();
};

TEST_F(request_test, a_read_without_a_token_waits_for_nothing) {
    auto r = read_for_reviews(request(port_));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value());
}

TEST_F(request_test, a_token_of_the_served_context_or_a_bare_one_is_waited_for) {
    for (const auto* text : {"reviews:3:17", "3:17"}) {
        auto r = read_for_reviews(with_token(text));
        ASSERT_TRUE(r.has_value()) << text;
        ASSERT_TRUE(r->has_value()) << text;
        EXPECT_EQ((*r)->ctx, context::reviews);
        EXPECT_EQ((*r)->at.partition.value(), 3);
        EXPECT_EQ((*r)->at.offset.value(), 17);
        EXPECT_TRUE((*r)->from_header);
    }
    // The orders model is fed by two logs: a payments token is waited for as it names it.
    auto r = read_min_position(with_token("payments:1:2", false), *log_, {context::orders, context::payments},
                               context::orders);
    ASSERT_TRUE(r.has_value() && r->has_value());
    EXPECT_EQ((*r)->ctx, context::payments);
    EXPECT_FALSE((*r)->from_header);
}

TEST_F(request_test, a_token_of_another_context_is_ignored) {
    auto r = read_for_reviews(with_token("orders:3:17"));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->has_value());
}

TEST_F(request_test, a_malformed_token_or_a_partition_the_log_lacks_is_a_400_naming_where_it_came_from) {
    auto malformed = read_for_reviews(with_token("reviews:x"));
    ASSERT_FALSE(malformed.has_value());
    EXPECT_EQ(malformed.error().status, 400);
    EXPECT_EQ(malformed.error().detail.rfind("X-Min-Position: must be a position token \"reviews:", 0), 0U)
        << malformed.error().detail;

    auto beyond = read_for_reviews(with_token("reviews:4:0", false));
    ASSERT_FALSE(beyond.has_value());
    EXPECT_EQ(beyond.error().status, 400);
    EXPECT_EQ(beyond.error().detail, "minPosition: names partition 4; the log has 4");

    port_->token.reset();
    port_->unreadable_query = true;
    auto unreadable = read_for_reviews(request(port_));
    ASSERT_FALSE(unreadable.has_value());
    EXPECT_EQ(unreadable.error().detail, "query: the query string is not valid");
}

TEST_F(request_test, an_unapplied_position_inside_the_log_is_503_and_one_past_its_end_is_400) {
    const std::vector<std::uint8_t> foreign{1, 2, 3};
    const auto written = log_->write(context::reviews, eventstore::aggregate_ref("sku~c-1"), foreign);
    const request rq(port_);

    answer_unapplied_position(rq, *log_, min_position{context::reviews, written, true}, "not yet");
    ASSERT_EQ(port_->answers.size(), 1U);
    EXPECT_EQ(port_->answers[0].status, 503);
    EXPECT_EQ(port_->answers[0].content_type, problem_content_type);
    EXPECT_NE(port_->answers[0].body.find("not yet; retry, or read without X-Min-Position"), std::string::npos);
    EXPECT_NE(port_->answers[0].body.find(R"("instance":"/v1/reviews/sku~c-1")"), std::string::npos);

    const eventstore::position past{written.partition, eventstore::log_offset(written.offset.value() + 1)};
    answer_unapplied_position(rq, *log_, min_position{context::reviews, past, true}, "not yet");
    ASSERT_EQ(port_->answers.size(), 2U);
    EXPECT_EQ(port_->answers[1].status, 400);
    EXPECT_NE(port_->answers[1].body.find("which ends at offset " + std::to_string(past.offset.value())),
              std::string::npos)
        << port_->answers[1].body;
}

}  // namespace
}  // namespace shopstream::adapters::http
