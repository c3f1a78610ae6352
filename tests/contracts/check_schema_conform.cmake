# The schema contract (ARCHITECTURE.md decision 4): every wire schema of this tree must
# be an evolution of each frozen copy under tests/contracts/schemas/v<N>/, as flatc
# itself judges it (`flatc --conform`). A failure prints flatc's own message.
#
# Usage: cmake -DFLATC=... -DSOURCE_DIR=<tree holding today's schemas>
#              -DFROZEN_DIR=<tests/contracts/schemas> -P check_schema_conform.cmake
# SOURCE_DIR is a parameter (not derived from this file's path) so that
# check_schema_conform_detects_breaks.cmake can point this very script at a broken copy.
foreach(var FLATC SOURCE_DIR FROZEN_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "check_schema_conform.cmake needs -D${var}=...")
  endif()
endforeach()

file(GLOB versions LIST_DIRECTORIES true "${FROZEN_DIR}/v*")
set(checked 0)
set(failures "")
foreach(version_dir IN LISTS versions)
  if(NOT IS_DIRECTORY "${version_dir}")
    continue()
  endif()
  get_filename_component(version "${version_dir}" NAME)
  file(GLOB_RECURSE frozen_schemas RELATIVE "${version_dir}" "${version_dir}/*.fbs")
  foreach(rel IN LISTS frozen_schemas)
    set(today "${SOURCE_DIR}/${rel}")
    if(NOT EXISTS "${today}")
      # A released schema cannot disappear: records written with it are in the log.
      string(APPEND failures "\n  ${version}/${rel}: ${today} no longer exists")
      continue()
    endif()
    # -I resolves today's includes from the tree's root (as the build's flatc does);
    # --conform-includes resolves the frozen copy's includes inside its own version, so
    # a frozen schema is never checked against a today's file it happens to include.
    # No generator option is given, so flatc writes nothing.
    execute_process(
      COMMAND "${FLATC}" --conform "${version_dir}/${rel}" --conform-includes "${version_dir}"
              -I "${SOURCE_DIR}" "${today}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    math(EXPR checked "${checked} + 1")
    if(NOT rc EQUAL 0)
      string(STRIP "${out}${err}" message)
      string(APPEND failures "\n  ${rel} does not conform to ${version}/${rel}:\n    ${message}")
    endif()
  endforeach()
endforeach()

# A glob that matched nothing must not pass: v1 alone freezes four schemas.
if(checked LESS 4)
  message(FATAL_ERROR "expected at least 4 frozen schemas under ${FROZEN_DIR}/v*/, checked ${checked}")
endif()
if(failures)
  message(FATAL_ERROR "breaking schema change (decision 4: additive only, "
                      "breaking ones need a new schema version and an upcaster):${failures}")
endif()
message(STATUS "${checked} frozen schemas: today's schemas conform to every one")
