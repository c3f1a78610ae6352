// The reviews read model (projections/reviews_model.hpp) on a real LMDB environment,
// fed batches as the projection runtime hands them over: every review event's effect on
// the review, the listings and the rating summary; checkpoints, heads and identity kept
// across a reopen; refusals; the map growing instead of failing.
#include <gtest/gtest.h>

#include "projections/reviews_model.hpp"
#include "tests/support/temp_dir.hpp"

namespace shopstream {
namespace {

namespace es = eventstore;
namespace review = domain::review;
using projections::review_listing;
using projections::review_order;
using projections::reviews_model;
using review::review_status;

constexpr std::int64_t t0 = 1'700'000'000'000;

domain::actor admin() { return {"admin-1", domain::role::admin}; }

class reviews_model_test : public ::testing::Test {
protected:
    void SetUp() override { reopen(); }

    void reopen(std::uint64_t map_size = std::uint64_t{1} << 20) {
        model_.reset();
        auto m = reviews_model::open(dir_.path() / "reviews", {map_size, es::lmdb::durability::relaxed});
        ASSERT_TRUE(m.has_value()) << m.error();
        model_ = std::move(*m);
    }

    // One commit of `events` on review `id`, at the next offset of partition 0.
    std::vector<projections::refusal> apply(const std::string& id, std::vector<review::event> events) {
        projections::batch b;
        projections::applied_commit c;
        c.ctx = es::context::reviews;
        c.at = {es::partition_id(0), es::log_offset(next_offset_)};
        c.aggregate_id = id;
        c.command_id = "cmd-" + std::to_string(next_offset_);
        auto& version = versions_[id];
        c.first_version = version + 1;
        version += events.size();
        for (auto& e : events) c.events.emplace_back(std::move(e));
        b.commits.push_back(std::move(c));
        ++next_offset_;
        b.checkpoints.push_back({es::context::reviews, es::partition_id(0), es::log_offset(next_offset_)});
        auto r = model_->write_batch(b);
        EXPECT_TRUE(r.has_value()) << r.error();
        return r ? *r : std::vector<projections::refusal>{};
    }

    static review::event submit(const std::string& sku, const std::string& who, std::uint8_t rating, std::int64_t at,
                                std::string body = "body") {
        return review::review_submitted{review::review_id_for(sku, domain::customer_id(who)), sku, domain::customer_id(who),
                                        rating, "title", std::move(body), at};
    }
    static std::string id(const std::string& sku, const std::string& who) {
        return review::review_id_for(sku, domain::customer_id(who)).value();
    }

    projections::rating_summary rating(const std::string& sku) {
        auto r = model_->rating(sku);
        EXPECT_TRUE(r.has_value()) << r.error();
        return r ? *r : projections::rating_summary{};
    }

    // The ids on the whole listing as `keep` filters it, pages of `limit`.
    std::vector<std::string> listed(review_listing l, std::size_t limit = 100,
                                    review_status only = review_status::visible, bool all = false) {
        std::vector<std::string> out;
        std::string after;
        for (int guard = 0; guard < 100; ++guard) {
            auto p = model_->page(l, after, limit, [&](review_status s, std::string_view) { return all || s == only; });
            EXPECT_TRUE(p.has_value()) << p.error();
            if (!p) break;
            EXPECT_LE(p->items.size(), limit);
            for (const auto& r : p->items) out.push_back(r.state.id.value());
            if (!p->next) break;
            after = *p->next;
        }
        return out;
    }

    std::optional<projections::review_record> get(const std::string& review) {
        auto r = model_->get(review);
        EXPECT_TRUE(r.has_value()) << r.error();
        return r ? *r : std::nullopt;
    }

