#pragma once
// The golden records of schema version 1 (tests/contracts/README.md): one commit per
// case, each with the values spelled out in golden_cases.cpp. golden_writer encodes
// them into tests/contracts/golden/v1/<name>.hex once; golden_test decodes the
// COMMITTED bytes with today's code and compares every field with these values, so a
// codec or schema change that reads released bytes differently fails there.
//
// Cases are only ever appended (a new event type adds its case). An existing case's
// values change only when an upcaster changes what its frozen bytes decode to.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "domain/order/order.hpp"
#include "domain/payment/payment.hpp"
#include "domain/review/review.hpp"

namespace shopstream::contracts {

using context_events = std::variant<std::vector<domain::order::event>,
                                    std::vector<domain::payment::event>,
                                    std::vector<domain::review::event>>;

struct golden_case {
    std::string name;         // file stem under golden/v<N>/
    std::string description;  // the file's comment line
    std::string aggregate_id;
    std::uint64_t expected_version = 0;
    std::string command_id;
    // The wire type id of each event, written out as a number rather than taken from
    // the event's type_id, so that renumbering a type in code fails the test.
    std::vector<std::uint16_t> wire_types;
    context_events events;
};

[[nodiscard]] std::vector<golden_case> golden_cases_v1();

// "<name>.hex": comment lines (#), then "<offset>: <16 hex bytes>  |<ascii>|" lines.
[[nodiscard]] std::string to_hex_file(const golden_case& c, const std::vector<std::uint8_t>& bytes);
// The bytes of a to_hex_file text, or what is malformed in it.
[[nodiscard]] result<std::vector<std::uint8_t>, std::string> from_hex_file(std::string_view text);

}  // namespace shopstream::contracts
