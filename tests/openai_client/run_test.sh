#!/usr/bin/env bash
# CTest's openai_client_test: installs the pinned `openai` package (npm ci, into WORK) and runs
# client.mjs against `vkmoe serve` on a free loopback port. Exits 77 (skipped) without node/npm
# or when the registry cannot be reached: the package is never needed for building.
# Usage: run_test.sh VKMOE_EXE WORK_DIR
set -uo pipefail
exe=$1 work=$2 here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed for the openai client test"; exit 77
fi
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/client.mjs" "$work/"
if ! cmp -s "$here/package-lock.json" "$work/node_modules/.installed-lock" 2>/dev/null; then
  if ! (cd "$work" && timeout 180 npm ci --ignore-scripts --no-audit --no-fund >npm.log 2>&1); then
    echo "SKIP: npm ci failed (registry unreachable?):"; tail -5 "$work/npm.log"; exit 77
  fi
  cp "$here/package-lock.json" "$work/node_modules/.installed-lock"
fi
log="$work/serve.log"
"$exe" serve --port 0 --api-key client-key -c 512 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
port=""
for _ in $(seq 1 600); do  # up to 60 s for loading and the first pipeline compiles
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log")
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { echo "the server exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start:"; cat "$log"; exit 1; }
(cd "$work" && timeout 300 node client.mjs "http://127.0.0.1:$port/v1" client-key)
rc=$?
[ $rc -eq 0 ] || cat "$log"
exit $rc
