#!/usr/bin/env bash
# Installs what the dashboard's end-to-end test needs (idempotent, quiet): tmux, which runs the
# real `kiln` binary in a pseudo-terminal and captures its screen.
set -euo pipefail
if ! command -v tmux >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq tmux >/dev/null
    else
        echo "tui setup: tmux missing and not root; install tmux" >&2
        exit 1
    fi
fi
