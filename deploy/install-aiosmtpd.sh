#!/usr/bin/env bash
# Makes sure the SMTP receiver of the email tests is available: aiosmtpd (pinned, from PyPI)
# in <repo>/.tools/aiosmtpd (gitignored), run as `python3 -m aiosmtpd` with that directory on
# PYTHONPATH. Idempotent. Prints the directory to put on PYTHONPATH.
set -euo pipefail

PINNED_VERSION="1.4.6"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="$repo_root/.tools/aiosmtpd"

installed_version() {
    PYTHONPATH="$tools_dir" python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)' 2>/dev/null
}

if [[ "$(installed_version || true)" != "$PINNED_VERSION" ]]; then
    echo "installing aiosmtpd $PINNED_VERSION into $tools_dir" >&2
    rm -rf "$tools_dir"
    mkdir -p "$tools_dir"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        --target "$tools_dir" "aiosmtpd==$PINNED_VERSION" >&2
    if [[ "$(installed_version || true)" != "$PINNED_VERSION" ]]; then
        echo "error: aiosmtpd $PINNED_VERSION does not import from $tools_dir" >&2
        exit 1
    fi
fi
echo "$tools_dir"
