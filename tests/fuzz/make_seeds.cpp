// Writes the seed corpora of the fuzz targets into <dir>/<target>/ (tests/fuzz/ in the
// repository): small valid inputs — events, histories, snapshots and commits of every
// context with values like the codec tests', request bodies for every command route,
// tokens that verify and some that must not, position tokens — plus a few near misses,
// so that each target starts from inputs that reach deep into its decoder.
// Usage: fuzz_make_seeds <dir>. Files are named for what they hold and overwritten.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/auth/jwt.hpp"
#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "domain/review/review.hpp"
#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "eventstore/commit.hpp"
#include "queries/order_cursor.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/jwt_verify.hpp"

namespace {

namespace es = shopstream::eventstore;
namespace domain = shopstream::domain;
namespace order = domain::order;
namespace payment = domain::payment;
namespace review = domain::review;
using domain::actor;
using domain::money;
using domain::role;
using bytes = std::vector<std::uint8_t>;

domain::currency cur(const char* code) { return *domain::currency::parse(code); }

class corpus_writer {
public:
    explicit corpus_writer(std::filesystem::path root) : root_(std::move(root)) {}

    void put(const std::string& target, const std::string& name, std::string_view content) {
        const auto dir = root_ / target;
        std::filesystem::create_directories(dir);
        std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
        out.write(content.data(), static_cast<std::streamsize>(content.size()));
        if (!out) {
            std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
            failed_ = true;
        }
    }
    void put(const std::string& target, const std::string& name, const bytes& content) {
        put(target, name, shopstream::fuzz::as_text(content));
    }
    [[nodiscard]] bool failed() const noexcept { return failed_; }

private:
    std::filesystem::path root_;
    bool failed_ = false;
};

template <class Event>
using history = std::pair<std::string, std::vector<Event>>;

std::vector<history<order::event>> order_histories() {
    const domain::order_id id{"ord-01HZX:9"};
    const domain::payment_id pay{"pay-1"};
    const order::order_placed placed{
        id, domain::customer_id{"cust-1"}, {{"book-978.3_16", 2, 1500}, {"pen", 1, 0}}, cur("EUR"), 3000,
        1'700'000'000'000, "tok_visa"};
    const actor saga{"order-saga", role::system};
    return {
        {"placed", {placed}},
        {"shipped",
         {placed, order::order_confirmed{id, pay, 1'700'000'001'000},
          order::order_payment_captured{id, pay, money{3000, cur("EUR")}, 1'700'000'002'000},
          order::order_shipped{id, actor{"admin-\xc3\xa5", role::admin}, 1'700'000'003'000}}},
        {"cancelled",
         {placed, order::order_cancelled{id, order::cancel_reason::customer_request,
                                         actor{"cust-1", role::customer}, 1'700'000'004'000}}},
        {"rejected",
         {placed, order::order_cancelled{id, order::cancel_reason::payment_declined, saga, 5}}},
    };
}

std::vector<history<payment::event>> payment_histories() {
    const domain::payment_id id{"pay-01HZX:9"};
    const money amount{12'345, cur("EUR")};
    const payment::payment_requested requested{id, domain::order_id{"ord-1"}, amount, "tok_visa 4242~!",
                                               1'700'000'000'000};
    const payment::payment_authorized authorized{id, "AUTH-77", 1'700'000'001'000};
    const payment::payment_captured captured{id, amount, 1'700'000'002'000};
    return {
        {"declined", {requested, payment::payment_declined{id, "insufficient funds \xe2\x82\xac", 1}}},
        {"voided", {requested, authorized, payment::payment_voided{id, "order cancelled", 2}}},
        {"refunded",
         {requested, authorized, captured,
          payment::payment_refunded{id, "r-1", money{345, cur("EUR")}, "returned \xf0\x9f\x93\xa6", 3}}},
    };
}

std::vector<history<review::event>> review_histories() {
    const std::string sku = "book-978.3_16";
    const domain::customer_id author{"cust-7"};
    const auto id = review::review_id_for(sku, author);
    const review::review_submitted submitted{id, sku, author, 4, "Gr\xc3\xbc\xc3\x9f" "e", "", 1'700'000'000'000};
    const actor admin{"admin-1", role::admin};
    return {
        {"edited", {submitted, review::review_edited{id, 5, "Better", "much better", 1'700'000'001'000}}},
        {"hidden and restored",
         {submitted, review::review_hidden{id, "spam", admin, 2}, review::review_restored{id, "not spam", admin, 3}}},
        {"voted", {submitted, review::review_marked_helpful{id, domain::customer_id{"cust-2"}, 4},
                   review::review_marked_helpful{id, domain::customer_id{"cust-1"}, 5}}},
        {"retracted", {submitted, review::review_retracted{id, actor{"cust-7", role::customer}, 6}}},
    };
}

std::string file_name(std::string name) {
    for (char& c : name) {
        if (c == ' ') c = '_';
    }
    return name;
}

// One context: its histories (events target), every state reached (state target) and a
// commit per history (commit target).
template <class Decider, class Encode, class EncodeState>
void write_context(corpus_writer& w, const std::string& ctx, const std::vector<history<typename Decider::event>>& histories,
                   Encode encode, EncodeState encode_state) {
    for (const auto& [name, events] : histories) {
        bytes records;
        es::commit c{ctx + "-" + file_name(name), 0, "cmd-" + file_name(name), {}};
        auto s = Decider::initial_state();
        for (std::size_t i = 0; i < events.size(); ++i) {
            const es::encoded_event e = encode(events[i]);
            shopstream::fuzz::event_records::append(records, e.type, e.schema_version, e.payload);
            c.events.push_back(e);
            s = Decider::evolve(std::move(s), events[i]);
            w.put(ctx + "_state", file_name(name) + "_" + std::to_string(i + 1), encode_state(s));
        }
        w.put(ctx + "_events", file_name(name), records);
        w.put("commit", ctx + "_" + file_name(name), es::encode_commit(c));
    }
}

void write_json(corpus_writer& w) {
    const std::pair<const char*, const char*> bodies[] = {
        {"place_order", R"(0{"paymentMethod":{"token":"tok_visa"},"lines":[{"sku":"book-1","quantity":2,"unitPrice":{"amount":1500,"currency":"EUR"}}]})"},
        {"place_order_full",
         R"(0{"orderId":"ord-7","customerId":"cust-1","paymentMethod":{"token":"tok_flaky_2"},"lines":[{"sku":"a","quantity":1,"unitPrice":{"amount":0,"currency":"JPY"}},{"sku":"b","quantity":10000,"unitPrice":{"amount":1000000000,"currency":"JPY"}}]})"},
        {"place_order_refused", R"(0{"lines":[{"sku":"a","quantity":2.0,"quantity":1e3,"unitPrice":null}],"x":-0})"},
        {"cancel_order", "1{}"},
        {"ship_order", "2 \r\n"},
        {"submit_review", R"(3{"rating":5,"title":"Gr\u00fc\u00dfe","body":"\ud83d\ude00 fine"})"},
        {"edit_review", R"(4{"rating":1,"title":"t","body":""})"},
        {"retract_review", "5"},
        {"vote_helpful", "6{ }"},
        {"moderate_review", R"(7{"action":"hide","reason":"spam"})"},
        {"moderate_review_restore", R"(7{"action":"restore","reason":"ok"})"},
        {"if_match", "8\"7\""},
        {"if_match_any", "8 * "},
        {"if_match_max", "8\"18446744073709551615\""},
    };
    for (const auto& [name, body] : bodies) w.put("json_commands", name, std::string_view(body));
}

void write_jwt(corpus_writer& w) {
    namespace auth = shopstream::adapters::auth;
    namespace fjwt = shopstream::fuzz::jwt;
    const auto authority = auth::jwt_authority::create(std::string(fjwt::secret));
    const auto customer = authority->mint("cust-1", role::customer, std::chrono::hours(1), fjwt::now);
    const auto admin = authority->mint("admin-1", role::admin, std::chrono::hours(1), fjwt::now);
    w.put("jwt", "customer", "0Bearer " + *customer);
    w.put("jwt", "admin", "0bearer \t" + *admin + " ");
    std::string tampered = *customer;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    w.put("jwt", "tampered", "0Bearer " + tampered);
    w.put("jwt", "basic", std::string_view("0Basic dXNlcjpwYXNz"));
    w.put("jwt", "two_tokens", std::string_view("0Bearer a.b.c d.e.f"));
    w.put("jwt", "alg_none", "0Bearer " + fjwt::base64url(R"({"alg":"none"})") + "." +
                                 fjwt::base64url(R"({"sub":"x","roles":["admin"],"exp":9999999999})") + ".");
    const std::string_view header = R"({"alg":"HS256","typ":"JWT"})";
    const std::pair<const char*, std::string> signed_payloads[] = {
        {"signed_customer", R"({"sub":"cust-1","roles":["customer"],"exp":1700003600,"nbf":1700000000,"iat":1700000000})"},
        {"signed_admin", R"({"sub":"a","roles":["customer","admin"],"exp":9223372036854775807})"},
        {"signed_expired", R"({"sub":"cust-1","roles":["customer"],"exp":1699999000})"},
        {"signed_not_yet", R"({"sub":"cust-1","roles":["customer"],"exp":1800000000,"nbf":1750000000})"},
        {"signed_bad_claims", R"({"sub":"no spaces","roles":[],"exp":1.5,"iat":"now"})"},
        {"signed_not_object", R"(["sub"])"},
    };
    for (const auto& [name, payload] : signed_payloads) {
        w.put("jwt", name, "1" + std::string(header) + std::string(1, '\0') + payload);
    }
    w.put("jwt", "signed_crit",
          "1" + std::string(R"({"alg":"HS256","crit":["exp"]})") + std::string(1, '\0') +
              R"({"sub":"c","roles":["customer"],"exp":1800000000})");
    w.put("jwt", "signed_hs512",
          "1" + std::string(R"({"alg":"HS512"})") + std::string(1, '\0') +
              R"({"sub":"c","roles":["customer"],"exp":1800000000})");
}

void write_positions(corpus_writer& w) {
    const std::pair<const char*, const char*> tokens[] = {
        {"zero", "0:0"},          {"typical", "7:1234"},  {"max", "2147483647:9223372036854775807"},
        {"overflow", "2147483648:0"}, {"negative", "-1:5"}, {"no_offset", "3:"},
        {"no_partition", ":3"},    {"two_colons", "1:2:3"}, {"spaces", " 1:2"},
    };
    for (const auto& [name, token] : tokens) w.put("position", name, std::string_view(token));
    const std::pair<const char*, const char*> named[] = {
        {"named_reviews", "reviews:7:1234"}, {"named_orders", "orders:0:0"},
        {"named_unknown", "carts:1:2"},      {"named_empty", ":1:2"},
    };
    for (const auto& [name, token] : named) w.put("position", name, std::string_view(token));
}

// ?after= as clients send it: cursors the order list made (for c-fuzz under the target's
// key), one for another customer, edited ones, and base64url near misses.
void write_cursors(corpus_writer& w) {
    namespace q = shopstream::queries;
    constexpr std::string_view key = "fuzz-cursor-key-0123456789abcdef";
    const std::string mine = q::encode_cursor(key, "c-fuzz", {1'764'000'000'000, "o-0123456789abcdef"});
    w.put("cursor", "order_list", std::string_view(mine));
    w.put("cursor", "order_list_first", std::string_view(q::encode_cursor(key, "c-fuzz", {0, ""})));
    w.put("cursor", "another_customer", std::string_view(q::encode_cursor(key, "c-other", {5, "o-1"})));
    std::string edited = mine;
    edited[3] = edited[3] == 'A' ? 'B' : 'A';
    w.put("cursor", "edited", std::string_view(edited));
    w.put("cursor", "padded", std::string_view(mine + "=="));
    w.put("cursor", "standard_alphabet", "ab+/cd");
    w.put("cursor", "noncanonical_last", "AB");
    w.put("cursor", "empty", "");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <dir: tests/fuzz>\n", argv[0]);
        return 2;
    }
    corpus_writer w(argv[1]);
    write_context<order::decider>(w, "order", order_histories(), es::order_codec::encode,
                                  es::order_codec::encode_state);
    write_context<payment::decider>(w, "payment", payment_histories(), es::payment_codec::encode,
                                    es::payment_codec::encode_state);
    write_context<review::decider>(w, "review", review_histories(), es::review_codec::encode,
                                   es::review_codec::encode_state);
    // Ids are opaque bytes to the commit; a NUL inside is kept.
    w.put("commit", "nul_in_ids",
          es::encode_commit(es::commit{std::string("with\0nul", 8), 3, std::string("\0", 1), {es::encoded_event{5, 1, {1, 2, 3}}}}));
    write_json(w);
    write_jwt(w);
    write_positions(w);
    write_cursors(w);
    return w.failed() ? 1 : 0;
}
