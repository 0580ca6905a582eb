#!/usr/bin/env bash
# Installs what editors/vscode builds with (idempotent, quiet): Node.js and npm from apt when
# missing, then the extension's locked dependencies (`npm ci`, skipped when node_modules
# already matches package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/../../editors/vscode"
need=""
command -v node >/dev/null || need="$need nodejs"
command -v npm >/dev/null || need="$need npm"
if [ -n "$need" ]; then
    log="$(mktemp)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need) >"$log" 2>&1 \
        || { echo "apt-get install$need failed:"; tail -5 "$log"; exit 1; }
fi
# A stamp of the lock it installed: the same hash means node_modules is up to date.
stamp=node_modules/.kiln-lock-sha
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    echo "$want" >"$stamp"
fi
