# variants_table_test: expands shaders/variants.txt and compares the result with the expected table
# (tests/data/variants_expected.txt), kernel by kernel with the order of preference: a change to the
# axes that adds, drops or reorders a compiled kernel fails here, naming the rows.
# Usage: cmake -DVARIANTS=shaders/variants.txt -DEXPECTED=tests/data/variants_expected.txt
#              [-DUPDATE=ON] -P cmake/variants_check.cmake
# UPDATE=ON rewrites the expected table: do that only for a deliberate change, and review its diff.
cmake_minimum_required(VERSION 3.20)
include(${CMAKE_CURRENT_LIST_DIR}/variants.cmake)

vkmoe_expand_variants(${VARIANTS} rows)
vkmoe_normalize_variants("${rows}" actual)

set(header "# The expanded shader variant table: kernel, preference rank, variant, source, requires, defines.\n"
           "# Checked by variants_table_test against shaders/variants.txt, first written from the\n"
           "# hand-written table of main 7c269a4. Regenerate after a deliberate change with\n"
           "# cmake -DVARIANTS=shaders/variants.txt -DEXPECTED=tests/data/variants_expected.txt -DUPDATE=ON -P cmake/variants_check.cmake\n")
if(UPDATE)
  list(JOIN actual "\n" text)
  file(WRITE ${EXPECTED} ${header} "${text}\n")
  list(LENGTH actual n)
  message(STATUS "wrote ${n} rows to ${EXPECTED}")
  return()
endif()

file(STRINGS ${EXPECTED} expected REGEX "^[^#]")
set(missing ${expected})
list(REMOVE_ITEM missing ${actual})
set(extra ${actual})
list(REMOVE_ITEM extra ${expected})
list(LENGTH missing n_missing)
list(LENGTH extra n_extra)
list(LENGTH expected n_expected)
list(LENGTH actual n_actual)
# The first 20 of each: a reordered axis would print hundreds.
foreach(kind missing extra)
  list(LENGTH ${kind} n)
  if(n GREATER 20)
    list(SUBLIST ${kind} 0 20 ${kind})
    message(STATUS "${n} rows ${kind}, the first 20:")
  endif()
  foreach(row IN LISTS ${kind})
    message(STATUS "${kind}: ${row}")
  endforeach()
endforeach()
if(n_missing OR n_extra OR NOT n_expected EQUAL n_actual)
  message(FATAL_ERROR "${VARIANTS} does not expand to the table of ${EXPECTED}: ${n_actual} variants "
                      "against ${n_expected}, ${n_missing} rows missing, ${n_extra} extra")
endif()
message(STATUS "${n_actual} shader variants, as expected")
