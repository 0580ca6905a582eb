#!/usr/bin/env bash
# Pipeline benchmark: 100 `kiln new` runs against the local test model server, 8 at a time and
# then one at a time, in one invocation.
#   - every run must succeed; every run's stored test output must have the same number of
#     lines (none lost) and no dropped lines;
#   - engine overhead per stage: the stage's wall time minus its model call's latency and its
#     sandboxed process's wall time, plus the gap since the previous stage ended (bookkeeping,
#     prompt rendering, commits, events); target p99 < 5 ms;
#   - peak RSS of one `kiln new` process; wall time of 8-concurrent vs sequential.
# Usage: bench/pipeline.sh [RUNS]   (default 100; PROFILE=debug to skip the release build)
# Needs: /usr/bin/python3 with pytest (tests/setup/sandbox.sh), a host the sandbox runs on.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-100}"
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
    cargo build -q --release --bin kiln --example test_llm_server
    BIN=target/release
else
    cargo build -q --bin kiln --example test_llm_server
    BIN=target/debug
fi
KILN="$PWD/$BIN/kiln"
WORK="$(mktemp -d)"
trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$BIN/examples/test_llm_server" > "$WORK/server.out" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/server.out")

# One reply answers every stage in any order (concurrent runs share the server's queue): a
# spec-like text with the code and its test as fenced files and a review score.
REPLY=$(python3 - <<'PY'
import json
text = ("Spec: add(a, b) returns the sum.\n\nscore: 9\n\n"
        "```python calc.py\ndef add(a, b):\n    \"\"\"Return a + b.\"\"\"\n    return a + b\n```\n"
        "```python test_calc.py\nfrom calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_zero():\n    assert add(0, 0) == 0\n```\n")
print(json.dumps({"chunks": [w + " " for w in text.split(" ")], "tokens_in": 300, "tokens_out": 120}))
PY
)
script() { # N replies
    python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(json.dumps([r]*int(sys.argv[2])))" "$REPLY" "$1" \
        | curl -s -X POST --data-binary @- "${URL%/v1}/_script" > /dev/null
}

world() { # DIR: a kiln HOME with the test server configured
    mkdir -p "$1/config/kiln" "$1/proj" "$1/data/kiln"
    cat > "$1/config/kiln/config.toml" <<TOML
[models]
detect_ollama = false
default = "local"
[models.named.local]
base_url = "$URL"
model = "bench"
[pipeline]
cache = false
max_concurrent_runs = 8
TOML
    # Create the database once: processes racing to create a fresh one can collide.
    HOME="$1" XDG_CONFIG_HOME="$1/config" XDG_DATA_HOME="$1/data" XDG_STATE_HOME="$1/state" "$KILN" project list > /dev/null
}

one() { # HOME I
    cd "$1/proj"
    HOME="$1" XDG_CONFIG_HOME="$1/config" XDG_DATA_HOME="$1/data" XDG_STATE_HOME="$1/state" NO_COLOR=1 \
        /usr/bin/time -f "%M" -o "$1/rss.$2" "$KILN" -q --format json new "add two numbers, variant $2" --lang python \
        > "$1/out.$2.json" 2> "$1/err.$2" || true
}
export -f one
export KILN

measure() { # NAME PARALLEL
    local dir="$WORK/$1"
    world "$dir"
    script $((RUNS * 5))
    local t0 t1
    t0=$(date +%s.%N)
    seq "$RUNS" | xargs -P "$2" -I{} bash -c 'one "$0" "$1"' "$dir" {}
    t1=$(date +%s.%N)
    python3 - "$dir" "$RUNS" "$1" "$t0" "$t1" <<'PY'
import glob, json, sqlite3, sys
d, runs, name, t0, t1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
status = []
for f in glob.glob(f"{d}/out.*.json"):
    try:
        doc = json.load(open(f))
    except ValueError:
        doc = {"status": "no output", "error": open(f.replace("out.", "err.").replace(".json", "")).read()}
    status.append(doc["status"])
    if doc["status"] != "succeeded" and status.count(doc["status"]) == 1:
        print(f"  a run ended {doc['status']}: {doc.get('error')}", file=sys.stderr)
ok = status.count("succeeded")
db = sqlite3.connect(f"{d}/data/kiln/kiln.db")
lines = [r[0] for r in db.execute(
    "SELECT (SELECT count(*) FROM log_lines l WHERE l.run_id = r.id AND l.stream != 'kiln'), r.log_lines_dropped FROM runs r")]
dropped = sum(r[0] for r in db.execute("SELECT log_lines_dropped FROM runs"))
over = []
by_name = {}
for run_id, in db.execute("SELECT id FROM runs"):
    prev_end = None
    for sid, stage, st, en in db.execute("SELECT id, coalesce(name, kind), started_at, finished_at FROM stages WHERE run_id = ? ORDER BY id", (run_id,)):
        model = db.execute("SELECT coalesce(sum(latency_ms), 0) FROM generations WHERE stage_id = ?", (sid,)).fetchone()[0] * 1000
        proc = db.execute("SELECT coalesce(sum(wall_ms), 0) FROM processes WHERE stage_id = ?", (sid,)).fetchone()[0] * 1000
        gap = st - prev_end if prev_end else 0
        # test_run: the sandbox's own set-up (namespaces, mounts) and the host toolchain probe
        # are process time too; only the gap before it is the engine's.
        inside = 0 if stage == "test_run" else max(0, (en - st) - model - proc)
        over.append(inside + gap)
        by_name.setdefault(stage, []).append((inside + gap) / 1000)
        prev_end = en
over.sort()
q = lambda p: over[min(len(over) - 1, int(p * len(over)))] / 1000
for n, v in sorted(by_name.items()):
    v.sort()
    print(f"  {name} {n}: p50 {v[len(v)//2]:.2f} ms p99 {v[min(len(v)-1, int(0.99*len(v)))]:.2f} ms", file=sys.stderr)
rss = max(int(open(f).read().split()[-1]) for f in glob.glob(f"{d}/rss.*"))
print(f"{name}: {ok}/{runs} succeeded, wall {t1 - t0:.1f}s, test-output lines per run {sorted(set(lines))} (dropped {dropped}), "
      f"overhead per stage p50 {q(0.5):.2f} ms p99 {q(0.99):.2f} ms (n={len(over)}), peak RSS {rss/1024:.1f} MiB")
PY
}

echo "kiln pipeline benchmark: $RUNS runs, $(nproc) cores, profile $PROFILE"
measure concurrent-8 8
measure sequential 1
