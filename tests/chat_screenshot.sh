#!/usr/bin/env bash
# vkmoe-chat's headless mode as CTest runs it: the screenshot command under Xvfb, then a check
# that the PNG exists and shows something (see png_check.cpp).
set -euo pipefail
exe=$1 check=$2 png=$3
rm -f "$png"
xvfb-run -a -s "-screen 0 1280x800x24" "$exe" --screenshot "$png" --frames 120 --prompt "Hello"
test -s "$png" || { echo "no screenshot at $png"; exit 1; }
"$check" "$png"
