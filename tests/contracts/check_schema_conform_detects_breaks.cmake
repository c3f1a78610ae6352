# Proves that check_schema_conform.cmake cannot pass silently: it copies today's wire
# schemas into a scratch tree, applies one deliberately breaking change at a time, runs
# the real check script against that tree and requires it to FAIL with flatc's message
# for that change. The untouched copy must pass first, so a failure below is the
# mutation's and not a broken scratch tree's.
#
# Each mutation is an exact text replacement in today's schema; one that no longer
# matches (the schema was edited) fails here, so the proof cannot decay into a no-op.
#
# Usage: cmake -DFLATC=... -DSOURCE_DIR=<repo root> -DFROZEN_DIR=<tests/contracts/schemas>
#              -DSCRATCH_DIR=<empty dir to work in> -P check_schema_conform_detects_breaks.cmake
foreach(var FLATC SOURCE_DIR FROZEN_DIR SCRATCH_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "check_schema_conform_detects_breaks.cmake needs -D${var}=...")
  endif()
endforeach()

set(check_script "${CMAKE_CURRENT_LIST_DIR}/check_schema_conform.cmake")
set(wire_schemas
  domain/order/order_events.fbs
  domain/payment/payment_events.fbs
  domain/review/review_events.fbs
  eventstore/commit.fbs)

function(fresh_copy tree)
  file(REMOVE_RECURSE "${tree}")
  foreach(rel IN LISTS wire_schemas)
    get_filename_component(dir "${rel}" DIRECTORY)
    file(COPY "${SOURCE_DIR}/${rel}" DESTINATION "${tree}/${dir}")
  endforeach()
endfunction()

function(run_check tree out_rc out_text)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -DFLATC=${FLATC} -DSOURCE_DIR=${tree} -DFROZEN_DIR=${FROZEN_DIR}
            -P "${check_script}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${out_rc} "${rc}" PARENT_SCOPE)
  set(${out_text} "${out}${err}" PARENT_SCOPE)
endfunction()

set(tree "${SCRATCH_DIR}/tree")
fresh_copy("${tree}")
run_check("${tree}" rc text)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the unmodified copy of today's schemas already fails:\n${text}")
endif()

set(failures "")
set(count 0)
# expect_break(<what> <schema> <exact text> <replacement> <flatc's message>)
function(expect_break what rel from to expected)
  fresh_copy("${tree}")
  file(READ "${tree}/${rel}" original)
  string(REPLACE "${from}" "${to}" broken "${original}")
  if(broken STREQUAL original)
    set(failures "${failures}\n  ${what}: '${from}' no longer occurs in ${rel}; update the mutation"
        PARENT_SCOPE)
    return()
  endif()
  file(WRITE "${tree}/${rel}" "${broken}")
  run_check("${tree}" rc text)
  if(rc EQUAL 0)
    set(failures "${failures}\n  ${what}: the conform check PASSED a broken ${rel}" PARENT_SCOPE)
  elseif(NOT text MATCHES "schemas don't conform: ${expected}")
    set(failures "${failures}\n  ${what}: failed, but without flatc's '${expected}':\n${text}"
        PARENT_SCOPE)
  endif()
endfunction()

expect_break("a field's type changes" domain/order/order_events.fbs
  "table line { sku: string; quantity: int;" "table line { sku: string; quantity: long;"
  "types differ for field: quantity")
expect_break("union members are reordered" domain/payment/payment_events.fbs
  "  payment_authorized,\n  payment_declined," "  payment_declined,\n  payment_authorized,"
  "values differ for enum: payment_declined")
expect_break("a field is inserted in the middle (ids shift)" domain/review/review_events.fbs
  "  sku: string;\n  author: string;" "  sku: string;\n  locale: string;\n  author: string;"
  "offsets differ for field: author")
expect_break("explicit field ids are swapped" domain/order/order_events.fbs
  "table order_shipped { id: string; by: actor; at: long; }"
  "table order_shipped { id: string (id: 1); by: actor (id: 0); at: long (id: 2); }"
  "offsets differ for field: by")
expect_break("a middle field is removed" eventstore/commit.fbs
  "  expected_version: ulong;" ""
  "offsets differ for field: command_id")
expect_break("a field is renamed to another type" eventstore/commit.fbs
  "  command_id: string;" "  command: [ubyte];"
  "field renamed to different type: command")
expect_break("a default changes (optional scalar made plain)" domain/review/review_events.fbs
  "  rating: ubyte = null;\n  title: string;\n  body: string;\n  at: long = null;  //"
  "  rating: ubyte;\n  title: string;\n  body: string;\n  at: long = null;  //"
  "defaults differ for field: rating")
expect_break("an enum value is renumbered" domain/order/order_events.fbs
  "payment_timeout = 2" "payment_timeout = 3"
  "values differ for enum: payment_timeout")

if(failures)
  message(FATAL_ERROR "the schema conform check misses breaking changes:${failures}")
endif()
message(STATUS "the conform check refuses each deliberate break with flatc's message")
