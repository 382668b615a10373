#!/usr/bin/env bash
# Install, build and run the whole test suite (GPU tests run under the validation layer).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 "$@"
