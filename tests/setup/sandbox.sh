#!/usr/bin/env bash
# Installs what the sandbox tests need: /usr/bin/python3 (battery payloads, toolchain test),
# python3-pytest (pytest inside the sandbox), setpriv (tests as an unprivileged user), pgrep
# (the battery) and bwrap (to simulate a host without user namespaces). Idempotent and quiet:
# does nothing when everything is present.
set -euo pipefail
need=()
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
command -v setpriv >/dev/null || need+=(util-linux)
command -v pgrep >/dev/null || need+=(procps)
command -v bwrap >/dev/null || need+=(bubblewrap)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/setup/sandbox.sh: missing ${need[*]}; run as root or install them" >&2
    exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
