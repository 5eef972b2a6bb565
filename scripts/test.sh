#!/usr/bin/env bash
# The whole test suite, as the README's second command and CI run it: brings up the services
# the tests need (PostgreSQL, for the storage conformance suite and the two-node test), then
# runs every test of the workspace, the schemathesis run against the live binary and the
# console's browser tests (Chromium, installed here when missing) included.
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

# Python helpers of the suite (schemathesis, which crates/shopguard/tests/schemathesis.rs runs
# against the real binary; aiosmtpd and standardwebhooks, the real SMTP server and the
# reference webhook verifier of crates/shopguard-notify/tests), in a venv at the repository
# root, pinned by requirements-test.txt; installed again only when that file changed.
if ! cmp -s requirements-test.txt .venv/requirements-test.installed 2>/dev/null; then
    echo "== installing the Python test helpers into .venv"
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
    cp requirements-test.txt .venv/requirements-test.installed
fi
export SHOPGUARD_REQUIRE_SCHEMATHESIS=1 SHOPGUARD_REQUIRE_SMTP=1 SHOPGUARD_REQUIRE_WEBHOOKS=1

# The console's browser tests (crates/shopguard/tests/console.rs): Debian's Chromium and
# npm's playwright-core, pinned by crates/shopguard/tests/browser/package-lock.json.
# A Chinese font, so that the pages (and their screenshots) render in both languages.
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then
    echo "== installing chromium and a Chinese font (the console's browser tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-zenhei >/dev/null
fi
browser=crates/shopguard/tests/browser
if ! cmp -s "$browser/package-lock.json" "$browser/node_modules/.package-lock.json.installed" 2>/dev/null; then
    echo "== installing playwright-core (npm ci)"
    (cd "$browser" && npm ci --no-audit --no-fund --silent)
    cp "$browser/package-lock.json" "$browser/node_modules/.package-lock.json.installed"
fi
export SHOPGUARD_REQUIRE_BROWSER=1

exec cargo nextest run --workspace --locked "$@"
