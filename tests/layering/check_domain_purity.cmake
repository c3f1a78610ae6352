# Checks ARCHITECTURE.md decision 1 on the built tree: the domain is pure.
#  1. No source under domain/ includes an I/O, clock, randomness, logging, JSON,
#     serialization or Kafka header.
#  2. A binary that links only shopstream::domain (domain_tests) pulls in none of the
#     I/O libraries.
# Usage: cmake -DSOURCE_DIR=... -DDOMAIN_BINARY=... -P check_domain_purity.cmake

file(GLOB_RECURSE sources "${SOURCE_DIR}/domain/*.hpp" "${SOURCE_DIR}/domain/*.cpp")
set(forbidden_headers
  "librdkafka" "pqxx" "libpq" "lmdb" "spdlog" "fmt/" "nlohmann" "flatbuffers" "asio"
  "restinio" "boost" "jwt" "thread" "chrono" "random" "fstream" "iostream" "ctime"
  "filesystem" "mutex" "future" "cstdio")
set(violations "")
foreach(source IN LISTS sources)
  file(STRINGS "${source}" includes REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS includes)
    foreach(header IN LISTS forbidden_headers)
      if(line MATCHES "[<\"]${header}")
        string(APPEND violations "\n  ${source}: ${line}")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "domain/ must stay pure; these includes break it:${violations}")
endif()
list(LENGTH sources count)
if(count LESS 6)
  message(FATAL_ERROR "expected the domain sources under ${SOURCE_DIR}/domain, found ${count}")
endif()

execute_process(COMMAND ldd "${DOMAIN_BINARY}" OUTPUT_VARIABLE libraries RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ldd ${DOMAIN_BINARY} failed")
endif()
foreach(library IN ITEMS rdkafka pqxx libpq lmdb spdlog fmt flatbuffers jwt)
  if(libraries MATCHES "${library}")
    message(FATAL_ERROR "a binary linking only the domain pulls in ${library}:\n${libraries}")
  endif()
endforeach()
message(STATUS "domain purity holds for ${count} sources")
