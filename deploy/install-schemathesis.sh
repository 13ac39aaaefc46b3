#!/usr/bin/env bash
# Makes sure the API contract checker of the test command is available: schemathesis (pinned, from PyPI)
# in <repo>/.tools/schemathesis (gitignored), run as `python3 -m schemathesis.cli` with that directory on
# PYTHONPATH. Idempotent. Prints the directory to put on PYTHONPATH.
set -euo pipefail

PINNED_VERSION="4.32.5"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="$repo_root/.tools/schemathesis"

installed_version() {
    PYTHONPATH="$tools_dir" python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null
}

if [[ "$(installed_version || true)" != "$PINNED_VERSION" ]]; then
    echo "installing schemathesis $PINNED_VERSION into $tools_dir" >&2
    rm -rf "$tools_dir"
    mkdir -p "$tools_dir"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        --target "$tools_dir" "schemathesis==$PINNED_VERSION" >&2
    if [[ "$(installed_version || true)" != "$PINNED_VERSION" ]]; then
        echo "error: schemathesis $PINNED_VERSION does not import from $tools_dir" >&2
        exit 1
    fi
fi
echo "$tools_dir"
