#!/usr/bin/env bash
# Measures the HTTP targets of issue 2 in one run: the no-op endpoint (the HTTP stack's
# ceiling), single events and batches, each against a fresh server on this machine whose
# `ip_block` list holds 1,000,000 entries.
# Usage: scripts/bench-http.sh [SECONDS]
#   SECONDS  how long each of the five runs lasts (default 10); the whole script takes about
#            5 x SECONDS plus ~30 s to start the server and import the million entries.
#   Needs `cargo build --release -p shopguard` first (or SHOPGUARD_BIN naming a binary).
#   Prints one line per run: requests/s, events/s, p50/p99 latency, server CPU per request.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,8p' "$0"; exit 0;; esac
seconds=${1:-10}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "SECONDS must be a whole number (see --help)" >&2; exit 2; }
bin=${SHOPGUARD_BIN:-target/release/shopguard}
[ -x "$bin" ] || { echo "$bin not found: run cargo build --release -p shopguard first" >&2; exit 2; }
data=$(mktemp -d /tmp/sgbench.XXXXXX)
addr=127.0.0.1:18787
source "$(dirname "$0")/http-common.sh"
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
start_server "$bin" "$addr" "$data" --enable-noop-endpoint
key=$(cat "$data/admin-api-key")
# The issue's setting: the shipped policy with 1,000,000 IP/CIDR entries in `ip_block` (as in
# the engine bench: 90% single addresses, 10% /24 ranges; random, seeded).
python3 - "$data/ip-block.txt" <<'PY'
import random, sys
rng = random.Random(3)
with open(sys.argv[1], "w") as out:
    for n in range(1_000_000):
        a = rng.getrandbits(32)
        last = "0/24" if n % 10 == 0 else str(a & 255)
        out.write(f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{last}\n")
PY
"$bin" lists import --list ip_block --server "http://$addr" --api-key "$key" "$data/ip-block.txt" >/dev/null
# One line per run: the load report plus the server's CPU time per request.
run() {
  local before after
  before=$(cpu_ticks $server)
  "$bin" load --address "$addr" --api-key "$key" --seconds "$seconds" "$@" >"$data/report.json"
  after=$(cpu_ticks $server)
  python3 - "$data/report.json" "$before" "$after" "$*" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ticks = int(sys.argv[3]) - int(sys.argv[2])
per_req = ticks * 10_000 / max(r["requests"], 1)
print(f'{sys.argv[4]:<55} {r["requests_per_second"]:>9,.0f} req/s {r["events_per_second"]:>9,.0f} ev/s '
      f'p50 {r["p50_ms"]:.2f} p99 {r["p99_ms"]:.2f} ms  server CPU {per_req:,.1f} us/req  errors {r["errors"]}')
PY
}
run --mode noop --users 200000 --connections 32
run --mode events --users 200000 --connections 32
run --mode noop-batch --users 200000 --connections 32 --batch-size 100
run --mode batch --users 200000 --connections 32 --batch-size 100
run --mode batch --users 300000 --connections 8 --batch-size 1000
