#!/usr/bin/env bash
# Model-client benchmark against the local test server (examples/test_llm_server.rs), in one run:
#   1. time to first token: kiln's client (ttft reported by `kiln ask --format json`) vs
#      `curl -N` (time_starttransfer) on the same request; target: kiln adds < 1 ms;
#   2. a 20,000-chunk stream parsed and recorded by `kiln ask` (whole process, database write
#      included) vs `curl -N` merely downloading it; target: >= 50,000 chunks/s.
# Usage: bench/llm.sh [runs, default 15]. Builds release binaries first. Needs curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-15}
CHUNKS=20000

cargo build --release --quiet --bin kiln --example test_llm_server
KILN=$PWD/target/release/kiln
SERVER=$PWD/target/release/examples/test_llm_server

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

"$SERVER" > "$TMP/server.out" &
SERVER_PID=$!
for _ in $(seq 50); do
    grep -q listening "$TMP/server.out" 2>/dev/null && break
    sleep 0.1
done
URL=$(awk '{print $3}' "$TMP/server.out")

mkdir -p "$TMP/config/kiln"
cat > "$TMP/config/kiln/config.toml" <<TOML
[models]
detect_ollama = false
[models.named.bench]
base_url = "$URL"
model = "test-model"
price_in_per_mtok = 1.0
price_out_per_mtok = 2.0
TOML
kiln() {
    env -i HOME="$TMP" XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data" \
        XDG_STATE_HOME="$TMP/state" PATH="$PATH" "$KILN" "$@"
}

median() { sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); if (NR%2) print a[m]; else print (a[m]+a[m+1])/2}'; }
minimum() { sort -n | head -1; }
now_ns() { date +%s%N; }

body() {
    python3 -c 'import json,sys; print(json.dumps({"model":"test-model","stream":True,"stream_options":{"include_usage":True},"messages":[{"role":"user","content":sys.argv[1]}]}))' "$1"
}
SHORT=$(body "hello")
LONG_PROMPT="#kiln-test {\"chunks_n\": $CHUNKS}"
LONG=$(body "$LONG_PROMPT")

kiln ask --no-cache "warm up" > /dev/null 2>&1

echo "== time to first token ($RUNS runs each; min is the least disturbed by other load)"
: > "$TMP/curl_ttft"; : > "$TMP/kiln_ttft"
for _ in $(seq "$RUNS"); do
    curl -sN -o /dev/null -w '%{time_starttransfer}\n' -H 'content-type: application/json' \
        -d "$SHORT" "$URL/chat/completions" | awk '{printf "%.1f\n", $1 * 1e6}' >> "$TMP/curl_ttft"
    kiln --format json ask --no-cache "hello" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ttft_us"])' >> "$TMP/kiln_ttft"
done
CURL_TTFT=$(median < "$TMP/curl_ttft")
KILN_TTFT=$(median < "$TMP/kiln_ttft")
CURL_MIN=$(minimum < "$TMP/curl_ttft")
KILN_MIN=$(minimum < "$TMP/kiln_ttft")
echo "curl -N  ttft: median ${CURL_TTFT} us, min ${CURL_MIN} us"
echo "kiln     ttft: median ${KILN_TTFT} us, min ${KILN_MIN} us"
awk -v k="$KILN_TTFT" -v c="$CURL_TTFT" -v km="$KILN_MIN" -v cm="$CURL_MIN" 'BEGIN {printf "kiln adds %.0f us (median) / %.0f us (min) to time to first token (target < 1000 us)\n", k - c, km - cm}'

echo "== $CHUNKS-chunk stream ($RUNS runs each, median)"
: > "$TMP/curl_total"; : > "$TMP/kiln_wall"; : > "$TMP/kiln_stream"; : > "$TMP/kiln_human"
for _ in $(seq "$RUNS"); do
    curl -sN -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' \
        -d "$LONG" "$URL/chat/completions" | awk '{printf "%.1f\n", $1 * 1e6}' >> "$TMP/curl_total"
    start=$(now_ns)
    kiln --format json ask --no-cache "$LONG_PROMPT" > "$TMP/long.json"
    end=$(now_ns)
    echo $(( (end - start) / 1000 )) >> "$TMP/kiln_wall"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["chunks"] == int(sys.argv[2]), d["chunks"]; print(d["latency_us"])' "$TMP/long.json" "$CHUNKS" >> "$TMP/kiln_stream"
    start=$(now_ns)
    kiln ask --no-cache "$LONG_PROMPT" > /dev/null 2>&1
    end=$(now_ns)
    echo $(( (end - start) / 1000 )) >> "$TMP/kiln_human"
done
CURL_TOTAL=$(median < "$TMP/curl_total")
KILN_WALL=$(median < "$TMP/kiln_wall")
KILN_STREAM=$(median < "$TMP/kiln_stream")
KILN_HUMAN=$(median < "$TMP/kiln_human")
rate() { awk -v n="$CHUNKS" -v us="$1" 'BEGIN {printf "%.0f", n / (us / 1e6)}'; }
echo "curl -N download only:                       ${CURL_TOTAL} us  $(rate "$CURL_TOTAL") chunks/s"
echo "kiln ask --format json, whole process:       ${KILN_WALL} us  $(rate "$KILN_WALL") chunks/s (parsed + recorded; target >= 50000)"
echo "kiln call itself (latency_ms, in process):   ${KILN_STREAM} us  $(rate "$KILN_STREAM") chunks/s"
echo "kiln ask streaming every delta to stdout:    ${KILN_HUMAN} us  $(rate "$KILN_HUMAN") chunks/s"
awk -v k="$KILN_WALL" -v c="$CURL_TOTAL" 'BEGIN {printf "kiln whole process / curl download time: %.2f\n", k / c}'
rows=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from generations").fetchone()[0])' "$TMP/data/kiln/kiln.db")
echo "generations recorded: $rows"
