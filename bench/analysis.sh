#!/usr/bin/env bash
# Analysis benchmark: kiln vs ruff (matching --select list, --no-cache) vs flake8, in one run.
# Every tool's output is reduced to a summary line, so printing is not what is measured.
#   cold batch, all cores and one thread; warm re-check (nothing changed; ruff with its cache,
#   kiln with its findings cache); per-edit latency of a 10,000-line file through the
#   incremental API (examples/analysis_latency.rs; lsp-latency.py's edit pattern).
# Usage: bench/analysis.sh [CORPUS_DIR]   (default target/bench-corpus, built if missing)
# Needs: python3.11 (for the corpus), network access to PyPI once (ruff, flake8 in a venv).
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${1:-target/bench-corpus}"
VENV=target/bench-venv
RUNS="${RUNS:-3}"
[ -f "$CORPUS/stdlib/.done" ] || bash ../shared/tools/build-corpus.sh "$CORPUS" >/dev/null
if [ ! -x "$VENV/bin/ruff" ] || [ ! -x "$VENV/bin/flake8" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check 'ruff==0.8.4' 'flake8==7.1.1'
fi
cargo build -q --release --bin kiln --example analysis_latency
KILN=target/release/kiln
LAT=target/release/examples/analysis_latency
RUFF="$VENV/bin/ruff"
FLAKE8="$VENV/bin/flake8"
SELECT=E722,B006,S307,S102,S105,F401,C901,D103,S602,BLE001,S101
# kiln's rules for the same checks: bare except, mutable default, eval, exec, secrets, unused
# import, complexity, missing docstring, shell=True, swallowed broad except, assert.
KSELECT=PY101,PY103,PY201,PY202,PY208,PY109,PY301,PY401,PY203,PY102,PY113
export HOME="${BENCH_HOME:-$(mktemp -d)}" XDG_STATE_HOME="$HOME/state" NO_COLOR=1
lines=$(find "$CORPUS" -name '*.py' -print0 | xargs -0 cat | wc -l)
files=$(find "$CORPUS" -name '*.py' | wc -l)

# best-of-$RUNS wall time in seconds of a command whose output is discarded
best() {
    local best=999999 t
    for _ in $(seq "$RUNS"); do
        local s e
        s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        best=$(echo "if ($t < $best) $t else $best" | bc -l)
    done
    printf '%.3f' "$best"
}
summary() { # findings count of each tool, so the runs are comparable
    echo "kiln:   $("$KILN" check --no-cache --select "$KSELECT" --output-format json --exit-zero "$CORPUS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["findings"]), "findings in", d["files_checked"], "files")')"
    echo "ruff:   $("$RUFF" check --no-cache --select "$SELECT" --exit-zero --output-format concise --quiet "$CORPUS" | wc -l) findings"
    echo "flake8: $("$FLAKE8" --select E722,C901 --max-complexity 10 --exit-zero "$CORPUS" | wc -l) findings (E722,C901 only: pyflakes/pycodestyle subset)"
}

echo "# analysis benchmark $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GB"
echo "corpus: $CORPUS: $files files, $lines lines"
echo "tools: $("$KILN" --version), ruff $("$RUFF" --version | cut -d' ' -f2), flake8 $("$FLAKE8" --version | head -1 | cut -d' ' -f1)"
summary

k_all=$(best "$KILN" check --no-cache --select "$KSELECT" --output-format json --exit-zero "$CORPUS")
k_one=$(best "$KILN" check --no-cache --threads 1 --select "$KSELECT" --output-format json --exit-zero "$CORPUS")
k_rules=$(best "$KILN" check --no-cache --output-format json --exit-zero "$CORPUS")
r_all=$(best "$RUFF" check --no-cache --select "$SELECT" --exit-zero --quiet "$CORPUS")
r_one=$(RAYON_NUM_THREADS=1 best "$RUFF" check --no-cache --select "$SELECT" --exit-zero --quiet "$CORPUS")
f_all=$(best "$FLAKE8" --exit-zero -j "$(nproc)" "$CORPUS")
f_one=$(best "$FLAKE8" --exit-zero -j 1 "$CORPUS")

# warm: prime both caches, then re-check with nothing changed
"$KILN" check --select "$KSELECT" --output-format json --exit-zero "$CORPUS" >/dev/null
CACHE="$HOME/ruff-cache"
"$RUFF" check --cache-dir "$CACHE" --select "$SELECT" --exit-zero --quiet "$CORPUS" >/dev/null || true
k_warm=$(best "$KILN" check --select "$KSELECT" --output-format json --exit-zero "$CORPUS")
r_warm=$(best "$RUFF" check --cache-dir "$CACHE" --select "$SELECT" --exit-zero --quiet "$CORPUS")

ratio() { echo "scale=2; $1 / $2" | bc -l; }
rate() { echo "$lines / $1" | bc; }
echo
echo "| measurement | kiln | ruff | flake8 | kiln/ruff | flake8/kiln |"
echo "|---|---|---|---|---|---|"
echo "| cold, all cores (s) | $k_all | $r_all | $f_all | $(ratio "$k_all" "$r_all") | $(ratio "$f_all" "$k_all") |"
echo "| cold, one thread (s) | $k_one | $r_one | $f_one | $(ratio "$k_one" "$r_one") | $(ratio "$f_one" "$k_one") |"
echo "| warm re-check (s) | $k_warm | $r_warm | - | $(ratio "$k_warm" "$r_warm") | - |"
echo "| cold, all cores, every kiln rule (s) | $k_rules | - | - | - | - |"
echo
echo "kiln throughput: $(rate "$k_all") lines/s all cores, $(rate "$k_one") lines/s one thread"
echo
echo "per-edit latency (incremental API, 2000 edits):"
"$LAT" "$CORPUS/single/synthetic_10k.py" 2000 eol
"$LAT" "$CORPUS/single/synthetic_10k.py" 2000 any
"$LAT" "$CORPUS/single/pydecimal_6425.py" 2000 eol
r_file=$(best "$RUFF" check --no-cache --select "$SELECT" --exit-zero --quiet "$CORPUS/single/synthetic_10k.py")
k_file=$(best "$KILN" check --no-cache --select "$KSELECT" --output-format json --exit-zero "$CORPUS/single/synthetic_10k.py")
echo "whole-file re-lint of synthetic_10k.py per edit (process): ruff ${r_file}s, kiln ${k_file}s"
