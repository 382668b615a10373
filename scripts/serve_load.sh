#!/usr/bin/env bash
# A bounded load test of `vkmoe serve` (not a CTest test): one streaming client x REQUESTS
# requests, then CLIENTS concurrent streaming clients x REQUESTS requests each, on the demo model
# (or the -m given in SERVE_ARGS), served by SLOTS slots (-np, default CLIENTS) whose decode steps
# run as one batch. Reports errors, aggregate generated tokens/s of each run and the gain of the
# concurrent run over the single client, then the server's batching counters. Every request has
# a time limit.
# Usage: scripts/serve_load.sh [build/bin/vkmoe] (env: CLIENTS=8 REQUESTS=10 MAX_TOKENS=32 SLOTS=CLIENTS SERVE_ARGS=)
set -uo pipefail
exe=${1:-build/bin/vkmoe}
clients=${CLIENTS:-8} requests=${REQUESTS:-10} max_tokens=${MAX_TOKENS:-32}
slots=${SLOTS:-$clients}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
# Every client's requests may wait behind all the others: the queue holds them all.
"$exe" serve --port 0 -np "$slots" --max-queue $((clients * 2)) ${SERVE_ARGS:-} >"$work/serve.log" 2>&1 &
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

# Runs `clients` clients at once; prints a line of errors, tokens, seconds and tokens/s, and
# leaves the tokens/s in $work/rate$n.
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
  awk -v n="$n" -v tok="$tokens" -v err="$errors" -v t0="$t0" -v t1="$t1" -v out="$work/rate$n" \
    'BEGIN { s = t1 - t0; printf "%d clients x %d requests: %d errors, %d tokens in %.1f s = %.1f tokens/s\n", n, '"$requests"', err, tok, s, tok / s;
             printf "%.3f\n", tok / s > out }'
}

client 0 1 >/dev/null  # warm-up: pipelines compiled before timing
echo "server: -np $slots, $(sed -n 's/.*MoE batched path from \([0-9]*\) tokens.*/MoE batched path from \1 tokens/p' "$work/serve.log")"
run 1
run "$clients"
awk -v a="$(cat "$work/rate$clients")" -v b="$(cat "$work/rate1")" \
  'BEGIN { printf "aggregate gain of %d clients over one: %.2fx\n", '"$clients"', (b > 0 ? a / b : 0) }'
grep -c ' 200 ' "$work/serve.log" | xargs echo "requests answered 200:"
# The model's own rates over all requests (time in passes only) and how full the decode steps were.
curl -s --max-time 10 "http://127.0.0.1:$port/metrics" |
  grep -E '^vkmoe_((predicted|prompt)_tokens_seconds|decode_(steps|batched_steps|step_tokens)_total|decode_step_tokens_max|requests_processing_max|prompt_tokens_cached_total) ' 