    testing::temp_dir dir_;
    std::unique_ptr<reviews_model> model_;
    std::int64_t next_offset_ = 0;
    std::map<std::string, std::uint64_t> versions_;
};

TEST_F(reviews_model_test, a_submitted_review_is_stored_listed_everywhere_and_counted) {
    EXPECT_TRUE(apply(id("sku-1", "c-1"), {submit("sku-1", "c-1", 4, t0)}).empty());
    auto r = get(id("sku-1", "c-1"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->state.status, review_status::visible);
    EXPECT_EQ(r->state.rating, 4);
    EXPECT_EQ(r->state.author.value(), "c-1");
    EXPECT_EQ(r->version, 1U);
    EXPECT_EQ(r->updated_at, t0);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}), std::vector<std::string>{id("sku-1", "c-1")});
    EXPECT_EQ(listed({review_listing::kind::customer, "c-1", review_order::recent}), std::vector<std::string>{id("sku-1", "c-1")});
    const auto s = rating("sku-1");
    EXPECT_EQ(s.count, 1U);
    EXPECT_EQ(s.sum, 4U);
    EXPECT_EQ(s.histogram[3], 1U);
    EXPECT_EQ(rating("sku-other"), projections::rating_summary{});
    EXPECT_FALSE(get("sku-2~c-1").has_value());
}

TEST_F(reviews_model_test, an_edit_moves_the_rating_in_the_summary_and_in_the_rating_order) {
    apply(id("sku-1", "c-1"), {submit("sku-1", "c-1", 5, t0)});
    apply(id("sku-1", "c-2"), {submit("sku-1", "c-2", 3, t0 + 1)});
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::rating}),
              (std::vector<std::string>{id("sku-1", "c-1"), id("sku-1", "c-2")}));
    apply(id("sku-1", "c-1"), {review::review_edited{domain::review_id(id("sku-1", "c-1")), 1, "meh", "changed", t0 + 5}});
    auto r = get(id("sku-1", "c-1"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->state.rating, 1);
    EXPECT_EQ(r->state.body, "changed");
    EXPECT_EQ(r->state.edited_at, t0 + 5);
    EXPECT_EQ(r->version, 2U);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::rating}),
              (std::vector<std::string>{id("sku-1", "c-2"), id("sku-1", "c-1")}));
    const auto s = rating("sku-1");
    EXPECT_EQ(s.count, 2U);
    EXPECT_EQ(s.sum, 4U);
    EXPECT_EQ(s.histogram[0], 1U);
    EXPECT_EQ(s.histogram[4], 0U);
    EXPECT_EQ(s.histogram[2], 1U);
}

TEST_F(reviews_model_test, helpful_votes_count_and_order_the_helpful_listing) {
    apply(id("sku-1", "c-1"), {submit("sku-1", "c-1", 5, t0)});
    apply(id("sku-1", "c-2"), {submit("sku-1", "c-2", 3, t0 + 1)});
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::helpful}),
              (std::vector<std::string>{id("sku-1", "c-2"), id("sku-1", "c-1")}));  // no votes: newest first
    const domain::review_id older(id("sku-1", "c-1"));
    apply(older.value(), {review::review_marked_helpful{older, domain::customer_id("c-7"), t0 + 2},
                          review::review_marked_helpful{older, domain::customer_id("c-8"), t0 + 3}});
    EXPECT_EQ(get(older.value())->state.helpful_votes, 2U);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::helpful}),
              (std::vector<std::string>{id("sku-1", "c-1"), id("sku-1", "c-2")}));
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}),
              (std::vector<std::string>{id("sku-1", "c-2"), id("sku-1", "c-1")}));
    EXPECT_EQ(rating("sku-1").helpful_votes, 2U);
}

