# shopstream_library(<name> [SOURCES ...]) declares one layer's library with the
# project's warnings-as-errors, the repository root as include path ("the include
# path is the folder path") and the alias shopstream::<name>.
function(shopstream_library name)
  cmake_parse_arguments(arg "" "" "SOURCES" ${ARGN})
  add_library(shopstream_${name} STATIC ${arg_SOURCES})
  add_library(shopstream::${name} ALIAS shopstream_${name})
  target_include_directories(shopstream_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  shopstream_warnings(shopstream_${name})
endfunction()

function(shopstream_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror
                         -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
                         -Wimplicit-fallthrough)
endfunction()

# shopstream_flatbuffers(<target> <schema.fbs>...) compiles FlatBuffers schemas with
# flatc at build time (generated code is never committed) and makes the generated
# headers available to <target> as "<folder of the schema>/<name>_generated.h".
function(shopstream_flatbuffers target)
  set(generated_root ${PROJECT_BINARY_DIR}/generated)
  set(outputs)
  foreach(schema IN LISTS ARGN)
    get_filename_component(abs ${schema} ABSOLUTE)
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${abs})
    get_filename_component(rel_dir ${rel} DIRECTORY)
    get_filename_component(stem ${schema} NAME_WE)
    set(out ${generated_root}/${rel_dir}/${stem}_generated.h)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${FLATC} --cpp --scoped-enums --warnings-as-errors
              -I ${PROJECT_SOURCE_DIR} -o ${generated_root}/${rel_dir} ${abs}
      DEPENDS ${abs} ${FLATC}
      COMMENT "flatc ${rel}"
      VERBATIM)
    list(APPEND outputs ${out})
  endforeach()
  add_custom_target(${target}_fbs DEPENDS ${outputs})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_fbs)
  target_include_directories(${target} SYSTEM INTERFACE ${generated_root})
  target_link_libraries(${target} INTERFACE PkgConfig::flatbuffers)
endfunction()
