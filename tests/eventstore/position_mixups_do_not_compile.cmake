# Checks that partitions and offsets are distinct types (base/strong_int.hpp): each
# snippet below mixes them up the way bare integers allowed, and must be refused by the
# compiler AT ITS MARKED LINE (an error anywhere else would prove nothing). One snippet
# uses them correctly and must compile, so a broken include path cannot pass for a refusal.
# Usage: cmake -DCXX=... -DSOURCE_DIR=... -DSCRATCH_DIR=... -P position_mixups_do_not_compile.cmake

set(prelude [=[
#include "eventstore/log_ports.hpp"
#include "eventstore/state_store.hpp"
using namespace shopstream::eventstore;
void use(commit_tail& tail, write_batch& batch, position p) {
    (void)tail; (void)batch; (void)p;
    const partition_id partition(3);
    const log_offset offset(1234);
    (void)partition; (void)offset;
]=])
# The prelude is 8 lines: a snippet's own line is line 9.
set(snippet_line 9)

# name|one statement (no semicolon: the check adds it, and CMake lists split on it).
set(snippets
  "swapped_position_fields|[[maybe_unused]] const position q{offset, partition}"
  "offset_as_partition_argument|(void)tail.applied_through(context::orders, offset)"
  "swapped_checkpoint_arguments|(void)batch.set_checkpoint(context::orders, offset, partition)"
  "offset_assigned_to_partition|p.partition = p.offset"
  "partition_compared_with_offset|(void)(p.partition == p.offset)"
  "bare_int_as_partition|(void)tail.applied_through(context::orders, 3)"
  "partition_read_as_bare_int|[[maybe_unused]] const std::int32_t raw = p.partition"
  "offset_read_as_bare_int|[[maybe_unused]] const std::int64_t raw = tail.applied_through(context::orders, partition)"
  "arithmetic_on_a_partition|(void)(p.partition + 1)")
# The same calls with the right types, statements separated by '|'.
set(control "(void)tail.applied_through(context::orders, p.partition)|(void)batch.set_checkpoint(context::orders, partition, offset + 1)|[[maybe_unused]] const std::int64_t raw = offset.value()")
string(REPLACE "|" ";\n    " control "${control}")

file(REMOVE_RECURSE "${SCRATCH_DIR}")
file(MAKE_DIRECTORY "${SCRATCH_DIR}")

function(compile name body out_rc out_text)
  set(file "${SCRATCH_DIR}/${name}.cpp")
  file(WRITE "${file}" "${prelude}    ${body};\n}\n")
  execute_process(COMMAND "${CXX}" -std=c++23 -fsyntax-only -I "${SOURCE_DIR}" "${file}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE text)
  set(${out_rc} "${rc}" PARENT_SCOPE)
  set(${out_text} "${text}" PARENT_SCOPE)
endfunction()

compile(control "${control}" rc text)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the control snippet (partitions and offsets used correctly) does not compile, "
                      "so the refusals below would prove nothing:\n${text}")
endif()

set(compiled "")
foreach(entry IN LISTS snippets)
  string(FIND "${entry}" "|" bar)
  string(SUBSTRING "${entry}" 0 ${bar} name)
  math(EXPR start "${bar} + 1")
  string(SUBSTRING "${entry}" ${start} -1 body)
  compile(${name} "${body}" rc text)
  if(rc EQUAL 0)
    string(APPEND compiled "\n  ${name}: ${body}")
  elseif(NOT text MATCHES "${name}\\.cpp:${snippet_line}:[0-9]+: error")
    message(FATAL_ERROR "${name} was refused, but not at its own line ${snippet_line}:\n${text}")
  endif()
endforeach()
if(compiled)
  message(FATAL_ERROR "these mix-ups of partition and offset compile; they must not:${compiled}")
endif()
list(LENGTH snippets count)
message(STATUS "all ${count} partition/offset mix-ups are refused by the compiler")
