#!/usr/bin/env bash
# The main job: install, build, check compute on the Vulkan device, and generate text with the
# built-in demo model (written to the cache directory on first use; no download).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build/bin/vkmoe selfcheck
build/bin/vkmoe run -n 64 -p "A mixture of experts" "$@"
