#!/usr/bin/env bash
# Installs what the serve tests need (idempotent, quiet):
#   target/serve-venv   a venv made from /usr/bin/python3 (the interpreter the sandbox sees)
#                       with Flask, bound read-only into served apps by the tests
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=target/serve-venv
mkdir -p target
[ -x /usr/bin/python3 ] || { apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null; }
if [ ! -x "$VENV/bin/python3" ] || ! "$VENV/bin/python3" -c 'import flask' 2>/dev/null; then
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV" || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && /usr/bin/python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q --disable-pip-version-check 'flask==3.1.0'
fi
