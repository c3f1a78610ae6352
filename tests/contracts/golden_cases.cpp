#include "tests/contracts/golden_cases.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace shopstream::contracts {
namespace {

namespace order = domain::order;
namespace payment = domain::payment;
namespace review = domain::review;
using domain::actor;
using domain::customer_id;
using domain::money;
using domain::order_id;
using domain::payment_id;
using domain::role;

constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t i64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int32_t i32_max = std::numeric_limits<std::int32_t>::max();
constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();
constexpr domain::timestamp_ms dec_1_2026 = 1'796'083'200'000;  // 2026-12-01T00:00:00Z

domain::currency currency(std::string_view code) { return *domain::currency::parse(code); }

const customer_id author{"cust:42"};
const domain::review_id review_of_42 = review::review_id_for("SKU-9.red", author);

}  // namespace

std::vector<golden_case> golden_cases_v1() {
    std::vector<golden_case> cases;

    // ---- orders (type ids 101..105) -------------------------------------------------
    cases.push_back({"order_placed", "order_placed: two lines, EUR, a new order",
                     "ord:2026-12-01.0001", 0, "cmd:place-0001", {101},
                     std::vector<order::event>{order::order_placed{
                         order_id{"ord:2026-12-01.0001"}, customer_id{"cust:42"},
                         {{"SKU-9.red", 3, 1'999}, {"book_978-3", 1, 4'500}},
                         currency("EUR"), 10'497, dec_1_2026, ""}}});
    // What the decoder accepts beyond command limits: a log written under older limits
    // must stay readable (order_codec.hpp).
    cases.push_back({"order_placed-extremes",
                     "order_placed: int32/int64 maxima, a zero price, JPY, the earliest time",
                     "o", 0, "c", {101},
                     std::vector<order::event>{order::order_placed{
                         order_id{"o"}, customer_id{"c"},
                         {{"0", 1, 0}, {"Z", i32_max, i64_max}},
                         currency("JPY"), i64_max, i64_min, ""}}});
    // Every scalar at its FlatBuffers default, which the builder leaves out of the
    // bytes: absent scalars must still read as these values.
    cases.push_back({"order_cancelled-defaults",
                     "order_cancelled: customer_request, role customer, at 0 (all absent on the wire)",
                     "ord:2026-12-01.0001", 1, "cmd:cancel-0001", {102},
                     std::vector<order::event>{order::order_cancelled{
                         order_id{"ord:2026-12-01.0001"}, order::cancel_reason::customer_request,
                         actor{"cust:42", role::customer}, 0}}});
    cases.push_back({"order_cancelled", "order_cancelled: payment_timeout, by the saga",
                     "ord:2026-12-01.0002", 1, "saga:ord:2026-12-01.0002:timeout", {102},
                     std::vector<order::event>{order::order_cancelled{
                         order_id{"ord:2026-12-01.0002"}, order::cancel_reason::payment_timeout,
                         actor{"saga", role::system}, dec_1_2026 + 900'000}}});
    cases.push_back({"order_confirmed", "order_confirmed: with its payment",
                     "ord:2026-12-01.0001", 1, "saga:ord:2026-12-01.0001:confirm", {103},
                     std::vector<order::event>{order::order_confirmed{
                         order_id{"ord:2026-12-01.0001"}, payment_id{"pay:ord:2026-12-01.0001"},
                         dec_1_2026 + 1'234}}});
    cases.push_back({"order_shipped", "order_shipped: by an admin",
                     "ord:2026-12-01.0001", 3, "cmd:ship-0001", {104},
                     std::vector<order::event>{order::order_shipped{
                         order_id{"ord:2026-12-01.0001"}, actor{"admin-7", role::admin},
                         dec_1_2026 + 86'400'000}}});
    cases.push_back({"order_payment_captured", "order_payment_captured: the largest amount, USD",
                     "ord:2026-12-01.0001", 2, "saga:ord:2026-12-01.0001:captured", {105},
                     std::vector<order::event>{order::order_payment_captured{
                         order_id{"ord:2026-12-01.0001"}, payment_id{"pay:ord:2026-12-01.0001"},
                         money{i64_max, currency("USD")}, i64_max}}});
    // Several events in one commit, at the highest expected version the commit allows.
    cases.push_back({"order-two_events",
                     "two order events in one commit, expected version 2^64-1-2",
                     "ord:2026-12-01.0003", u64_max - 2, "cmd:batch-0003", {103, 105},
                     std::vector<order::event>{
                         order::order_confirmed{order_id{"ord:2026-12-01.0003"},
                                                payment_id{"pay:3"}, 1},
                         order::order_payment_captured{order_id{"ord:2026-12-01.0003"},
                                                       payment_id{"pay:3"},
                                                       money{0, currency("CHF")}, 2}}});

    // ---- payments (type ids 201..206) -----------------------------------------------
    cases.push_back({"payment_requested", "payment_requested: payment::max_amount, EUR",
                     "pay:ord:2026-12-01.0001", 0, "saga:ord:2026-12-01.0001:pay", {201},
                     std::vector<payment::event>{payment::payment_requested{
                         payment_id{"pay:ord:2026-12-01.0001"}, order_id{"ord:2026-12-01.0001"},
                         money{payment::max_amount, currency("EUR")},
                         "tok_visa 4242 ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", dec_1_2026}}});
    cases.push_back({"payment_authorized-defaults",
                     "payment_authorized: at 0 (absent on the wire)",
                     "pay:ord:2026-12-01.0001", 1, "gw:pay:ord:2026-12-01.0001:auth", {202},
                     std::vector<payment::event>{payment::payment_authorized{
                         payment_id{"pay:ord:2026-12-01.0001"}, "AUTH-0001", 0}}});
    cases.push_back({"payment_declined", "payment_declined: a German reason",
                     "pay:ord:2026-12-01.0002", 1, "gw:pay:ord:2026-12-01.0002:auth", {203},
                     std::vector<payment::event>{payment::payment_declined{
                         payment_id{"pay:ord:2026-12-01.0002"},
                         "Karte abgelehnt \xE2\x80\x93 Limit \xC3\xBC"
                         "berschritten",  // "Karte abgelehnt – Limit überschritten"
                         dec_1_2026 + 5}}});
    cases.push_back({"payment_captured", "payment_captured: zero amount, JPY, the latest time",
                     "pay:ord:2026-12-01.0001", 2, "saga:ord:2026-12-01.0001:capture", {204},
                     std::vector<payment::event>{payment::payment_captured{
                         payment_id{"pay:ord:2026-12-01.0001"}, money{0, currency("JPY")},
                         i64_max}}});
    cases.push_back({"payment_voided", "payment_voided: a Japanese reason",
                     "pay:ord:2026-12-01.0002", 2, "saga:ord:2026-12-01.0002:void", {205},
                     std::vector<payment::event>{payment::payment_voided{
                         payment_id{"pay:ord:2026-12-01.0002"},
                         "\xE6\xB3\xA8\xE6\x96\x87\xE3\x81\x8C\xE5\x8F\x96\xE6\xB6\x88",  // "注文が取消"
                         dec_1_2026 + 6}}});
    cases.push_back({"payment_refunded", "payment_refunded: 1 minor unit, CHF, an emoji, the earliest time",
                     "pay:ord:2026-12-01.0001", 3, "cmd:refund-0001", {206},
                     std::vector<payment::event>{payment::payment_refunded{
                         payment_id{"pay:ord:2026-12-01.0001"}, "rf:2026-12-02.1",
                         money{1, currency("CHF")},
                         "R\xC3\xBC"
                         "ckgabe \xF0\x9F\x93\xA6",  // "Rückgabe 📦"
                         i64_min}}});

    // ---- reviews (type ids 301..306) ------------------------------------------------
    cases.push_back({"review_submitted", "review_submitted: rating 5, non-ASCII title and body",
                     review_of_42.value(), 0, "cmd:review-0001", {301},
                     std::vector<review::event>{review::review_submitted{
                         review_of_42, "SKU-9.red", author, 5,
                         "Gr\xC3\xBCn \xE2\x82\xAC \xF0\x9D\x84\x9E",  // "Grün € 𝄞"
                         "Sehr gut.\n\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x82\x82 OK \xF0\x9F\x98\x80",
                         dec_1_2026}}});
    // Review scalars are `= null` in the schema: a 0 is written, and must read as 0.
    cases.push_back({"review_submitted-min",
                     "review_submitted: rating 1, empty body, at 0 (written: the field is = null)",
                     "a~b", 0, "x", {301},
                     std::vector<review::event>{review::review_submitted{
                         review::review_id_for("a", customer_id{"b"}), "a", customer_id{"b"}, 1,
                         "x", "", 0}}});
    cases.push_back({"review_edited", "review_edited: rating 3",
                     review_of_42.value(), 1, "cmd:review-0002", {302},
                     std::vector<review::event>{review::review_edited{
                         review_of_42, 3, "Doch nur mittel", "Nach einer Woche: na ja \xE2\x80\xA6",
                         dec_1_2026 + 7}}});
    cases.push_back({"review_retracted", "review_retracted: by its author (role customer, written)",
                     review_of_42.value(), 2, "cmd:review-0003", {303},
                     std::vector<review::event>{review::review_retracted{
                         review_of_42, actor{"cust:42", role::customer}, dec_1_2026 + 8}}});
    cases.push_back({"review_hidden", "review_hidden: by an admin, the latest time",
                     review_of_42.value(), 1, "cmd:moderate-0001", {304},
                     std::vector<review::event>{review::review_hidden{
                         review_of_42, "Beleidigung \xE2\x9A\xA0", actor{"moderator-7", role::admin},
                         i64_max}}});
    cases.push_back({"review_restored", "review_restored: by the system, the earliest time",
                     review_of_42.value(), 2, "cmd:moderate-0002", {305},
                     std::vector<review::event>{review::review_restored{
                         review_of_42, "nach Pr\xC3\xBC" "fung", actor{"moderation-bot", role::system},
                         i64_min}}});
    cases.push_back({"review_marked_helpful", "review_marked_helpful: one vote",
                     review_of_42.value(), 1, "cmd:vote-0001", {306},
                     std::vector<review::event>{review::review_marked_helpful{
                         review_of_42, customer_id{"cust:43"}, dec_1_2026 + 9}}});

    // ---- fields appended to schema version 1 ----------------------------------------
    // order_placed.payment_method_token (issue 12): the records above lack it and read
    // it as "".
    cases.push_back({"order_placed-payment_method", "order_placed: with its payment method token",
                     "ord:2026-12-01.0003", 0, "cmd:place-0003", {101},
                     std::vector<order::event>{order::order_placed{
                         order_id{"ord:2026-12-01.0003"}, customer_id{"cust:42"},
                         {{"SKU-9.red", 1, 1'999}}, currency("EUR"), 1'999, dec_1_2026 + 10,
                         "tok_insufficient_funds"}}});
    return cases;
}

std::string to_hex_file(const golden_case& c, const std::vector<std::uint8_t>& bytes) {
    std::string out = "# " + c.description + "\n" +
                      "# Frozen: never edit or regenerate (tests/contracts/README.md).\n";
    char buf[24];
    for (std::size_t row = 0; row < bytes.size(); row += 16) {
        std::snprintf(buf, sizeof buf, "%06zx:", row);
        out += buf;
        std::string ascii;
        for (std::size_t i = row; i < row + 16; ++i) {
            if (i < bytes.size()) {
                std::snprintf(buf, sizeof buf, " %02x", bytes[i]);
                out += buf;
                ascii += (bytes[i] >= 0x20 && bytes[i] < 0x7f) ? static_cast<char>(bytes[i]) : '.';
            } else {
                out += "   ";
            }
        }
        out += "  |" + ascii + "|\n";
    }
    return out;
}

result<std::vector<std::uint8_t>, std::string> from_hex_file(std::string_view text) {
    std::vector<std::uint8_t> bytes;
    std::size_t line_no = 0;
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        ++line_no;
        if (line.empty() || line.front() == '#') continue;
        const std::size_t colon = line.find(':');
        const std::size_t bar = line.find('|');
        if (colon == std::string_view::npos || bar == std::string_view::npos || bar < colon) {
            return fail("line " + std::to_string(line_no) + " is not '<offset>: <hex>  |<ascii>|'");
        }
        // The offset column must agree with the bytes so far: a dropped or duplicated
        // line is refused instead of silently shifting every byte after it.
        std::size_t offset = 0;
        const std::string_view offset_text = line.substr(0, colon);
        const char* const offset_end = offset_text.data() + offset_text.size();
        const auto parsed = std::from_chars(offset_text.data(), offset_end, offset, 16);
        if (parsed.ec != std::errc{} || parsed.ptr != offset_end || offset != bytes.size()) {
            return fail("line " + std::to_string(line_no) + " has offset " +
                        std::string(line.substr(0, colon)) + " after " +
                        std::to_string(bytes.size()) + " bytes");
        }
        const std::string_view hex = line.substr(colon + 1, bar - colon - 1);
        for (std::size_t i = 0; i < hex.size();) {
            if (hex[i] == ' ') {
                ++i;
                continue;
            }
            if (i + 1 >= hex.size() || !std::isxdigit(static_cast<unsigned char>(hex[i])) ||
                !std::isxdigit(static_cast<unsigned char>(hex[i + 1]))) {
                return fail("line " + std::to_string(line_no) + " holds a malformed hex byte");
            }
            unsigned value = 0;
            // Two hex digits, checked above: this cannot fail.
            std::from_chars(hex.data() + i, hex.data() + i + 2, value, 16);
            bytes.push_back(static_cast<std::uint8_t>(value));
            i += 2;
        }
    }
    if (bytes.empty()) return fail(std::string("no bytes"));
    return bytes;
}

}  // namespace shopstream::contracts
