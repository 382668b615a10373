#!/usr/bin/env bash
# Builds the GGUF libFuzzer target with clang (ASan + UBSan) in its own build folder and runs it
# for a bounded time with one worker. Exits non-zero when the fuzzer finds a crash; the input
# that caused it is kept in <build>/artifacts/.
#
# Usage: scripts/fuzz.sh [seconds=60] [extra libFuzzer flags...]
#   VKMOE_FUZZ_BUILD=<dir>  build folder (default: build-fuzz beside the sources)
#   CXX=<clang++>           compiler (default: clang++)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
[[ $# -gt 0 ]] && shift
build=${VKMOE_FUZZ_BUILD:-$root/build-fuzz}

# The fuzz folder configures on its own, so fuzzing needs neither Vulkan nor shader tools.
cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target gguf_fuzz

# New inputs go to the build folder's corpus; the committed seeds are only read.
mkdir -p "$build/corpus" "$build/artifacts"
"$build/bin/gguf_fuzz" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -dict="$root/fuzz/gguf.dict" -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
  "$@" "$build/corpus" "$root/fuzz/corpus"