TEST_F(reviews_model_test, hidden_and_retracted_reviews_leave_public_listings_and_the_summary_but_stay_for_admins) {
    apply(id("sku-1", "c-1"), {submit("sku-1", "c-1", 5, t0)});
    apply(id("sku-1", "c-2"), {submit("sku-1", "c-2", 2, t0 + 1)});
    const domain::review_id hidden(id("sku-1", "c-1"));
    apply(hidden.value(), {review::review_hidden{hidden, "spam", admin(), t0 + 2}});
    EXPECT_EQ(get(hidden.value())->state.status, review_status::hidden);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}),
              std::vector<std::string>{id("sku-1", "c-2")});
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}, 100, review_status::hidden),
              std::vector<std::string>{hidden.value()});
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}, 100, review_status::visible, true).size(), 2U);
    EXPECT_EQ(rating("sku-1").count, 1U);
    EXPECT_EQ(rating("sku-1").sum, 2U);

    apply(hidden.value(), {review::review_restored{hidden, "not spam", admin(), t0 + 3}});
    EXPECT_EQ(rating("sku-1").count, 2U);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}).size(), 2U);

    const domain::review_id gone(id("sku-1", "c-2"));
    apply(gone.value(), {review::review_retracted{gone, {"c-2", domain::role::customer}, t0 + 4}});
    EXPECT_EQ(get(gone.value())->state.status, review_status::retracted);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::rating}), std::vector<std::string>{hidden.value()});
    EXPECT_EQ(listed({review_listing::kind::customer, "c-2", review_order::recent}, 100, review_status::retracted),
              std::vector<std::string>{gone.value()});
    EXPECT_EQ(rating("sku-1").count, 1U);
    EXPECT_EQ(rating("sku-1").sum, 5U);
}

TEST_F(reviews_model_test, a_resubmitted_review_starts_over_without_votes) {
    const domain::review_id r(id("sku-1", "c-1"));
    apply(r.value(), {submit("sku-1", "c-1", 5, t0), review::review_marked_helpful{r, domain::customer_id("c-9"), t0 + 1}});
    apply(r.value(), {review::review_retracted{r, {"c-1", domain::role::customer}, t0 + 2}});
    EXPECT_EQ(rating("sku-1"), projections::rating_summary{});
    apply(r.value(), {submit("sku-1", "c-1", 2, t0 + 10)});
    const auto now = get(r.value());
    EXPECT_EQ(now->state.status, review_status::visible);
    EXPECT_EQ(now->state.helpful_votes, 0U);
    EXPECT_EQ(now->state.submitted_at, t0 + 10);
    EXPECT_EQ(now->version, 4U);
    EXPECT_EQ(rating("sku-1").count, 1U);
    EXPECT_EQ(rating("sku-1").helpful_votes, 0U);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::helpful}).size(), 1U);
}

TEST_F(reviews_model_test, pages_resume_after_their_cursor_and_a_cursor_of_another_listing_is_refused) {
    for (int i = 0; i < 25; ++i) apply(id("sku-1", "c-" + std::to_string(i)), {submit("sku-1", "c-" + std::to_string(i), 3, t0 + i)});
    apply(id("sku-2", "c-1"), {submit("sku-2", "c-1", 3, t0)});
    const auto all = listed({review_listing::kind::product, "sku-1", review_order::recent}, 7);
    ASSERT_EQ(all.size(), 25U);
    EXPECT_EQ(all.front(), id("sku-1", "c-24"));
    EXPECT_EQ(all.back(), id("sku-1", "c-0"));
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}, 25), all);

    auto first = model_->page({review_listing::kind::product, "sku-1", review_order::recent}, "", 5,
                              [](review_status, std::string_view) { return true; });
    ASSERT_TRUE(first.has_value() && first->next.has_value());
    auto foreign = model_->page({review_listing::kind::product, "sku-2", review_order::recent}, *first->next, 5,
                                [](review_status, std::string_view) { return true; });
    ASSERT_FALSE(foreign.has_value());
    EXPECT_EQ(foreign.error().code, es::errc::invalid_argument);
    auto exact = model_->page({review_listing::kind::product, "sku-2", review_order::recent}, "", 1,
                              [](review_status, std::string_view) { return true; });
    ASSERT_TRUE(exact.has_value());
    EXPECT_EQ(exact->items.size(), 1U);
    EXPECT_FALSE(exact->next.has_value());  // a full page that ends the listing has no next
}

