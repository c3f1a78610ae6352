#pragma once
// The Prometheus text format (0.0.4) line by line, for tests of GET /metrics: every line
// is a HELP, a TYPE, or a sample of the family the TYPE before it named, with label
// values escaped. Stricter than the parsers that read it, so a serializer that writes a
// help text with a newline, an unescaped label value or NaN as "Nan" is caught.
// Header-only, so unit tests can use it without the fixtures library. Pure.

#include <optional>
#include <regex>
#include <sstream>
#include <string>

namespace shopstream::testing {

struct exposition_summary {
    std::size_t samples = 0;
};

// The first line that breaks the format, with why; or how many samples the text holds.
[[nodiscard]] inline std::optional<std::string> exposition_format_error(const std::string& text,
                                                                        exposition_summary* summary = nullptr) {
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
    static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
    static const std::regex sample_line(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([-+0-9.eE]+|[+-]Inf|NaN))");
    if (text.empty()) return "the exposition is empty";
    if (text.back() != '\n') return "the exposition does not end with a newline";
    std::istringstream lines(text);
    std::string line, family, family_type;
    std::size_t samples = 0;
    while (std::getline(lines, line)) {
        std::smatch m;
        if (std::regex_match(line, m, help)) continue;
        if (std::regex_match(line, m, type)) {
            family = m[1];
            family_type = m[2];
            continue;
        }
        if (!std::regex_match(line, m, sample_line)) return "not a sample line: " + line;
        const std::string name = m[1];
        const bool of_family = name == family || (family_type == "histogram" && (name == family + "_bucket" ||
                                                                                name == family + "_sum" ||
                                                                                name == family + "_count"));
        if (!of_family) return line + " follows # TYPE " + family;
        ++samples;
    }
    if (summary != nullptr) summary->samples = samples;
    return std::nullopt;
}

}  // namespace shopstream::testing
