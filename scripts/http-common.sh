# Shared by bench-http.sh and ab-http.sh (sourced, not run).

# The CPU time (user + system, in clock ticks of 10 ms) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Starts `$1 serve` on address $2 with a fresh data folder $3 (plus any further flags), and
# waits until it answers; the server's pid is left in $server.
start_server() {
  local bin=$1 addr=$2 data=$3
  shift 3
  "$bin" serve --data-dir "$data" --listen "$addr" "$@" >"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    [ -s "$data/admin-api-key" ] && curl -sf "http://$addr/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server at $addr did not start; see $data/server.log" >&2
  return 1
}
