#pragma once
// PostgreSQL array literals ('{"a","b\"c",NULL}'), built to be passed as ONE statement
// parameter: `INSERT ... SELECT * FROM unnest($1::text[], $2::bigint[])` writes a whole
// batch of rows in one round trip and stays a parameterised statement (no value is ever
// spliced into SQL text). Written by hand because the packaged libpqxx (6.4) converts no
// container to an array parameter (7.x does); it only parses arrays.
//
// Every element is double-quoted with '"' and '\' escaped, which the array input routine
// of every element type accepts (text, bigint, boolean, jsonb), so one rule serves all.
//
// Thread-compatible value.

#include <cstdint>
#include <string>
#include <string_view>

namespace shopstream::postgres {

class array_literal {
public:
    array_literal() { text_ = "{"; }

    array_literal& add_text(std::string_view element) {
        separate();
        text_ += '"';
        for (const char c : element) {
            if (c == '"' || c == '\\') text_ += '\\';
            text_ += c;
        }
        text_ += '"';
        return *this;
    }
    array_literal& add_int(std::int64_t element) {
        separate();
        text_ += std::to_string(element);
        return *this;
    }
    array_literal& add_bool(bool element) {
        separate();
        text_ += element ? "t" : "f";
        return *this;
    }
    array_literal& add_null() {
        separate();
        text_ += "NULL";
        return *this;
    }

    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    // The literal; the builder may go on growing afterwards.
    [[nodiscard]] std::string str() const { return text_ + "}"; }

private:
    void separate() {
        if (count_++ > 0) text_ += ',';
    }

    std::string text_;
    std::size_t count_ = 0;
};

}  // namespace shopstream::postgres
