#!/usr/bin/env bash
# Makes sure strace (Debian's package) is installed: the read-model tests run `serve` under it to
# see that files which must be durable are synced before they are renamed into place. Installs
# with apt-get when missing. Idempotent. Prints the path of the `strace` binary.
set -euo pipefail

for candidate in "${STRACE_BIN:-}" "$(command -v strace 2>/dev/null || true)" /usr/bin/strace; do
    if [[ -n "$candidate" ]] && [[ -x "$candidate" ]]; then
        echo "$candidate"
        exit 0
    fi
done

echo "installing strace with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q strace >&2; then
    apt-get update -q >&2
    apt-get install -y -q strace >&2
fi

if ! [[ -x /usr/bin/strace ]]; then
    echo "error: /usr/bin/strace is missing after installing" >&2
    exit 1
fi
echo /usr/bin/strace
