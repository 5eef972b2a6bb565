#!/usr/bin/env bash
# The whole test suite, as the README's second command and CI run it: brings up the services
# the tests need (PostgreSQL, for the storage conformance suite and the two-node test), then
# runs every test of the workspace.
# SHOPGUARD_TEST_POSTGRES_URL names another server (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SHOPGUARD_TEST_POSTGRES_URL:-}" ] && ! pg_isready -q -h 127.0.0.1; then
    echo "== starting postgresql"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do
        pg_isready -q -h 127.0.0.1 && break
        sleep 1
    done
    pg_isready -h 127.0.0.1 || { echo "postgresql did not start within 30 s" >&2; exit 1; }
fi

exec cargo nextest run --workspace --locked "$@"
