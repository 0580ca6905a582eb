#!/usr/bin/env bash
# Installs what the analysis tests need (idempotent, quiet):
#   target/analysis-venv        Python venv with jsonschema (validates kiln's SARIF output) and
#                               pre-commit (runs the repository's .pre-commit-hooks.yaml)
#   target/sarif-schema-2.1.0.json   the official SARIF 2.1.0 schema, as shipped inside the
#                               serde-sarif crate on crates.io (fetched with cargo)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=target/analysis-venv
SCHEMA=target/sarif-schema-2.1.0.json
mkdir -p target
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import jsonschema' 2>/dev/null \
    || [ ! -x "$VENV/bin/pre-commit" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check 'jsonschema==4.23.0' 'pre-commit==4.7.0'
fi
if [ ! -s "$SCHEMA" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/p/src"
    printf '[package]\nname = "fetch-sarif-schema"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nserde-sarif = "=0.8.0"\n' > "$tmp/p/Cargo.toml"
    : > "$tmp/p/src/lib.rs"
    (cd "$tmp/p" && cargo fetch -q)
    crate="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/cache" -name 'serde-sarif-0.8.0.crate' | head -1)"
    [ -n "$crate" ] || { echo "serde-sarif crate not found after cargo fetch" >&2; exit 1; }
    tar -xzf "$crate" -C "$tmp" serde-sarif-0.8.0/src/schema.json
    grep -q '"Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"' "$tmp/serde-sarif-0.8.0/src/schema.json"
    cp "$tmp/serde-sarif-0.8.0/src/schema.json" "$SCHEMA"
fi