TEST_F(reviews_model_test, a_commit_breaking_the_models_invariants_is_refused_while_its_head_and_checkpoint_are_kept) {
    projections::batch b;
    projections::applied_commit c;
    c.ctx = es::context::reviews;
    c.at = {es::partition_id(2), es::log_offset(7)};
    c.aggregate_id = id("sku-1", "c-1");
    c.command_id = "cmd-x";
    c.events.emplace_back(submit("sku-1", "c-2", 4, t0));  // names another review
    b.commits.push_back(c);
    es::aggregate_head head;
    (void)es::record_applied(head, "cmd-x", 1, c.at);
    b.heads.push_back({es::context::reviews, c.aggregate_id, head});
    b.checkpoints.push_back({es::context::reviews, es::partition_id(2), es::log_offset(8)});
    b.log_identity = "log-1";
    auto refused = model_->write_batch(b);
    ASSERT_TRUE(refused.has_value()) << refused.error();
    ASSERT_EQ(refused->size(), 1U);
    EXPECT_EQ((*refused)[0].at, c.at);
    EXPECT_NE((*refused)[0].reason.find("names review"), std::string::npos);
    EXPECT_FALSE(get(c.aggregate_id).has_value());
    EXPECT_FALSE(get(id("sku-1", "c-2")).has_value());
    EXPECT_EQ(rating("sku-1"), projections::rating_summary{});

    reopen();
    auto heads = model_->load_heads(es::context::reviews, std::vector<std::string>{c.aggregate_id, "unknown"});
    ASSERT_TRUE(heads.has_value());
    ASSERT_TRUE((*heads)[0].has_value());
    EXPECT_EQ(*(*heads)[0], head);
    EXPECT_FALSE((*heads)[1].has_value());
    auto cps = model_->load_checkpoints();
    ASSERT_TRUE(cps.has_value());
    EXPECT_EQ(*cps, (std::vector<projections::checkpoint>{{es::context::reviews, es::partition_id(2), es::log_offset(8)}}));
    EXPECT_EQ(model_->load_log_identity().value(), std::optional<std::string>("log-1"));

    // The refusals are handed over before the commit; a failed hand-over stores nothing.
    b.checkpoints = {{es::context::reviews, es::partition_id(2), es::log_offset(9)}};
    std::size_t handed = 0;
    b.before_commit = [&](std::span<const projections::refusal> r) -> result<void, es::error> {
        handed = r.size();
        return fail(es::error{es::errc::unreachable, "the DLQ is down"});
    };
    auto not_handed = model_->write_batch(b);
    ASSERT_FALSE(not_handed.has_value());
    EXPECT_EQ(not_handed.error().message, "the DLQ is down");
    EXPECT_EQ(handed, 1U);
    EXPECT_EQ(model_->load_checkpoints().value(),
              (std::vector<projections::checkpoint>{{es::context::reviews, es::partition_id(2), es::log_offset(8)}}));
    b.before_commit = nullptr;
    b.checkpoints = {{es::context::reviews, es::partition_id(2), es::log_offset(8)}};

    c.aggregate_id = "not-a-review-id";
    b.commits = {c};
    auto bad_id = model_->write_batch(b);
    ASSERT_TRUE(bad_id.has_value());
    ASSERT_EQ(bad_id->size(), 1U);
    EXPECT_NE((*bad_id)[0].reason.find("not a review id"), std::string::npos);
}

TEST_F(reviews_model_test, the_map_grows_when_full_instead_of_failing) {
    reopen(std::uint64_t{256} << 10);
    const auto before = model_->map_size();
    const std::string body(3'000, 'x');
    for (int i = 0; i < 300; ++i) {
        const std::string who = "c-" + std::to_string(i);
        apply(id("sku-1", who), {submit("sku-1", who, 5, t0 + i, body)});
    }
    EXPECT_GT(model_->map_size(), before);
    EXPECT_EQ(rating("sku-1").count, 300U);
    EXPECT_EQ(listed({review_listing::kind::product, "sku-1", review_order::recent}).size(), 300U);
    reopen(std::uint64_t{256} << 10);  // an environment that grew keeps its size
    EXPECT_EQ(rating("sku-1").count, 300U);
}

}  // namespace
}  // namespace shopstream
