#!/usr/bin/env bash
# Compares two server binaries on this machine: a fresh server of each in turn, `rounds`
# times, under the same load, printing events/s and the server's CPU time per event.
# Alternating cancels most of a noisy machine's drift; compare the means.
# Usage: scripts/ab-http.sh OLD_BINARY NEW_BINARY [batch|events] [rounds]
# (USERS=200000 for a larger population than the default 100,000; OWN_GENERATOR=1 to load
# each server with its own binary's generator, when the change is in the traffic;
# CONNECTIONS=256 for more requests in flight than the default 32)
set -euo pipefail
old=$1 new=$2 mode=${3:-batch} rounds=${4:-3}
addr=127.0.0.1:18790
per_request=1
[ "$mode" = batch ] && per_request=100
source "$(dirname "$0")/http-common.sh"
for round in $(seq "$rounds"); do
  for bin in "$old" "$new"; do
    data=$(mktemp -d /tmp/sgab.XXXXXX)
    start_server "$bin" "$addr" "$data"
    before=$(cpu_ticks $server)
    # The same generator (the old binary's) and the same seeded traffic for both, unless told.
    generator=$old
    [ "${OWN_GENERATOR:-0}" = 1 ] && generator=$bin
    "$generator" load --mode "$mode" --users "${USERS:-100000}" --seed 5 --address "$addr" \
      --api-key "$(cat "$data/admin-api-key")" --seconds 8 --connections "${CONNECTIONS:-32}" \
      --batch-size "$per_request" >"$data/report.json"
    after=$(cpu_ticks $server)
    python3 - "$data/report.json" "$before" "$after" "$per_request" "$bin" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
events = r["requests"] * int(sys.argv[4])
cpu_us = (int(sys.argv[3]) - int(sys.argv[2])) * 10_000 / max(events, 1)
print(f"round {sys.argv[6]} {sys.argv[5]:<40} {r['events_per_second']:>10,.0f} events/s {cpu_us:6.2f} us server CPU/event"
      f"  p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} ms  errors {r['errors']}")
PY
    kill $server; wait $server 2>/dev/null || true; rm -rf "$data"
  done
done
