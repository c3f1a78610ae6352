#pragma once
// Writes a JSON document straight into a std::string, value by value, for the routes
// that render many values per request (GET …/events, the aggregate and read-model
// views): no DOM, no map node or allocation per member. Writing with nlohmann's DOM was
// the largest user-space cost of GET …/events (benchmarks/README.md, "Single-aggregate
// history reads"); RapidJSON's Writer (Debian rapidjson-dev) does the escaping and the
// number formatting here, the wrapper adds a std::string sink, chaining and the shop's
// rule for text: ill-formed UTF-8 (a foreign producer's record header, say) is written
// with U+FFFD in place of each bad sequence, as nlohmann's dump(..., replace) wrote it.
//
// The document is well formed only if the calls are (objects hold key/value pairs);
// a misuse is an assertion in debug builds. One writer per document; not shared
// between threads.

#include <rapidjson/writer.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/utf8.hpp"

namespace shopstream::adapters::http {

class json_writer {
public:
    // Appends to `out`, which must outlive the writer.
    explicit json_writer(std::string& out) : sink_{out}, writer_(sink_) {}

    json_writer& begin_object() { return done(writer_.StartObject()); }
    json_writer& end_object() { return done(writer_.EndObject()); }
    json_writer& begin_array() { return done(writer_.StartArray()); }
    json_writer& end_array() { return done(writer_.EndArray()); }

    json_writer& key(std::string_view k) { return done(writer_.Key(k.data(), size_of(k))); }

    json_writer& string(std::string_view s) {
        if (utf8::is_valid(s)) return done(writer_.String(s.data(), size_of(s)));
        const std::string replaced = utf8::with_replacement(s);
        return done(writer_.String(replaced.data(), size_of(replaced)));
    }
    json_writer& integer(std::int64_t v) { return done(writer_.Int64(v)); }
    json_writer& unsigned_integer(std::uint64_t v) { return done(writer_.Uint64(v)); }
    json_writer& boolean(bool v) { return done(writer_.Bool(v)); }
    json_writer& null() { return done(writer_.Null()); }

    // A key and its value in one call.
    json_writer& member(std::string_view k, std::string_view v) { return key(k).string(v); }
    json_writer& member(std::string_view k, const char* v) { return key(k).string(v); }
    json_writer& member(std::string_view k, std::int64_t v) { return key(k).integer(v); }
    json_writer& member(std::string_view k, std::uint64_t v) { return key(k).unsigned_integer(v); }
    json_writer& member(std::string_view k, int v) { return key(k).integer(v); }
    json_writer& member(std::string_view k, unsigned v) { return key(k).unsigned_integer(v); }
    json_writer& member(std::string_view k, bool v) { return key(k).boolean(v); }

    // A value RapidJSON refused (only misuse can cause one) is an assertion.
    [[nodiscard]] bool complete() const { return writer_.IsComplete(); }

private:
    // RapidJSON's output stream concept over std::string.
    struct string_sink {
        using Ch = char;
        std::string& out;
        void Put(char c) { out.push_back(c); }
        void Flush() {}
    };

    static rapidjson::SizeType size_of(std::string_view s) { return static_cast<rapidjson::SizeType>(s.size()); }
    json_writer& done(bool ok) {
        RAPIDJSON_ASSERT(ok);
        (void)ok;
        return *this;
    }

    string_sink sink_;
    rapidjson::Writer<string_sink> writer_;
};

}  // namespace shopstream::adapters::http
