#!/usr/bin/env bash
# The main job: install, build, list the Vulkan devices and run the compute self-check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build/bin/vkmoe devices
build/bin/vkmoe selfcheck "$@"
