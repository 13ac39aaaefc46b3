#!/usr/bin/env bash
# Makes sure a tool from Debian's packages is installed for the tests:
#   bash deploy/install-debian.sh PACKAGE BINARY [PREFERRED]
# Prints the path of BINARY: PREFERRED when it is an executable (a variable the caller passes,
# such as "${STRACE_BIN:-}"), else /usr/bin/BINARY or BINARY on the PATH, else after
# `apt-get install PACKAGE` (an `apt-get update` first when the install fails). Idempotent.
# Used for strace (the read-model sync test) and chromium (the web inbox's browser tests:
# Playwright drives it through its `executablePath`, its own browser downloads are never used).
set -euo pipefail

package="$1"
binary="$2"
preferred="${3:-}"

for candidate in "$preferred" "/usr/bin/$binary" "$(command -v "$binary" 2>/dev/null || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
        echo "$candidate"
        exit 0
    fi
done

echo "installing $package with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q "$package" >&2; then
    apt-get update -q >&2
    apt-get install -y -q "$package" >&2
fi

if [[ ! -x "/usr/bin/$binary" ]]; then
    echo "error: /usr/bin/$binary is missing after installing $package" >&2
    exit 1
fi
echo "/usr/bin/$binary"
