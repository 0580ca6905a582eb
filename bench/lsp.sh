#!/usr/bin/env bash
# kiln-lsp vs `ruff server` (PyPI), side by side in one run: diagnostics latency (an incremental
# didChange -> the publishDiagnostics of that version, ../shared/tools/lsp-latency.py) on the
# corpus's _pydecimal.py and the synthetic 10,000-line file, start-up to first diagnostics, and
# resident memory with 100 open files. Rounds interleave the servers and each keeps its best
# (the machine is shared and noisy). Targets: kiln <= 0.5x ruff at p50 and p99; start-up <= ruff.
#   bench/lsp.sh [ROUNDS] [EDITS]      (defaults 3, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"; EDITS="${2:-200}"
TOOLS="${KILN_SHARED_TOOLS:-$(cd .. && pwd)/shared/tools}"
[ -d "$TOOLS" ] || TOOLS=/work/shared/tools
CORPUS="${KILN_CORPUS:-target/corpus}"
VENV="${KILN_BENCH_VENV:-target/bench-venv}"

cargo build --release -p kiln-lsp --locked >/dev/null
KILN="$PWD/target/release/kiln-lsp"
[ -x "$VENV/bin/ruff" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q ruff; }
RUFF="$PWD/$VENV/bin/ruff"
ls "$CORPUS"/single/pydecimal_*.py >/dev/null 2>&1 || bash "$TOOLS/build-corpus.sh" "$CORPUS" >/dev/null
PYDECIMAL="$(ls "$CORPUS"/single/pydecimal_*.py | head -1)"
SYNTH="$(ls "$CORPUS"/single/synthetic_10k.py | head -1)"
HOME_DIR="$(mktemp -d)"; trap 'rm -rf "$HOME_DIR"' EXIT

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ruff $("$RUFF" --version)"
best() { # server-label file -> prints "p50 p99 startup"
  python3 - "$@" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(min(r["p50_ms"] for r in rows), min(r["p99_ms"] for r in rows), min(r["startup_to_first_diagnostics_ms"] for r in rows))
PY
}
for file in "$PYDECIMAL" "$SYNTH"; do
  name="$(basename "$file")"
  : >"$HOME_DIR/kiln.jsonl"; : >"$HOME_DIR/ruff.jsonl"
  for _ in $(seq "$ROUNDS"); do
    HOME="$HOME_DIR" python3 "$TOOLS/lsp-latency.py" --edits "$EDITS" --json "$file" -- "$KILN" >>"$HOME_DIR/kiln.jsonl"
    python3 "$TOOLS/lsp-latency.py" --edits "$EDITS" --json "$file" -- "$RUFF" server >>"$HOME_DIR/ruff.jsonl"
  done
  read -r k50 k99 kst < <(best "$HOME_DIR/kiln.jsonl")
  read -r r50 r99 rst < <(best "$HOME_DIR/ruff.jsonl")
  python3 - "$name" "$k50" "$k99" "$kst" "$r50" "$r99" "$rst" <<'PY'
import sys
n, k50, k99, kst, r50, r99, rst = sys.argv[1], *map(float, sys.argv[2:])
ok = lambda b: "met" if b else "MISSED"
print(f"{n}: kiln p50 {k50:.2f} ms p99 {k99:.2f} ms start {kst:.0f} ms | ruff p50 {r50:.2f} ms p99 {r99:.2f} ms start {rst:.0f} ms")
print(f"  ratio p50 {k50/r50:.2f}x ({ok(k50 <= 0.5*r50)}), p99 {k99/r99:.2f}x ({ok(k99 <= 0.5*r99)}), start-up {kst/rst:.2f}x ({ok(kst <= rst)})")
PY
done
echo "RSS with 100 open files (stdlib):"
echo "  kiln: $(HOME="$HOME_DIR" python3 bench/lsp-rss.py "$CORPUS/stdlib" -- "$KILN")"
echo "  ruff: $(python3 bench/lsp-rss.py "$CORPUS/stdlib" -- "$RUFF" server)"
