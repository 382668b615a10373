# Turns one SPIR-V binary into a C++ include: an array of uint32 words.
# Usage: cmake -DSPV=in.spv -DOUT=out.inc -DSYMBOL=name -P embed_spirv.cmake
file(READ "${SPV}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR rem "${n} % 8")
if(NOT rem EQUAL 0 OR n EQUAL 0)
  message(FATAL_ERROR "${SPV}: size is not a multiple of 4 bytes")
endif()
# SPIR-V words are little-endian on disk; swap each word's bytes into 0xAABBCCDD form.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
file(WRITE "${OUT}.tmp" "static const uint32_t ${SYMBOL}[] = {\n${words}\n};\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
