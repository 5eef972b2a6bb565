#!/usr/bin/env bash
# Latency of changes through the API (each stored with its audit entry, the audit log synced
# before the answer): list entry additions and removals, and policy rollbacks, against a
# fresh server of each binary given. Prints p50 / p99 in milliseconds.
# Usage: scripts/bench-writes.sh BINARY [BINARY ...]   (a binary may be a wrapper script that
# sets SHOPGUARD_DATABASE_URL for a PostgreSQL node). WRITES (default 500) sets the number of
# additions and of removals; a tenth as many rollbacks are made.
set -euo pipefail
addr=127.0.0.1:18791
source "$(dirname "$0")/http-common.sh"
for bin in "$@"; do
  data=$(mktemp -d /tmp/sgwrites.XXXXXX)
  start_server "$bin" "$addr" "$data"
  python3 - "$addr" "$(cat "$data/admin-api-key")" "$bin" "${WRITES:-500}" <<'PY'
import http.client, json, sys, time
address, key, name, writes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, port = address.split(":")
connection = http.client.HTTPConnection(host, int(port))
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
def timed(method, path, body=None, expect=(200, 201, 204)):
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    assert response.status in expect, (method, path, response.status)
    return (time.perf_counter() - started) * 1000
def report(what, samples):
    samples.sort()
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(f"{name:<44} {what:<22} n={len(samples):<4} p50 {p(0.5):6.2f} ms  p99 {p(0.99):6.2f} ms")
adds = [timed("POST", "/v1/lists/ip_block/entries", json.dumps({"value": f"198.51.{n // 256}.{n % 256}", "reason": "bench"})) for n in range(writes)]
removes = [timed("DELETE", f"/v1/lists/ip_block/entries?value=198.51.{n // 256}.{n % 256}") for n in range(writes)]
# A rollback to the live version: the policy is compiled, recorded live by compare and set, audited.
rollbacks = [timed("POST", "/v1/policy/rollback", json.dumps({"version": 1})) for _ in range(max(1, writes // 10))]
report("list entry add", adds)
report("list entry remove", removes)
report("policy rollback", rollbacks)
PY
  kill $server; wait $server 2>/dev/null || true; rm -rf "$data"
done
