// What `flatc --conform` lets through (check_schema_conform.cmake): it compares only
// the tables, fields and enum values that today's schema still has, and judges binary
// compatibility alone. So it accepts removing a table's LAST field, renaming a field
// without changing its type, removing a table, a trailing enum value or union member,
// and a new file_identifier or root_type — each of which breaks this project's decoders or
// its schemas' own rule ("nothing is ever renamed, reordered or removed"; a field goes
// out by `(deprecated)`, which keeps its name and slot). This test closes that gap with
// flatc's own parser (flatbuffers/idl.h): every name of a frozen schema must still be
// there, and the identifier and root type must be the same. Slots, types and defaults
// stay flatc's job.
#include <gtest/gtest.h>

#include <flatbuffers/idl.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const fs::path frozen_root = SHOPSTREAM_FROZEN_SCHEMAS_DIR;
const fs::path source_root = SHOPSTREAM_SOURCE_DIR;

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Parses `text` as the schema at `path`, its includes resolved from `include_root`.
// The parser stays alive: the definitions it hands out point into it.
struct parsed_schema {
    flatbuffers::Parser parser;
    std::string error;  // empty when it parsed
};

void parse(parsed_schema& out, const std::string& text, const fs::path& path,
           const fs::path& include_root) {
    const std::string root = include_root.string();
    const char* include_paths[] = {root.c_str(), nullptr};
    if (!out.parser.Parse(text.c_str(), include_paths, path.string().c_str())) {
        out.error = out.parser.error_;
    }
}

// Every way `today` lost something of `frozen` that flatc --conform does not report.
std::vector<std::string> lost_names(const flatbuffers::Parser& frozen,
                                    const flatbuffers::Parser& today) {
    std::vector<std::string> lost;
    if (frozen.file_identifier_ != today.file_identifier_) {
        lost.push_back("file_identifier \"" + frozen.file_identifier_ + "\" became \"" +
                       today.file_identifier_ + "\"");
    }
    const auto root_name = [](const flatbuffers::Parser& p) {
        return p.root_struct_def_ == nullptr ? std::string("(none)") : p.root_struct_def_->name;
    };
    if (root_name(frozen) != root_name(today)) {
        lost.push_back("root_type " + root_name(frozen) + " became " + root_name(today));
    }
    for (const auto& [name, table] : frozen.structs_.dict) {
        const auto* now = today.structs_.Lookup(name);
        if (now == nullptr) {
            lost.push_back("table " + name + " is gone");
            continue;
        }
        for (const auto* field : table->fields.vec) {
            if (now->fields.Lookup(field->name) == nullptr) {
                lost.push_back("field " + name + "." + field->name +
                               " is gone (renamed or removed; deprecate it instead)");
            }
        }
    }
    for (const auto& [name, e] : frozen.enums_.dict) {
        const auto* now = today.enums_.Lookup(name);
        if (now == nullptr) {
            lost.push_back(std::string(e->is_union ? "union " : "enum ") + name + " is gone");
            continue;
        }
        for (const auto* value : e->Vals()) {
            if (now->Lookup(value->name) == nullptr) {
                lost.push_back((e->is_union ? "union member " : "enum value ") + name + "." +
                               value->name + " is gone");
            }
        }
    }
    return lost;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += "\n  " + l;
    return out;
}

struct frozen_schema {
    fs::path version_dir;
    fs::path rel;  // the schema's path in the tree, e.g. domain/order/order_events.fbs
};

std::vector<frozen_schema> frozen_schemas() {
    std::vector<frozen_schema> out;
    for (const auto& version : fs::directory_iterator(frozen_root)) {
        if (!version.is_directory()) continue;
        for (const auto& f : fs::recursive_directory_iterator(version.path())) {
            if (f.path().extension() == ".fbs") {
                out.push_back({version.path(), fs::relative(f.path(), version.path())});
            }
        }
    }
    return out;
}

std::vector<std::string> lost_against_frozen(const frozen_schema& s, const std::string& today_text) {
    parsed_schema frozen;
    parse(frozen, read_text(s.version_dir / s.rel), s.version_dir / s.rel, s.version_dir);
    parsed_schema today;
    parse(today, today_text, source_root / s.rel, source_root);
    if (!frozen.error.empty()) return {"frozen copy does not parse: " + frozen.error};
    if (!today.error.empty()) return {"today's schema does not parse: " + today.error};
    return lost_names(frozen.parser, today.parser);
}

TEST(schema_names, every_name_of_every_frozen_schema_is_still_there) {
    const auto schemas = frozen_schemas();
    ASSERT_GE(schemas.size(), 4U) << "frozen schemas under " << frozen_root;
    for (const auto& s : schemas) {
        SCOPED_TRACE(fs::relative(s.version_dir / s.rel, frozen_root).string());
        ASSERT_TRUE(fs::exists(source_root / s.rel));
        const auto lost = lost_against_frozen(s, read_text(source_root / s.rel));
        EXPECT_TRUE(lost.empty()) << joined(lost);
    }
}

// The check itself must not pass silently: each break below is one flatc --conform
// accepts (verified when this test was written) and must be reported here.
struct break_case {
    const char* what;
    const char* rel;
    const char* from;
    const char* to;
    const char* expected;  // a substring of the report
};

TEST(schema_names, reports_each_break_flatc_conform_accepts) {
    const break_case breaks[] = {
        {"last field removed", "domain/order/order_events.fbs",
         "table order_shipped { id: string; by: actor; at: long; }",
         "table order_shipped { id: string; by: actor; }", "field shopstream.fb.order.order_shipped.at"},
        {"field renamed, same type", "domain/review/review_events.fbs",
         "  voter: string;", "  helper: string;", "field shopstream.fb.review.review_marked_helpful.voter"},
        {"trailing union member removed", "domain/payment/payment_events.fbs",
         "  payment_voided,\n  payment_refunded\n}", "  payment_voided\n}",
         "union member shopstream.fb.payment.event.payment_refunded"},
        {"file identifier changed", "eventstore/commit.fbs", "file_identifier \"SSCM\";",
         "file_identifier \"SSC2\";", "file_identifier \"SSCM\" became \"SSC2\""},
        {"root type changed", "eventstore/commit.fbs", "root_type commit;", "root_type event_entry;",
         "root_type commit became event_entry"},
        {"trailing enum value removed", "domain/order/order_events.fbs", ", payment_timeout = 2 }",
         " }", "enum value shopstream.fb.order.cancel_reason.payment_timeout is gone"},
    };
    const auto schemas = frozen_schemas();
    for (const auto& b : breaks) {
        SCOPED_TRACE(b.what);
        const frozen_schema* frozen = nullptr;
        for (const auto& s : schemas) {
            if (s.rel == b.rel) frozen = &s;
        }
        ASSERT_NE(frozen, nullptr) << "no frozen copy of " << b.rel;
        std::string text = read_text(source_root / b.rel);
        const auto at = text.find(b.from);
        ASSERT_NE(at, std::string::npos) << "the mutation no longer applies to " << b.rel;
        text.replace(at, std::string(b.from).size(), b.to);
        const auto lost = lost_against_frozen(*frozen, text);
        EXPECT_NE(joined(lost).find(b.expected), std::string::npos)
            << "expected '" << b.expected << "' in:" << joined(lost);
    }
}

}  // namespace
