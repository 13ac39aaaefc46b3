#!/usr/bin/env bash
# THE test command of the project: formatting, lints, then every test of the workspace against a
# real nats-server (installed into .tools/ when none >= 2.12 is found), the email tests against a
# real dovecot (apt-get) and aiosmtpd (PyPI, into .tools/), then the web inbox's tests (Vitest,
# and Playwright with Debian's chromium from apt-get).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

NATS_SERVER_BIN="$(bash deploy/install-nats-server.sh)"
export NATS_SERVER_BIN
echo "using $("$NATS_SERVER_BIN" --version) at $NATS_SERVER_BIN"

# The email tests' IMAP server and SMTP receiver (switchboard-tests' `mail` module starts them).
DOVECOT_BIN="$(bash deploy/install-dovecot.sh)"
export DOVECOT_BIN
echo "using dovecot $("$DOVECOT_BIN" --version) at $DOVECOT_BIN"
AIOSMTPD_PYTHONPATH="$(bash deploy/install-aiosmtpd.sh)"
export AIOSMTPD_PYTHONPATH
echo "using aiosmtpd from $AIOSMTPD_PYTHONPATH"

# The read-model tests watch `serve`'s syncs with strace.
STRACE_BIN="$(bash deploy/install-debian.sh strace strace "${STRACE_BIN:-}")"
export STRACE_BIN
echo "using $("$STRACE_BIN" --version | head -1) at $STRACE_BIN"

# The API contract checker (gateway's `contract` test runs it against a real serve).
SCHEMATHESIS_PYTHONPATH="$(bash deploy/install-schemathesis.sh)"
export SCHEMATHESIS_PYTHONPATH
echo "using schemathesis from $SCHEMATHESIS_PYTHONPATH"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doc tests; run them first so that nextest's summary closes the output.
    cargo test --workspace --doc
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

# The web inbox (gateway/web): its unit tests (Vitest), then its browser tests (Playwright
# driving Debian's chromium, installed when missing) against a real `serve --demo` of the debug
# binary built above. The generated API types must match the document the binary serves.
CHROMIUM_BIN="$(bash deploy/install-debian.sh chromium chromium "${CHROMIUM_BIN:-}")"
export CHROMIUM_BIN
echo "using $("$CHROMIUM_BIN" --version) at $CHROMIUM_BIN"
cargo build -p switchboard-gateway --bin switchboard
(
    cd gateway/web
    # build.rs installs the same lockfile (and keeps this stamp); install only when it did not.
    if ! cmp -s package-lock.json node_modules/.switchboard-lockfile; then
        npm ci --no-audit --no-fund
        cp package-lock.json node_modules/.switchboard-lockfile
    fi
    npm run typecheck
    node scripts/gen-api.mjs --check
    npx vitest run
    npm run --silent size
    npx playwright test
)
