#!/usr/bin/env bash
# A bounded load test of `vkmoe serve` (not a CTest test): CLIENTS concurrent streaming clients
# x REQUESTS requests each, then one client alone, on the demo model (or the -m given in
# SERVE_ARGS). Reports errors and aggregate generated tokens/s. Every request has a time limit.
# Usage: scripts/serve_load.sh [build/bin/vkmoe] (env: CLIENTS=8 REQUESTS=10 MAX_TOKENS=32 SERVE_ARGS=)
set -uo pipefail
exe=${1:-build/bin/vkmoe}
clients=${CLIENTS:-8} requests=${REQUESTS:-10} max_tokens=${MAX_TOKENS:-32}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
# Every client's requests may wait behind all the others: the queue holds them all.
"$exe" serve --port 0 --max-queue $((clients * 2)) ${SERVE_ARGS:-} >"$work/serve.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 1200); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.log")
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start"; exit 1; }

# One client: its requests one after another; prints "tokens errors".
client() {
  local id=$1 n=$2 tokens=0 errors=0 out
  for r in $(seq 1 "$n"); do
    out=$(curl -sN --max-time 300 "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
      -d "{\"messages\":[{\"role\":\"user\",\"content\":\"client $id request $r\"}],\"max_tokens\":$max_tokens,\"seed\":$r,\"stream\":true}")
    if [ $? -ne 0 ] || ! grep -q '^data: \[DONE\]' <<<"$out"; then errors=$((errors + 1)); continue; fi
    tokens=$((tokens + $(grep -o '"completion_tokens":[0-9]*' <<<"$out" | tail -1 | cut -d: -f2)))
  done
  echo "$tokens $errors"
}

# Runs `clients` clients at once; prints "clients tokens errors seconds tokens/s".
run() {
  local n=$1 t0 t1 tokens=0 errors=0
  t0=$(date +%s.%N)
  for c in $(seq 1 "$n"); do client "$c" "$requests" >"$work/client$c" & done
  wait $(jobs -p | grep -vx "$pid")
  t1=$(date +%s.%N)
  for c in $(seq 1 "$n"); do
    read -r t e <"$work/client$c"
    tokens=$((tokens + t)) errors=$((errors + e))
  done
  awk -v n="$n" -v tok="$tokens" -v err="$errors" -v t0="$t0" -v t1="$t1" \
    'BEGIN { s = t1 - t0; printf "%d clients x %d requests: %d errors, %d tokens in %.1f s = %.1f tokens/s\n", n, '"$requests"', err, tok, s, tok / s }'
}

client 0 1 >/dev/null  # warm-up: pipelines compiled before timing
run 1
run "$clients"
grep -c ' 200 ' "$work/serve.log" | xargs echo "requests answered 200:"
# The model's own decode rate over all requests (time in forward passes only).
curl -s --max-time 10 "http://127.0.0.1:$port/metrics" | grep -E '^vkmoe_(predicted|prompt)_tokens_seconds' 
