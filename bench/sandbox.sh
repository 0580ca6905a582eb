#!/usr/bin/env bash
# Sandbox benchmark: kiln vs bubblewrap (comparable isolation) vs plain unshare, side by side in
# one run. Usage: bench/sandbox.sh [path/to/kiln]   (default: target/release/kiln, else debug)
# Needs bwrap (Debian package bubblewrap) and python3. Prints a Markdown table for
# docs/benchmarks.md. Env: N (runs per case, default 50).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
kiln=${1:-}
if [ -z "$kiln" ]; then
    kiln=$repo/target/release/kiln
    [ -x "$kiln" ] || kiln=$repo/target/debug/kiln
fi
# bubblewrap (Debian package `bubblewrap`) is the peer; the test setup installs it when missing.
command -v bwrap >/dev/null || bash "$repo/tests/setup/sandbox.sh"
command -v bwrap >/dev/null || { echo "bench: install bubblewrap first" >&2; exit 1; }
# Many runs from one long-lived process through the engine API (examples/sandbox_runs.rs).
api_bin=${API_BIN:-$(dirname "$kiln")/examples/sandbox_runs}
if [ ! -x "$api_bin" ]; then
    profile=$([ "$(basename "$(dirname "$kiln")")" = release ] && echo --release || true)
    (cd "$repo" && cargo build -q $profile --example sandbox_runs)
fi
N=${N:-50}
work=$(mktemp -d /tmp/kiln-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
export KILN_DATA_HOME=$work/data KILN_STATE_HOME=$work/state KILN_CONFIG_HOME=$work/config

ro_binds=()
for d in /usr /bin /sbin /lib /lib64 /etc; do [ -e "$d" ] && ro_binds+=(--ro-bind "$d" "$d"); done
BWRAP=(bwrap --unshare-all --die-with-parent --new-session --clearenv "${ro_binds[@]}"
       --tmpfs /tmp --proc /proc --dev /dev --chdir /tmp --)
UNSHARE=(unshare --user --map-root-user --net --mount --pid --fork --)
KILN=("$kiln" sandbox run --)
KILN_BIG=("$kiln" sandbox run --output 200M --output-lines 2000000 --timeout 120s --cpu 120s --)

FLOOD='import sys
w = sys.stdout.write
for i in range(1000000): w("%07d kiln output flood line....\\n" % i)'
RAW='import os
b = b"x" * (1 << 20)
for _ in range(100): os.write(1, b)'

python3 - "$N" "$kiln" "$api_bin" <<PYEOF
import json, statistics, subprocess, sys, time
n, kiln, api_bin = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bwrap = """${BWRAP[*]}""".split()
unshare = """${UNSHARE[*]}""".split()
kiln_run = """${KILN[*]}""".split()
kiln_big = """${KILN_BIG[*]}""".split()
flood, raw = '''$FLOOD''', '''$RAW'''

def median_ms(cmd, runs, out=subprocess.DEVNULL):
    check = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check.returncode != 0:
        sys.exit(f"bench: {cmd[0]} failed ({check.returncode}): {check.stderr.decode()[-500:]}")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)

rows = []
for label, payload in [("/bin/true", ["/bin/true"]), ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"])]:
    b = median_ms(bwrap + payload, n)
    u = median_ms(unshare + payload, n)
    k = median_ms(kiln_run + payload, n)
    rows.append((f"start-to-exit {label} (median of {n})", b, u, k))
api_runs = 200
api = json.loads(subprocess.run([api_bin, str(api_runs)], check=True, capture_output=True).stdout)
rows.insert(0, (f"{api_runs} sequential /bin/true runs through the engine API, per run (median)", rows[0][1], rows[0][2], api["median_ms"]))
last = subprocess.run(kiln_run[:1] + ["--format", "json"] + kiln_run[1:] + ["/bin/true"], capture_output=True, text=True)
last_summary = json.loads(last.stderr.strip().splitlines()[-1])
phases = last_summary["phases"]
statements = last_summary.get("db_statements")
runs = max(3, n // 10)
b = median_ms(bwrap + ["/usr/bin/python3", "-c", flood], runs)
k = median_ms(kiln_big + ["/usr/bin/python3", "-c", flood], runs)
rows.append((f"10^6 lines (30 MiB): bwrap to /dev/null vs kiln captured + stored (median of {runs})", b, None, k))
k = median_ms(kiln_big + ["/usr/bin/python3", "-c", raw], runs)
b = median_ms(bwrap + ["/usr/bin/python3", "-c", raw], runs)
rows.append((f"100 MB raw bytes (median of {runs})", b, None, k))

print(f"kiln binary: {kiln}\n")
print("| case | bwrap ms | unshare ms | kiln ms | kiln / bwrap |")
print("|---|---|---|---|---|")
for label, b, u, k in rows:
    us = f"{u:.1f}" if u is not None else "-"
    print(f"| {label} | {b:.1f} | {us} | {k:.1f} | {k / b:.2f}x |")
print(f"\nengine API, median per phase of {api_runs} runs (us): " + ", ".join(f"{k[:-3]} {api[k]}" for k in ["prepare_us", "spawn_us", "setup_us", "sandbox_us", "teardown_us"]))
print("one CLI run of /bin/true, phases (us): " + ", ".join(f"{k[:-3]} {v}" for k, v in phases.items()))
print(f"one CLI run of /bin/true, SQL statements: {statements}")
print(f"\n100 MB captured at {100 / (rows[-1][3] / 1000):.0f} MB/s (kiln, including sandbox start-up)")
PYEOF
