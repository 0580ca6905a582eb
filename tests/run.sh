#!/usr/bin/env bash
# Runs every kiln test: installs what the tests need (tests/setup/*.sh), runs the Rust test
# suites, then the end-to-end scripts (tests/e2e/*.sh). Works on a fresh Debian machine that has
# only the Rust toolchain. Usage: ./tests/run.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

for setup in tests/setup/*.sh; do
    [ -e "$setup" ] || continue
    echo "== setup: $setup"
    bash "$setup"
done

echo "== cargo test"
cargo build --workspace --all-targets --locked
cargo test --workspace --locked "$@"
# The memory-bound tests move 100 MB and 20 MB of output: CPU-heavy on 2 cores, so they run
# after the parallel suite (kiln's own peak is VmHWM; see docs/sandbox.md).
cargo test --locked --test it -- --ignored --exact --test-threads=1 \
    sandbox_engine::hundred_megabytes_of_output_in_bounded_memory \
    sandbox_recording::lines_past_the_queue_bound_are_counted_and_reported

failed=0
for e2e in tests/e2e/*.sh; do
    [ -e "$e2e" ] || continue
    echo "== e2e: $e2e"
    if ! bash "$e2e"; then
        echo "FAILED: $e2e"
        failed=1
    fi
done
exit "$failed"
