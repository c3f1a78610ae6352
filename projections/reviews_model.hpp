#pragma once
// The reviews read model in LMDB (ARCHITECTURE.md decision 6: a complete local replica
// in every process that serves review queries), fed by the projection runtime through
// read_model (projections/read_model.hpp) and read by queries/reviews.
//
// One environment (eventstore/lmdb, the state store's wrapper), named databases:
//   reviews         review id -> the review (state as domain::review::evolve folds it,
//                   version, time of its last event)
//   by_recent       sku \0 ~submitted_at id -> status, author   (a product's, newest first)
//   by_helpful      sku \0 ~helpful_votes ~submitted_at id -> ... (most helpful first)
//   by_rating       sku \0 ~rating ~submitted_at id -> ...       (best rated first)
//   by_customer     author \0 ~submitted_at id -> ...            (a customer's, newest first)
//   ratings         sku -> count, sum, histogram 1-5, helpful votes of its VISIBLE reviews
//   meta            checkpoints, the apply rule's heads, the log identity
// (~x: the bitwise complement, big-endian, so that bytewise key order is descending x.)
// Every review that exists is in the listings with its status beside it, so an admin
// sees hidden and retracted ones and their author sees their own; the public sees only
// visible ones (the listing's filter), and the rating summary counts only those.
//
// A batch is one write transaction: its reviews, listings, summaries, heads, checkpoints
// and log identity, or nothing. When the map is full the transaction is dropped, the map
// doubled and the batch written again, so MDB_MAP_FULL never reaches the runtime.
//
// Thread-safety: one runtime thread writes; any number of threads read at the same time
// (LMDB readers never block the writer). Growing the map waits for the reads in flight
// (LMDB allows a resize only with no transaction open); reads wait while it grows.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/function_ref.hpp"
#include "domain/review/review.hpp"
#include "eventstore/lmdb/lmdb.hpp"
#include "projections/read_model.hpp"

namespace shopstream::projections {

// One review as the model keeps it.
struct review_record {
    domain::review::state state;  // status, id, sku, author, rating, texts, times, votes
    std::uint64_t version = 0;    // the aggregate's version after its last applied event
    std::int64_t updated_at = 0;  // the time of its last event (ms since the epoch)

    friend bool operator==(const review_record&, const review_record&) = default;
};

// Over a product's visible reviews.
struct rating_summary {
    std::uint64_t count = 0;
    std::uint64_t sum = 0;                   // of the ratings
    std::array<std::uint64_t, 5> histogram{};  // [0] = ratings of 1 ... [4] = of 5
    std::uint64_t helpful_votes = 0;

    friend bool operator==(const rating_summary&, const rating_summary&) = default;
};

// Reaches cursors: values only appended.
enum class review_order : std::uint8_t { recent = 0, helpful = 1, rating = 2 };

// Which listing a page walks: a product's in one of three orders, or a customer's.
struct review_listing {
    enum class kind : std::uint8_t { product = 0, customer = 1 };
    kind of = kind::product;
    std::string owner;  // the sku or the customer id
    review_order order = review_order::recent;
};

struct review_page {
    std::vector<review_record> items;
    // The key to resume after (an index key of the listing); nullopt: the listing ends.
    std::optional<std::string> next;
};

class reviews_model final : public read_model {
public:
    struct options {
        std::uint64_t initial_map_size = std::uint64_t{64} << 20;  // doubled whenever full
        eventstore::lmdb::durability durability = eventstore::lmdb::durability::synced;
    };

    [[nodiscard]] static result<std::unique_ptr<reviews_model>, eventstore::error> open(
        const std::filesystem::path& dir, options opts);

    reviews_model(const reviews_model&) = delete;
    reviews_model& operator=(const reviews_model&) = delete;
    ~reviews_model() override;

    // read_model
    [[nodiscard]] std::string_view name() const noexcept override { return "reviews"; }
    [[nodiscard]] std::span<const context> contexts() const noexcept override;
    [[nodiscard]] std::string location() const override;
    [[nodiscard]] result<std::optional<std::string>, eventstore::error> load_log_identity() override;
    [[nodiscard]] result<std::vector<checkpoint>, eventstore::error> load_checkpoints() override;
    [[nodiscard]] result<std::vector<std::optional<eventstore::aggregate_head>>, eventstore::error> load_heads(
        context ctx, std::span<const std::string> aggregate_ids) override;
    // Refuses (to the DLQ) a commit whose aggregate id is not a review id or whose events
    // name another review; its head and checkpoint are still stored.
    [[nodiscard]] result<std::vector<refusal>, eventstore::error> write_batch(const batch& b) override;

    // ---- reads (any thread) ----
    [[nodiscard]] result<std::optional<review_record>, eventstore::error> get(std::string_view review_id) const;
    // A product with no visible review has the zero summary.
    [[nodiscard]] result<rating_summary, eventstore::error> rating(std::string_view sku) const;

    // Up to `limit` reviews of the listing for which `keep(status, author)` holds, in the
    // listing's order, starting after `after` (a `next` this returned; empty: from the
    // start). An `after` that is not a key of this listing is errc::invalid_argument.
    using filter = function_ref<bool(domain::review::review_status, std::string_view author)>;
    [[nodiscard]] result<review_page, eventstore::error> page(const review_listing& listing, std::string_view after,
                                                              std::size_t limit, filter keep) const;

    [[nodiscard]] std::uint64_t map_size() const noexcept;

    struct impl;

private:
    explicit reviews_model(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace shopstream::projections
