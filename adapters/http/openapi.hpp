#pragma once
// The OpenAPI 3.1 document of the HTTP API (adapters/http/openapi.json), embedded in the
// binary at build time (cmake/embed_file.cmake; the generated source is never committed)
// and served at GET /v1/openapi.json. Its paths must be exactly the server's route table
// (route_table() in server.hpp; tests/adapters/openapi_test.cpp checks it), and its
// info.version the project version (the build checks it).

#include <string_view>

namespace shopstream::adapters::http {

// The document's bytes, exactly as in the repository (UTF-8 JSON). Static storage.
[[nodiscard]] std::string_view openapi_document() noexcept;

}  // namespace shopstream::adapters::http
