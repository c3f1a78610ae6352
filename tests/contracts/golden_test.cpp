// Golden records (tests/contracts/README.md): the committed bytes of schema version 1,
// decoded with today's eventstore::decode_commit and context codecs, must give back
// every field of golden_cases.cpp. The bytes are read from the files, never encoded
// here, so this is no round trip: a codec that reads a released field from another slot,
// a renumbered type id or union member, or a changed default fails it.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "eventstore/codec/order_codec.hpp"
#include "eventstore/codec/payment_codec.hpp"
#include "eventstore/codec/review_codec.hpp"
#include "eventstore/commit.hpp"
#include "tests/contracts/golden_cases.hpp"

namespace shopstream::contracts {
namespace {

namespace order = domain::order;
namespace payment = domain::payment;
namespace review = domain::review;

const std::filesystem::path golden_v1 = std::filesystem::path(SHOPSTREAM_GOLDEN_DIR) / "v1";

result<std::vector<std::uint8_t>, std::string> read_golden(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot open " + path.string());
    std::stringstream text;
    text << in.rdbuf();
    return from_hex_file(text.str());
}

// ---- every field, named, so a failure says which one moved ------------------------

#define EXPECT_FIELD(f) EXPECT_EQ(got.f, want.f) << #f
#define EXPECT_ID(f) EXPECT_EQ(got.f.value(), want.f.value()) << #f

void expect_actor(const domain::actor& got, const domain::actor& want) {
    EXPECT_FIELD(id);
    EXPECT_EQ(static_cast<int>(got.role), static_cast<int>(want.role)) << "role";
}

void expect_money(const domain::money& got, const domain::money& want) {
    EXPECT_FIELD(amount);
    EXPECT_EQ(got.currency.code(), want.currency.code()) << "currency";
}

void expect_fields(const order::order_placed& got, const order::order_placed& want) {
    EXPECT_ID(id);
    EXPECT_ID(customer);
    ASSERT_EQ(got.lines.size(), want.lines.size()) << "lines";
    for (std::size_t i = 0; i < want.lines.size(); ++i) {
        SCOPED_TRACE("lines[" + std::to_string(i) + "]");
        EXPECT_FIELD(lines[i].sku);
        EXPECT_FIELD(lines[i].quantity);
        EXPECT_FIELD(lines[i].unit_price);
    }
    EXPECT_EQ(got.currency.code(), want.currency.code()) << "currency";
    EXPECT_FIELD(total);
    EXPECT_FIELD(at);
    EXPECT_FIELD(payment_method_token);  // appended: "" in records older than the field
}

void expect_fields(const order::order_cancelled& got, const order::order_cancelled& want) {
    EXPECT_ID(id);
    EXPECT_EQ(static_cast<int>(got.reason), static_cast<int>(want.reason)) << "reason";
    expect_actor(got.by, want.by);
    EXPECT_FIELD(at);
}

void expect_fields(const order::order_confirmed& got, const order::order_confirmed& want) {
    EXPECT_ID(id);
    EXPECT_ID(payment);
    EXPECT_FIELD(at);
}

void expect_fields(const order::order_shipped& got, const order::order_shipped& want) {
    EXPECT_ID(id);
    expect_actor(got.by, want.by);
    EXPECT_FIELD(at);
}

void expect_fields(const order::order_payment_captured& got,
                   const order::order_payment_captured& want) {
    EXPECT_ID(id);
    EXPECT_ID(payment);
    expect_money(got.amount, want.amount);
    EXPECT_FIELD(at);
}

void expect_fields(const payment::payment_requested& got, const payment::payment_requested& want) {
    EXPECT_ID(id);
    EXPECT_ID(order);
    expect_money(got.amount, want.amount);
    EXPECT_FIELD(method_token);
    EXPECT_FIELD(at);
}

void expect_fields(const payment::payment_authorized& got,
                   const payment::payment_authorized& want) {
    EXPECT_ID(id);
    EXPECT_FIELD(authorization_code);
    EXPECT_FIELD(at);
}

void expect_fields(const payment::payment_declined& got, const payment::payment_declined& want) {
    EXPECT_ID(id);
    EXPECT_FIELD(reason);
    EXPECT_FIELD(at);
}

void expect_fields(const payment::payment_captured& got, const payment::payment_captured& want) {
    EXPECT_ID(id);
    expect_money(got.amount, want.amount);
    EXPECT_FIELD(at);
}

void expect_fields(const payment::payment_voided& got, const payment::payment_voided& want) {
    EXPECT_ID(id);
    EXPECT_FIELD(reason);
    EXPECT_FIELD(at);
}

void expect_fields(const payment::payment_refunded& got, const payment::payment_refunded& want) {
    EXPECT_ID(id);
    EXPECT_FIELD(refund_id);
    expect_money(got.amount, want.amount);
    EXPECT_FIELD(reason);
    EXPECT_FIELD(at);
}

void expect_fields(const review::review_submitted& got, const review::review_submitted& want) {
    EXPECT_ID(id);
    EXPECT_FIELD(sku);
    EXPECT_ID(author);
    EXPECT_EQ(static_cast<int>(got.rating), static_cast<int>(want.rating)) << "rating";
    EXPECT_FIELD(title);
    EXPECT_FIELD(body);
    EXPECT_FIELD(at);
}

void expect_fields(const review::review_edited& got, const review::review_edited& want) {
    EXPECT_ID(id);
    EXPECT_EQ(static_cast<int>(got.rating), static_cast<int>(want.rating)) << "rating";
    EXPECT_FIELD(title);
    EXPECT_FIELD(body);
    EXPECT_FIELD(at);
}

void expect_fields(const review::review_retracted& got, const review::review_retracted& want) {
    EXPECT_ID(id);
    expect_actor(got.by, want.by);
    EXPECT_FIELD(at);
}

template <class Moderated>  // review_hidden, review_restored: the same fields
void expect_moderation(const Moderated& got, const Moderated& want) {
    EXPECT_ID(id);
    EXPECT_FIELD(reason);
    expect_actor(got.by, want.by);
    EXPECT_FIELD(at);
}
void expect_fields(const review::review_hidden& got, const review::review_hidden& want) {
    expect_moderation(got, want);
}
void expect_fields(const review::review_restored& got, const review::review_restored& want) {
    expect_moderation(got, want);
}

void expect_fields(const review::review_marked_helpful& got,
                   const review::review_marked_helpful& want) {
    EXPECT_ID(id);
    EXPECT_ID(voter);
    EXPECT_FIELD(at);
}

#undef EXPECT_FIELD
#undef EXPECT_ID

// The decoded event must be the expected alternative, with every field equal; the
// defaulted operator== backs the named checks up should an event gain a field that
// expect_fields does not name yet.
template <class Event>
void expect_event(const Event& got, const Event& want) {
    ASSERT_EQ(got.index(), want.index()) << "decoded another event than the one encoded";
    std::visit([&](const auto& w) { expect_fields(std::get<std::decay_t<decltype(w)>>(got), w); },
               want);
    EXPECT_TRUE(got == want);
}

eventstore::decoded<order::event> decode_as(const std::vector<order::event>&,
                                            const eventstore::encoded_event& e) {
    return eventstore::order_codec::decode(e.type, e.schema_version, e.payload);
}
eventstore::decoded<payment::event> decode_as(const std::vector<payment::event>&,
                                              const eventstore::encoded_event& e) {
    return eventstore::payment_codec::decode(e.type, e.schema_version, e.payload);
}
eventstore::decoded<review::event> decode_as(const std::vector<review::event>&,
                                             const eventstore::encoded_event& e) {
    return eventstore::review_codec::decode(e.type, e.schema_version, e.payload);
}

// ---- the records ------------------------------------------------------------------

// Every case of one context's records (the index of golden_case::events), each named
// in the failure by its file. One test per context rather than per record keeps the
// suite at a few processes under ASan.
void check_records_of(std::size_t context, std::size_t event_types) {
    std::size_t checked = 0;
    for (const golden_case& want : golden_cases_v1()) {
        if (want.events.index() != context) continue;
        ++checked;
        SCOPED_TRACE("golden/v1/" + want.name + ".hex");
        const auto bytes = read_golden(golden_v1 / (want.name + ".hex"));
        ASSERT_TRUE(bytes.has_value()) << bytes.error();

        const auto commit = eventstore::decode_commit(*bytes);
        ASSERT_TRUE(commit.has_value()) << commit.error().detail;
        EXPECT_EQ(commit->aggregate_id, want.aggregate_id);
        EXPECT_EQ(commit->expected_version, want.expected_version);
        EXPECT_EQ(commit->command_id, want.command_id);
        ASSERT_EQ(commit->events.size(), want.wire_types.size());

        std::visit(
            [&](const auto& want_events) {
                ASSERT_EQ(want_events.size(), want.wire_types.size()) << "golden_cases.cpp itself";
                for (std::size_t i = 0; i < want_events.size(); ++i) {
                    SCOPED_TRACE("event " + std::to_string(i));
                    const eventstore::encoded_event& entry = commit->events[i];
                    EXPECT_EQ(entry.type, want.wire_types[i]);
                    EXPECT_EQ(entry.schema_version, 1);
                    const auto got = decode_as(want_events, entry);
                    ASSERT_TRUE(got.has_value()) << got.error().detail;
                    expect_event(*got, want_events[i]);
                }
            },
            want.events);
    }
    // At least one record per event type (which ones: cover_every_event_type_...).
    EXPECT_GE(checked, event_types);
}

TEST(golden_records_v1, order_commits_decode_to_every_expected_field) {
    check_records_of(0, std::variant_size_v<order::event>);
}
TEST(golden_records_v1, payment_commits_decode_to_every_expected_field) {
    check_records_of(1, std::variant_size_v<payment::event>);
}
TEST(golden_records_v1, review_commits_decode_to_every_expected_field) {
    check_records_of(2, std::variant_size_v<review::event>);
}

// ---- the set of records is complete ---------------------------------------------

template <class Variant, std::size_t... I>
void add_type_ids(std::set<std::uint16_t>& out, std::index_sequence<I...>) {
    (out.insert(std::variant_alternative_t<I, Variant>::type_id), ...);
}
template <class Variant>
void add_type_ids(std::set<std::uint16_t>& out) {
    add_type_ids<Variant>(out, std::make_index_sequence<std::variant_size_v<Variant>>{});
}

// A new event type without a golden record would be released unguarded.
TEST(golden_records_v1, cover_every_event_type_of_every_context) {
    std::set<std::uint16_t> all;
    add_type_ids<order::event>(all);
    add_type_ids<payment::event>(all);
    add_type_ids<review::event>(all);
    ASSERT_EQ(all.size(), 17U);  // 5 order, 6 payment, 6 review events today
    std::set<std::uint16_t> covered;
    for (const auto& c : golden_cases_v1()) {
        covered.insert(c.wire_types.begin(), c.wire_types.end());
    }
    for (std::uint16_t type : all) {
        EXPECT_TRUE(covered.contains(type)) << "no golden record of type " << type;
    }
}

// An orphan file is a record nobody checks; a missing one, a case nobody froze.
TEST(golden_records_v1, every_case_has_its_file_and_every_file_its_case) {
    std::set<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(golden_v1)) {
        EXPECT_EQ(entry.path().extension(), ".hex") << entry.path();
        files.insert(entry.path().stem().string());
    }
    std::set<std::string> cases;
    for (const auto& c : golden_cases_v1()) {
        EXPECT_TRUE(cases.insert(c.name).second) << "two cases named " << c.name;
    }
    EXPECT_EQ(files, cases);
}

// The hex form is checked by its offsets, so a lost line is not read as other bytes.
TEST(golden_records_v1, hex_reader_refuses_a_dropped_line) {
    const std::string text = "# c\n000000: 01 02  |..|\n000010: 03  |.|\n";
    EXPECT_FALSE(from_hex_file(text).has_value());
    const auto ok = from_hex_file("# c\n000000: 01 02  |..|\n000002: 03  |.|\n");
    ASSERT_TRUE(ok.has_value()) << ok.error();
    EXPECT_EQ(*ok, (std::vector<std::uint8_t>{1, 2, 3}));
    EXPECT_FALSE(from_hex_file("000000: 0g  |.|\n").has_value());
}

}  // namespace
}  // namespace shopstream::contracts
