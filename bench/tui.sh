#!/usr/bin/env bash
# Dashboard benchmark, in one run: process start to first full frame, resident memory, idle CPU
# over 10 s, and search / filter from the top of a 1,000,000-line run log to a match on its last
# line, side by side with lnav (Debian package) on the same lines as a file.
# The database: 1,000 projects, 10,000 runs, 10,000,000 log lines (9,000,000 over the runs plus
# the 1,000,000-line run). Results go in docs/benchmarks.md.
# Usage: bench/tui.sh [OUT_DIR] [PROJECTS RUNS LINES_PER_RUN BIG_LINES]
# Env: PROFILE=release (default; `debug` reuses the debug build when a release build is too slow
# to make, and says so in the numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/out/tui}
shift || true
command -v tmux >/dev/null || apt-get install -y -qq tmux >/dev/null
command -v lnav >/dev/null || { apt-get update -qq && apt-get install -y -qq lnav >/dev/null; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $(date -u +%F)"
profile=${PROFILE:-release}
flag=--release; [ "$profile" = debug ] && flag=
echo "build profile: $profile"
cargo build --quiet $flag --bin kiln --example bench_tui
kiln=$(realpath "target/$profile/kiln")
"target/$profile/examples/bench_tui" "$out" "$@"
out=$(realpath "$out")
home=$(mktemp -d /tmp/kiln-bench-tui.XXXXXX)
trap 'tmux kill-session -t kiln-bench 2>/dev/null; rm -rf "$home"' EXIT
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
wait_for() { # text [timeout_s]
    local deadline=$(( $(date +%s) + ${2:-120} ))
    until tmux capture-pane -p -t kiln-bench | grep -qF -- "$1"; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout waiting for '$1'"; tmux capture-pane -p -t kiln-bench; exit 1; }
        sleep 0.005
    done
}
t0=$(now)
tmux new-session -d -s kiln-bench -x 160 -y 48 \
    "exec env -i HOME=$home LANG=C.UTF-8 TERM=xterm-256color $kiln --db $out/kiln.db"
wait_for "aaa-big"
wait_for "project-0000"
t1=$(now)
echo "start to first full frame: $(ms "$t0" "$t1") ms (target < 100 ms; includes tmux start and capture polling)"
pid=$(tmux display-message -p -t kiln-bench '#{pane_pid}')
sleep 1
echo "resident memory after the first frame: $(awk '/VmRSS/{printf "%.1f MB", $2/1024}' /proc/$pid/status) (target < 60 MB)"
ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
c0=$(ticks); sleep 10; c1=$(ticks)
hz=$(getconf CLK_TCK)
echo "idle CPU over 10 s: $(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{printf "%.2f%%", (b-a)/hz/10*100}') (target < 1%)"
tmux send-keys -t kiln-bench Enter
wait_for "2 Runs: aaa-big"
tmux send-keys -t kiln-bench Enter
wait_for "sandbox"
tmux send-keys -t kiln-bench 4
wait_for "1000000 lines"
tmux send-keys -t kiln-bench -l "/needle-last"
t0=$(now); tmux send-keys -t kiln-bench Enter
wait_for "needle-last 1 hits"
t1=$(now)
kiln_search=$(ms "$t0" "$t1")
tmux send-keys -t kiln-bench -l "&needle-last"
t0=$(now); tmux send-keys -t kiln-bench Enter
wait_for "(999999 hidden)"
t1=$(now)
kiln_filter=$(ms "$t0" "$t1")
tmux send-keys -t kiln-bench q
t0=$(now); lnav -n -c '/needle-last' "$out/big.log" >/dev/null; t1=$(now)
lnav_search=$(ms "$t0" "$t1")
t0=$(now); lnav -n -c ':filter-in needle-last' "$out/big.log" >/dev/null; t1=$(now)
lnav_filter=$(ms "$t0" "$t1")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == 0) a = 1; printf "%.2f", b / a }'; }
echo "search to the last line of 1,000,000: kiln $kiln_search ms, lnav $lnav_search ms (lnav/kiln = $(ratio "$kiln_search" "$lnav_search"))"
echo "filter 1,000,000 to the last line:    kiln $kiln_filter ms, lnav $lnav_filter ms (lnav/kiln = $(ratio "$kiln_filter" "$lnav_filter"))"
echo "(kiln: from Enter to the result on screen, the log already open; lnav -n: whole process, including indexing the file)"
