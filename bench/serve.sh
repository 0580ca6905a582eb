#!/usr/bin/env bash
# Serve benchmark: the same Flask app served directly on the host and through `kiln serve`
# (sandbox + host listener + in-sandbox forwarder), measured with wrk in one run.
# Usage: bench/serve.sh [path/to/kiln]   (default: target/release/kiln, else debug)
# Installs wrk (Debian package) when missing and the Flask venv (tests/setup/serve.sh).
# Env: DURATION (wrk seconds per case, default 10), CONNS (default 16), THREADS (default 2),
# ROUNDS (alternating rounds of both cases, default 2).
# Targets: kiln >= 0.8x direct requests/s, p99 <= 1.5x direct. Prints a Markdown table.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
kiln=${1:-}
if [ -z "$kiln" ]; then
    kiln=$repo/target/release/kiln
    [ -x "$kiln" ] || kiln=$repo/target/debug/kiln
fi
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bash "$repo/tests/setup/serve.sh"
venv=$repo/target/serve-venv
DURATION=${DURATION:-10} CONNS=${CONNS:-16} THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-2}
work=$(mktemp -d /tmp/kiln-bench-serve.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
chmod 755 "$work"; mkdir -m 755 "$work/app"
cat > "$work/app/app.py" <<'PY'
from flask import Flask
app = Flask(__name__)
@app.get("/")
def index():
    return "hello from the benchmark\n"
PY
chmod 644 "$work/app/app.py"
export KILN_DATA_HOME=$work/data KILN_STATE_HOME=$work/state KILN_CONFIG_HOME=$work/config
export PATH=$venv/bin:/usr/local/bin:/usr/bin:/bin
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; echo "bench: port $1 never came up" >&2; exit 1; }

direct=$(free_port)
(cd "$work/app" && exec python3 -m flask --app app run --host 127.0.0.1 --port "$direct" >"$work/direct.log" 2>&1) &
pids+=($!)
through=$(free_port)
"$kiln" serve "$work/app" --port "$through" --ro "$venv" --cpu 1h --pids 512 --health / >"$work/kiln.out" 2>"$work/kiln.log" &
pids+=($!)
wait_up "$direct"; wait_up "$through"

measure() { # port -> "rps p99_ms"
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$1/" >"$work/wrk.$1" 2>&1
    awk '
        function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
        /Requests\/sec/ { rps = $2 }
        /^ +99%/ { p99 = ms($2) }
        END { printf "%s %s\n", rps, p99 }' "$work/wrk.$1"
}
# Alternate the cases (ROUNDS each) so a change in the machine's load hits both alike; report
# the mean requests/s and the mean p99.
d_rps=0 d_p99=0 k_rps=0 k_p99=0
for _ in $(seq "$ROUNDS"); do
    read -r r p < <(measure "$direct"); d_rps=$(awk -v a="$d_rps" -v b="$r" 'BEGIN{print a+b}'); d_p99=$(awk -v a="$d_p99" -v b="$p" 'BEGIN{print a+b}')
    read -r r p < <(measure "$through"); k_rps=$(awk -v a="$k_rps" -v b="$r" 'BEGIN{print a+b}'); k_p99=$(awk -v a="$k_p99" -v b="$p" 'BEGIN{print a+b}')
done
mean() { awk -v a="$1" -v n="$ROUNDS" 'BEGIN{print a/n}'; }
d_rps=$(mean "$d_rps") d_p99=$(mean "$d_p99") k_rps=$(mean "$k_rps") k_p99=$(mean "$k_p99")
errors=$(grep -h -E "Non-2xx|Socket errors" "$work/wrk.$direct" "$work/wrk.$through" || true)

echo "| case | requests/s | p99 (ms) |"
echo "|---|---:|---:|"
printf '| flask direct on the host | %.0f | %.2f |\n' "$d_rps" "$d_p99"
printf '| flask through kiln serve | %.0f | %.2f |\n' "$k_rps" "$k_p99"
awk -v a="$k_rps" -v b="$d_rps" -v c="$k_p99" -v d="$d_p99" 'BEGIN {
    t = a / b; l = c / d
    printf "\nthroughput ratio kiln/direct: %.2fx (target >= 0.80x: %s)\n", t, (t >= 0.8 ? "met" : "MISSED")
    printf "p99 ratio kiln/direct: %.2fx (target <= 1.50x: %s)\n", l, (l <= 1.5 ? "met" : "MISSED")
}'
[ -z "$errors" ] || { echo; echo "wrk reported: $errors"; }
echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, $ROUNDS alternating rounds; load average: $(cut -d" " -f1-3 /proc/loadavg); kiln: $kiln"
