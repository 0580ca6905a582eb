#!/usr/bin/env bash
# Analysis benchmark: kiln vs ruff (matching --select list, --no-cache) vs flake8 vs the floor (a
# bare tree-sitter parse of the same files on the same threads, examples/analysis_parse.rs), in
# one run, on the corpus and on a second, differently shaped one (sympy, pinned, from PyPI).
# Every tool's output is reduced to a summary line, so printing is not what is measured.
#   cold batch, all cores and one thread; warm re-check (nothing changed; ruff with its cache,
#   kiln with its findings cache); per-edit latency of a 10,000-line file through the
#   incremental API (examples/analysis_latency.rs; lsp-latency.py's edit pattern) with
#   tree-sitter's own re-parse of the same edits as the floor; 1 MB and 10 MB single files of
#   several shapes in every output format (must be linear: 10 MB well under 2 s).
# Usage: bench/analysis.sh [CORPUS_DIR]   (default target/bench-corpus, built if missing)
#   RUNS=N (best of N, default 3), NO_FLAKE8=1 (skip flake8: its columns read 0)
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
cargo build -q --release --bin kiln --example analysis_latency --example analysis_parse
KILN=target/release/kiln
LAT=target/release/examples/analysis_latency
PARSE=target/release/examples/analysis_parse
CORPUS2="${CORPUS2:-target/bench-corpus2}"
SYMPY=sympy==1.13.3
if [ ! -f "$CORPUS2/sympy/.done" ]; then
    rm -rf "$CORPUS2/sympy"; mkdir -p "$CORPUS2/_sdist" "$CORPUS2/sympy"
    ls "$CORPUS2"/_sdist/sympy-*.tar.gz >/dev/null 2>&1 \
        || python3 -m pip download -q --no-deps --no-binary :all: -d "$CORPUS2/_sdist" "$SYMPY"
    tar -xzf "$CORPUS2"/_sdist/sympy-*.tar.gz -C "$CORPUS2/_sdist"
    (cd "$CORPUS2"/_sdist/sympy-*/ && find . -name '*.py' -type f -print0 | tar --null -T - -cf -) \
        | (cd "$CORPUS2/sympy" && tar -xf -)
    echo "$SYMPY $(sha256sum "$CORPUS2"/_sdist/sympy-*.tar.gz | cut -d' ' -f1)" > "$CORPUS2/sympy/.done"
    rm -rf "$CORPUS2"/_sdist/sympy-*/
fi
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
if [ -n "${NO_FLAKE8:-}" ]; then # flake8 takes minutes per run; NO_FLAKE8=1 leaves it out
    f_all=0; f_one=0
else
    f_all=$(best "$FLAKE8" --exit-zero -j "$(nproc)" "$CORPUS")
    f_one=$(best "$FLAKE8" --exit-zero -j 1 "$CORPUS")
fi

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
floor() { # corpus label: bare parse vs kiln (selected rules, one rule) vs ruff, all cores and one thread
    local c="$1" label="$2" p_all p_one k_all k_one k_rule r_all r_one
    p_all=$(best "$PARSE" "$c")
    p_one=$(best "$PARSE" --threads 1 "$c")
    k_all=$(best "$KILN" check --no-cache --select "$KSELECT" --output-format json --exit-zero "$c")
    k_one=$(best "$KILN" check --no-cache --threads 1 --select "$KSELECT" --output-format json --exit-zero "$c")
    k_rule=$(best "$KILN" check --no-cache --threads 1 --select PY201 --output-format json --exit-zero "$c")
    r_all=$(best "$RUFF" check --no-cache --select "$SELECT" --exit-zero --quiet "$c")
    r_one=$(RAYON_NUM_THREADS=1 best "$RUFF" check --no-cache --select "$SELECT" --exit-zero --quiet "$c")
    echo "| $label, all cores | $p_all | $k_all | $r_all | $(ratio "$k_all" "$p_all") | $(ratio "$k_all" "$r_all") |"
    echo "| $label, one thread | $p_one | $k_one | $r_one | $(ratio "$k_one" "$p_one") | $(ratio "$k_one" "$r_one") |"
    echo "| $label, one thread, one rule (PY201) | $p_one | $k_rule | - | $(ratio "$k_rule" "$p_one") | - |"
}
echo
echo "floor: bare tree-sitter parse of the same files (targets: kiln <= 1.5x parse, <= 4x ruff)"
echo "corpus 2: $CORPUS2 ($SYMPY): $(find "$CORPUS2" -name '*.py' | wc -l) files, $(find "$CORPUS2" -name '*.py' -print0 | xargs -0 cat | wc -l) lines"
echo
echo "| corpus | bare parse (s) | kiln (s) | ruff (s) | kiln/parse | kiln/ruff |"
echo "|---|---|---|---|---|---|"
floor "$CORPUS" "corpus 1"
floor "$CORPUS2" "corpus 2 (sympy)"

