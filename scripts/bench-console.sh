#!/usr/bin/env bash
# Measures the console's page times of issue 18 with DECISIONS decisions in the log: every
# page's server time <= 50 ms p99, and the decision search by user <= 100 ms.
# Usage: scripts/bench-console.sh [DECISIONS]
#   DECISIONS  decisions logged before measuring (default 10000000); filling takes about
#              DECISIONS / 100,000 seconds on a 2-core machine.
#   Needs `cargo build --release -p shopguard` first (or SHOPGUARD_BIN naming a binary).
#   On PostgreSQL: set SHOPGUARD_DATABASE_URL (and a fresh SHOPGUARD_DATABASE_SCHEMA).
#   Prints, per page, the requests timed and the p50/p99/max latency seen by a client on
#   loopback (server time plus a loopback round trip), one request at a time.
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,11p' "$0"; exit 0;; esac
target=${1:-10000000}
[[ $target =~ ^[0-9]+$ ]] || { echo "DECISIONS must be a whole number (see --help)" >&2; exit 2; }
bin=${SHOPGUARD_BIN:-target/release/shopguard}
[ -x "$bin" ] || { echo "$bin not found: run cargo build --release -p shopguard first" >&2; exit 2; }
data=$(mktemp -d /tmp/sgconsole.XXXXXX)
addr=127.0.0.1:18788
source "$(dirname "$0")/http-common.sh"
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT

# An operator to sign in as (responder: reads decisions, alerts, lists).
password="correct-Horse-battery-st4ple"
printf '%s' "$password" >"$data/password"
secret=$("$bin" operators create --username bench --role responder --password-file "$data/password" \
  --data-dir "$data" | sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p' | head -1)
[ -n "$secret" ] || { echo "could not create the operator" >&2; exit 1; }

start_server "$bin" "$addr" "$data"
key=$(cat "$data/admin-api-key")
count() {
  curl -sf "http://$addr/metrics" | awk '/^shopguard_decisions_total/ {sum += $NF} END {printf "%d", sum}'
}
echo "filling the log to $target decisions..." >&2
started=$(date +%s)
while [ "$(count)" -lt "$target" ]; do
  "$bin" load --address "$addr" --api-key "$key" --mode batch --batch-size 500 --users 1000000 \
    --days 7 --connections 8 --seconds 30 >/dev/null
  echo "  $(count) decisions after $(( $(date +%s) - started )) s" >&2
done

python3 - "$addr" "$key" "$secret" "$password" <<'PY'
import base64, hashlib, hmac, http.client, json, re, struct, sys, time, urllib.parse

addr, key, secret, password = sys.argv[1:5]
host, port = addr.split(":")

def totp(secret):
    counter = int(time.time()) // 30
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 15
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"

conn = http.client.HTTPConnection(host, int(port))
def request(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()

# A user, an IP and a decision that are in the log.
response, body = request("GET", "/v1/decisions?limit=1&outcome=deny", headers={"authorization": f"Bearer {key}"})
sample = json.loads(body)["decisions"][0]
user, decision_id = sample["decision"]["user_id"], sample["decision"]["decision_id"]
ip = sample["event"].get("ip", "192.0.2.1")

# Sign in: the login page's cookie and field, then the form.
response, body = request("GET", "/console/login")
login_cookie = re.search(r"sg_login=([^;]+)", response.getheader("set-cookie")).group(1)
csrf = re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()
form = urllib.parse.urlencode({"username": "bench", "password": password, "code": totp(secret), "csrf": csrf})
response, _ = request("POST", "/console/login", form, {
    "content-type": "application/x-www-form-urlencoded", "cookie": f"sg_login={login_cookie}"})
session = re.search(r"sg_session=([^;]+)", response.getheader("set-cookie") or "")
if not session:
    sys.exit(f"sign-in failed: {response.status}")
cookie = {"cookie": f"sg_session={session.group(1)}"}

quote = urllib.parse.quote
pages = [
    ("situation, 15 min", "/console/situation"),
    ("situation, 30 days", "/console/situation?range=43200"),
    ("top entities by denials, 1 day", "/console/situation/top-entities?range=1440"),
    ("decisions by user", f"/console/decisions?user_id={quote(user)}"),
    ("decisions by IP", f"/console/decisions?ip={quote(ip)}"),
    ("decisions denied", "/console/decisions?outcome=deny"),
    ("a decision", f"/console/decisions/{decision_id}"),
    ("a user's page", f"/console/entity/user/{quote(user)}"),
    ("alerts", "/console/alerts"),
    ("lists", "/console/lists"),
    ("audit", "/console/audit"),
    ("policy", "/console/policy"),
    ("API: decisions by user", f"/v1/decisions?user_id={quote(user)}&limit=50"),
]
print(f"{'page':<34} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
for name, path in pages:
    headers = {"authorization": f"Bearer {key}"} if path.startswith("/v1/") else cookie
    times = []
    runs = 20 if "top-entities" in path else 200
    for _ in range(runs):
        started = time.perf_counter()
        response, body = request("GET", path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            sys.exit(f"{path}: {response.status} {body[:200]!r}")
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"{name:<34} {runs:>4} {p(0.5):>8.1f} {p(0.99):>8.1f} {times[-1]:>8.1f}")
PY
