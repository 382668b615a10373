# The IQ grids and value tables: one compact source (runtime/quant/tables/iq_grid_source.h),
# expanded at build time by a host program into a C++ header for the codecs and a GLSL include
# for the shaders. Sets VKMOE_IQ_TABLES_H, VKMOE_IQ_TABLES_GLSL and VKMOE_GENERATED_INCLUDE.
set(VKMOE_GENERATED_INCLUDE ${CMAKE_BINARY_DIR}/generated)
set(VKMOE_SHADER_GEN_INCLUDE ${CMAKE_BINARY_DIR}/shaders/include)
file(MAKE_DIRECTORY ${VKMOE_GENERATED_INCLUDE}/runtime/quant ${VKMOE_SHADER_GEN_INCLUDE})
set(VKMOE_IQ_TABLES_H ${VKMOE_GENERATED_INCLUDE}/runtime/quant/iq_tables.h)
set(VKMOE_IQ_TABLES_GLSL ${VKMOE_SHADER_GEN_INCLUDE}/iq_tables.glsl)

add_executable(iq_tables_gen ${CMAKE_SOURCE_DIR}/cmake/iq_tables_gen.cpp)
target_include_directories(iq_tables_gen PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_options(iq_tables_gen PRIVATE -Wall -Wextra)
add_custom_command(
  OUTPUT ${VKMOE_IQ_TABLES_H} ${VKMOE_IQ_TABLES_GLSL}
  COMMAND iq_tables_gen ${VKMOE_IQ_TABLES_H} ${VKMOE_IQ_TABLES_GLSL}
  DEPENDS iq_tables_gen ${CMAKE_SOURCE_DIR}/runtime/quant/tables/iq_grid_source.h
  COMMENT "iq_tables_gen: IQ grids for the codecs and the shaders"
  VERBATIM)
add_custom_target(vkmoe_iq_tables DEPENDS ${VKMOE_IQ_TABLES_H} ${VKMOE_IQ_TABLES_GLSL})
