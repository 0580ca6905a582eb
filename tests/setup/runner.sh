#!/usr/bin/env bash
# Installs what the runner tests (tests/it/runner_*.rs) need: pytest for /usr/bin/python3
# (`kiln run examples/tempconv`), python3-venv (venv toolchains), node 18+ (node --test) and git
# (export --git-branch). Idempotent and quiet: does nothing when everything is present.
set -euo pipefail
need=()
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
command -v node >/dev/null || need+=(nodejs)
command -v git >/dev/null || need+=(git)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/setup/runner.sh: missing ${need[*]}; run as root or install them" >&2
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
