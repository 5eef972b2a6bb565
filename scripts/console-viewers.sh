#!/usr/bin/env bash
# Runs a shopguard server with situation pages open on it: a wrapper for ab-http.sh, which
# starts "BINARY serve --data-dir D --listen A". Once the server answers, an operator (role
# viewer) is created and signed in, and VIEWERS (default 5) streams of the console's situation
# page are held open for as long as the server runs. The server itself is exec'd, so the
# caller's process id is the server's (ab-http.sh reads its CPU time).
# Usage: make a one-line wrapper that runs `exec scripts/console-viewers.sh NEW_BINARY "$@"`,
# then `scripts/ab-http.sh OLD_BINARY WRAPPER events 3`.
set -euo pipefail
bin=$1
shift
data="" addr=""
previous=""
for argument in "$@"; do
  case "$previous" in
    --data-dir) data=$argument ;;
    --listen) addr=$argument ;;
  esac
  previous=$argument
done
[ -n "$data" ] && [ -n "$addr" ] || { echo "console-viewers.sh: needs --data-dir and --listen" >&2; exit 2; }
password='viewer-Password-2026!'
(
  for _ in $(seq 300); do
    curl -sf "http://$addr/healthz" >/dev/null && break
    sleep 0.1
  done
  printf '%s' "$password" >"$data/viewer.password"
  secret=$("$bin" operators create --username viewer --role viewer \
    --password-file "$data/viewer.password" --data-dir "$data" | grep -o 'secret=[A-Z2-7]*' | cut -d= -f2)
  code=$(printf '%s' "$secret" | "$bin" operators totp-code)
  token=$(curl -s "http://$addr/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"viewer\",\"password\":\"$password\",\"totp_code\":\"$code\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  for _ in $(seq "${VIEWERS:-5}"); do
    curl -sN -b "sg_session=$token" "http://$addr/console/situation/stream?range=15" >/dev/null &
  done
  wait
) >"$data/viewers.log" 2>&1 &
exec "$bin" "$@"
