#!/usr/bin/env bash
# Builds a libFuzzer target with clang (ASan + UBSan) in its own build folder and runs it for a
# bounded time with one worker. Exits non-zero when the fuzzer finds a crash; the input that
# caused it is kept in <build>/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [seconds=60] [target=gguf] [extra libFuzzer flags...]
#   targets: gguf (the GGUF reader), tokenizer (encode/decode on the shared vocabularies),
#            chat_template (format detection and rendering)
#   VKMOE_FUZZ_BUILD=<dir>   build folder (default: build-fuzz beside the sources)
#   VKMOE_FUZZ_VOCABS=<dir>  vocabularies for the tokenizer target (default: ../shared/tokenizer)
#   CXX=<clang++>            compiler (default: clang++)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
[[ $# -gt 0 ]] && shift
target=gguf
if [[ $# -gt 0 && $1 != -* ]]; then
  target=$1
  shift
fi
build=${VKMOE_FUZZ_BUILD:-$root/build-fuzz}

case $target in
  gguf) seeds=("$root/fuzz/corpus"); flags=(-max_len=16384 "-dict=$root/fuzz/gguf.dict") ;;
  tokenizer)
    vocabs=${VKMOE_FUZZ_VOCABS:-$root/../shared/tokenizer}
    if ! ls "$vocabs"/*.gguf >/dev/null 2>&1; then
      echo "fuzz.sh: no vocabularies in $vocabs: tokenizer fuzzing skipped"
      exit 0
    fi
    export VKMOE_FUZZ_VOCABS=$vocabs
    seeds=("$root/fuzz/corpus_tokenizer"); flags=(-max_len=2048) ;;
  chat_template) seeds=("$root/fuzz/corpus_chat"); flags=(-max_len=8192) ;;
  *) echo "fuzz.sh: unknown target '$target' (gguf, tokenizer, chat_template)" >&2; exit 2 ;;
esac

# The fuzz folder configures on its own, so fuzzing needs neither Vulkan nor shader tools.
cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target "${target}_fuzz"

# New inputs go to the build folder's corpus; the committed seeds are only read.
corpus=$build/corpus/$target
artifacts=$build/artifacts/$target
mkdir -p "$corpus" "$artifacts"
"$build/bin/${target}_fuzz" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${flags[@]}" \
  -artifact_prefix="$artifacts/" -print_final_stats=1 \
  "$@" "$corpus" "${seeds[@]}"
