#!/usr/bin/env bash
# Makes sure Dovecot's IMAP server (Debian's dovecot-imapd) is installed for the email tests.
#
# The tests start their own dovecot from a config in a temporary directory on a loopback port
# (switchboard-tests' `mail` module); the system service is not used, and the package's own
# start is left to the system's policy. Installs with apt-get when the binary or the IMAP
# service is missing. Idempotent. Prints the path of the `dovecot` binary.
set -euo pipefail

has_dovecot() {
    local bin="$1"
    [[ -x "$bin" ]] && [[ -x "$(dirname "$bin")/../lib/dovecot/imap" ]]
}

for candidate in "${DOVECOT_BIN:-}" /usr/sbin/dovecot "$(command -v dovecot 2>/dev/null || true)"; do
    if [[ -n "$candidate" ]] && has_dovecot "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done

echo "installing dovecot-imapd with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q dovecot-imapd >&2; then
    apt-get update -q >&2
    apt-get install -y -q dovecot-imapd >&2
fi

if ! has_dovecot /usr/sbin/dovecot; then
    echo "error: /usr/sbin/dovecot or /usr/lib/dovecot/imap is missing after installing" >&2
    exit 1
fi
echo /usr/sbin/dovecot
