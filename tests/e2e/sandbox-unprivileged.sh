#!/usr/bin/env bash
# Runs the sandbox integration tests again as an unprivileged user (uid 65534) when the suite
# runs as root: unprivileged user namespaces, no writable cgroup (rlimit fallbacks) and no host
# root anywhere. The test binary and kiln are copied to a world-readable temp dir (the
# checkout may be private); KILN_TEST_BIN points the tests at the copy. The toolchain tests are
# left out: the toolchain and cargo home under /root are not readable by uid 65534.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "sandbox-unprivileged: already unprivileged; cargo test covered this user"
    exit 0
fi
command -v setpriv >/dev/null || { echo "sandbox-unprivileged: setpriv missing (tests/setup/sandbox.sh)" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-$repo/target}
work=$(mktemp -d /tmp/kiln-e2e-nobody.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
install -m 755 "$target/debug/kiln" "$work/kiln"
# The newest integration-test binary (cargo names it it-<hash>); only its sandbox modules run.
bin=$(ls -t "$target"/debug/deps/it-* 2>/dev/null | grep -v '\.d$' | head -1)
if [ -z "$bin" ]; then
    echo "sandbox-unprivileged: no integration-test binary; run cargo test first" >&2
    exit 1
fi
install -m 755 "$bin" "$work/it"
echo "== sandbox tests as uid 65534"
if ! (cd "$work" && setpriv --reuid=65534 --regid=65534 --clear-groups \
    env -i PATH=/usr/bin:/bin HOME="$work" TMPDIR=/tmp CI="${CI:-}" KILN_TEST_BIN="$work/kiln" \
    ./it --test-threads=2 -q sandbox_isolation:: sandbox_limits:: sandbox_engine:: sandbox_ownership::); then
    echo "FAILED: sandbox tests as uid 65534"
    exit 1
fi
