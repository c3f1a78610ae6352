// Review queries (queries/reviews.hpp) over a real reviews model in LMDB: visibility for
// the public, the author and an admin; paging with opaque cursors; the rating summary;
// every bad parameter refused naming it.
#include <gtest/gtest.h>

#include "queries/reviews.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

namespace es = eventstore;
namespace review = domain::review;
using queries::errc;
using queries::page_request;
using queries::review_queries;

constexpr std::int64_t t0 = 1'700'000'000'000;
const queries::viewer anonymous = std::nullopt;
const queries::viewer admin = domain::actor{"admin-1", domain::role::admin};
queries::viewer customer(std::string id) { return domain::actor{std::move(id), domain::role::customer}; }

class review_queries_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto m = projections::reviews_model::open(dir_.path() / "reviews", {std::uint64_t{1} << 20, es::lmdb::durability::relaxed});
        ASSERT_TRUE(m.has_value()) << m.error();
        model_ = std::move(*m);
    }

    void apply(const std::string& id, review::event e) {
        projections::batch b;
        projections::applied_commit c;
        c.ctx = es::context::reviews;
        c.at = {es::partition_id(0), es::log_offset(offset_++)};
        c.aggregate_id = id;
        c.command_id = "cmd-" + std::to_string(offset_);
        c.first_version = ++versions_[id];
        c.events.emplace_back(std::move(e));
        b.commits.push_back(std::move(c));
        b.checkpoints.push_back({es::context::reviews, es::partition_id(0), es::log_offset(offset_)});
        ASSERT_TRUE(model_->write_batch(b).has_value());
    }
    std::string submit(const std::string& sku, const std::string& who, std::uint8_t rating, std::int64_t at = t0) {
        const auto id = review::review_id_for(sku, domain::customer_id(who));
        apply(id.value(), review::review_submitted{id, sku, domain::customer_id(who), rating, "t", "b", at});
        return id.value();
    }
    void hide(const std::string& id) {
        apply(id, review::review_hidden{domain::review_id(id), "spam", {"admin-1", domain::role::admin}, t0 + 100});
    }

    static std::vector<std::string> ids(const queries::review_page& p) {
        std::vector<std::string> out;
        for (const auto& r : p.items) out.push_back(r.state.id.value());
        return out;
    }

    void expect_bad(const result<queries::review_page, queries::query_error>& r, std::string_view parameter) {
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, errc::invalid_argument);
        EXPECT_EQ(r.error().parameter, parameter) << r.error().message;
        EXPECT_NE(r.error().message.find(parameter), std::string::npos) << r.error().message;
    }

    testing::temp_dir dir_;
    std::unique_ptr<projections::reviews_model> model_;
    std::int64_t offset_ = 0;
    std::map<std::string, std::uint64_t> versions_;
};

TEST_F(review_queries_test, a_hidden_review_is_seen_by_its_author_and_admins_only) {
    const auto id = submit("sku-1", "c-1", 4);
    hide(id);
    const review_queries q(*model_);
    auto anon = q.get_review(id, anonymous);
    ASSERT_FALSE(anon.has_value());
    EXPECT_EQ(anon.error().code, errc::not_found);
    EXPECT_EQ(q.get_review(id, customer("c-2")).error().code, errc::not_found);
    auto own = q.get_review(id, customer("c-1"));
    ASSERT_TRUE(own.has_value());
    EXPECT_EQ(queries::name_of(own->state.status), "hidden");
    EXPECT_TRUE(q.get_review(id, admin).has_value());
    EXPECT_EQ(q.get_review("sku-1~c-9", admin).error().code, errc::not_found);

    const auto other = submit("sku-1", "c-2", 5, t0 + 1);
    EXPECT_EQ(ids(*q.list_product_reviews("sku-1", {}, anonymous)), std::vector<std::string>{other});
    EXPECT_EQ(ids(*q.list_product_reviews("sku-1", {}, customer("c-1"))), (std::vector<std::string>{other, id}));
    EXPECT_EQ(ids(*q.list_product_reviews("sku-1", {}, admin)), (std::vector<std::string>{other, id}));
    EXPECT_TRUE(q.list_customer_reviews("c-1", {}, anonymous)->items.empty());
    EXPECT_EQ(ids(*q.list_customer_reviews("c-1", {}, customer("c-1"))), std::vector<std::string>{id});
    EXPECT_EQ(q.get_product_rating("sku-1")->count, 1U);
}

