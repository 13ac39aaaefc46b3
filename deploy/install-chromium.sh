#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the web inbox's browser tests (Playwright drives
# it through its `executablePath`; Playwright's own browser downloads are never used). Installs
# with apt-get when missing. Idempotent. Prints the path of the `chromium` binary.
set -euo pipefail

for candidate in "${CHROMIUM_BIN:-}" /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then
        echo "$candidate"
        exit 0
    fi
done

echo "installing chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q chromium >&2; then
    apt-get update -q >&2
    apt-get install -y -q chromium >&2
fi

if [[ ! -x /usr/bin/chromium ]]; then
    echo "error: /usr/bin/chromium is missing after installing" >&2
    exit 1
fi
echo /usr/bin/chromium