# single files of several shapes, 1 MB and 10 MB, every output format (must be linear)
SHAPES=target/bench-shapes
mkdir -p "$SHAPES"
python3 - "$SHAPES" <<'PYEOF'
import os, sys
d = sys.argv[1]
shapes = {
    "units": lambda i: f"def f{i}(a):\n    return a  # comment {i}\n",
    "comments": lambda i: "import os\n" if i == 0 else f"# comment line {i}\n",
    "block_comments": lambda i: "def f():\n    x = 1\n" if i == 0 else f"    # comment line {i}\n",
    # column-0 comments (commented-out code) inside a class body, before its next method: the
    # scanner's quadratic case (vendor/README.md)
    "dedented_comments": lambda i: "class C:\n    def m(self):\n        x = 1\n" if i == 0
        else ("    def n(self):\n        return 1\n" if i % 5000 == 0 else f"# old code {i}\n"),
    "findings": lambda i: f"x{i} = eval('{i}')  # TODO\n",
    "one_unit": lambda i: "def huge(a):\n" if i == 0 else f"    a = a + {i}\n",
}
for name, line in shapes.items():
    for size in (1_000_000, 10_000_000):
        path = f"{d}/{name}_{size // 1_000_000}mb.py"
        if os.path.exists(path):
            continue
        out, n, i = [], 0, 0
        while n < size - 100:
            s = line(i); out.append(s); n += len(s); i += 1
        open(path, "w").write("".join(out))
PYEOF
echo
echo "single files (s; max_file_bytes raised to 11 MB; --no-cache, all rules):"
echo
echo "| file | lines | human | json | sarif | bare parse |"
echo "|---|---|---|---|---|---|"
printf '[analysis]\nmax_file_bytes = 11534336\n' > "$SHAPES/kiln.toml"
for f in "$SHAPES"/*.py; do
    h=$(cd "$SHAPES" && best "../../$KILN" check --no-cache --exit-zero --output-format human "$(basename "$f")")
    j=$(cd "$SHAPES" && best "../../$KILN" check --no-cache --exit-zero --output-format json "$(basename "$f")")
    s=$(cd "$SHAPES" && best "../../$KILN" check --no-cache --exit-zero --output-format sarif "$(basename "$f")")
    p=$(best "$PARSE" "$f")
    echo "| $(basename "$f") | $(wc -l < "$f") | $h | $j | $s | $p |"
done

echo
echo "per-edit latency (incremental API, 2000 edits; floor_* = tree-sitter's own re-parse):"
"$LAT" "$CORPUS/single/synthetic_10k.py" 2000 eol
"$LAT" "$CORPUS/single/synthetic_10k.py" 2000 any
"$LAT" "$CORPUS/single/pydecimal_6425.py" 2000 eol
r_file=$(best "$RUFF" check --no-cache --select "$SELECT" --exit-zero --quiet "$CORPUS/single/synthetic_10k.py")
k_file=$(best "$KILN" check --no-cache --select "$KSELECT" --output-format json --exit-zero "$CORPUS/single/synthetic_10k.py")
echo "whole-file re-lint of synthetic_10k.py per edit (process): ruff ${r_file}s, kiln ${k_file}s"
