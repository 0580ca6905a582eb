#!/usr/bin/env bash
# Store benchmark: kiln's log ingest vs a plain BufWriter file, and open + read the newest 1,000
# log lines among 10,000,000 vs `tail -n 1000`, in one run. Results go in docs/benchmarks.md.
# Usage: bench/store.sh [OUT_DIR] [BIG_LINES]   (defaults: bench/out, 10000000; ~2 GB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/out}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr); $(date -u +%F)"
cargo run --quiet --release --example bench_store -- "$out" "${2:-10000000}"