TEST_F(review_queries_test, pages_follow_their_cursors_to_the_end_in_every_order) {
    for (int i = 0; i < 12; ++i) submit("sku-1", "c-" + std::to_string(i), static_cast<std::uint8_t>(1 + i % 5), t0 + i);
    const review_queries q(*model_);
    for (std::string_view sort : {"recent", "helpful", "rating"}) {
        std::vector<std::string> seen;
        std::string after;
        int pages = 0;
        for (;;) {
            auto p = q.list_product_reviews("sku-1", {sort, "5", after}, anonymous);
            ASSERT_TRUE(p.has_value()) << p.error().message;
            ++pages;
            for (auto& id : ids(*p)) seen.push_back(id);
            if (!p->next) break;
            after = *p->next;
        }
        EXPECT_EQ(pages, 3) << sort;
        EXPECT_EQ(seen.size(), 12U) << sort;
        EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 12U) << sort;
    }
    auto best = q.list_product_reviews("sku-1", {"rating", "3", ""}, anonymous);
    ASSERT_TRUE(best.has_value());
    ASSERT_EQ(best->items.size(), 3U);
    EXPECT_EQ(best->items[0].state.rating, 5);
    EXPECT_EQ(best->items[1].state.rating, 5);
    EXPECT_EQ(best->items[2].state.rating, 4);
    EXPECT_EQ(q.list_product_reviews("sku-1", {}, anonymous)->items.size(), 12U);  // default limit 20
}

TEST_F(review_queries_test, bad_parameters_are_refused_naming_them) {
    submit("sku-1", "c-1", 4);
    submit("sku-1", "c-2", 4, t0 + 1);
    submit("sku-2", "c-1", 4);
    const review_queries q(*model_);
    for (std::string_view limit : {"0", "101", "abc", "-1", "07", "1.5", " 5"}) {
        expect_bad(q.list_product_reviews("sku-1", {"", limit, ""}, anonymous), "limit");
    }
    EXPECT_TRUE(q.list_product_reviews("sku-1", {"", "100", ""}, anonymous).has_value());
    EXPECT_TRUE(q.list_product_reviews("sku-1", {"", "1", ""}, anonymous).has_value());
    expect_bad(q.list_product_reviews("sku-1", {"newest", "", ""}, anonymous), "sort");
    expect_bad(q.list_customer_reviews("c-1", {"rating", "", ""}, anonymous), "sort");
    expect_bad(q.list_product_reviews("sku-1", {"", "", "!!!"}, anonymous), "after");
    expect_bad(q.list_product_reviews("sku-1", {"", "", "AAAA"}, anonymous), "after");

    auto first = q.list_product_reviews("sku-1", {"recent", "1", ""}, anonymous);
    ASSERT_TRUE(first.has_value() && first->next.has_value());
    expect_bad(q.list_product_reviews("sku-2", {"recent", "1", *first->next}, anonymous), "after");  // another product
    expect_bad(q.list_product_reviews("sku-1", {"helpful", "1", *first->next}, anonymous), "after");  // another order
    expect_bad(q.list_customer_reviews("c-1", {"", "1", *first->next}, anonymous), "after");          // another kind
    auto second = q.list_product_reviews("sku-1", {"recent", "1", *first->next}, anonymous);
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second->items.size(), 1U);
    EXPECT_FALSE(second->next.has_value());
}

TEST_F(review_queries_test, the_rating_summary_averages_visible_reviews_to_two_decimals) {
    const review_queries q(*model_);
    auto none = q.get_product_rating("sku-1");
    ASSERT_TRUE(none.has_value());
    EXPECT_EQ(none->count, 0U);
    EXPECT_FALSE(none->average_hundredths.has_value());
    submit("sku-1", "c-1", 5);
    submit("sku-1", "c-2", 4);
    submit("sku-1", "c-3", 4);
    auto r = q.get_product_rating("sku-1");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->count, 3U);
    EXPECT_EQ(r->average_hundredths, 433U);
    EXPECT_EQ(queries::format_hundredths(*r->average_hundredths), "4.33");
    EXPECT_EQ(r->histogram, (std::array<std::uint64_t, 5>{0, 0, 0, 2, 1}));
    const auto low = submit("sku-1", "c-4", 1);
    EXPECT_EQ(q.get_product_rating("sku-1")->average_hundredths, 350U);
    hide(low);
    EXPECT_EQ(q.get_product_rating("sku-1")->average_hundredths, 433U);
    submit("sku-2", "c-1", 2);
    submit("sku-2", "c-2", 1);
    submit("sku-2", "c-3", 1);
    EXPECT_EQ(q.get_product_rating("sku-2")->average_hundredths, 133U);  // 1.333.. rounds down
    EXPECT_EQ(queries::format_hundredths(105), "1.05");
    EXPECT_EQ(queries::format_hundredths(500), "5.00");
}

}  // namespace
}  // namespace shopstream
