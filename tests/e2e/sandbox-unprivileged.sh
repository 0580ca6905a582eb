#!/usr/bin/env bash
# Runs the sandbox integration tests again as an unprivileged user (uid 65534) when the suite
# runs as root: unprivileged user namespaces, no writable cgroup (rlimit fallbacks) and no host
# root anywhere. The test binaries and kiln are copied to a world-readable temp dir (the
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
failed=0
for t in sandbox_isolation sandbox_limits sandbox_engine; do
    # The newest test binary of each suite (cargo names them <suite>-<hash>).
    bin=$(ls -t "$target"/debug/deps/"$t"-* 2>/dev/null | grep -v '\.d$' | head -1)
    if [ -z "$bin" ]; then
        echo "sandbox-unprivileged: no test binary for $t; run cargo test first" >&2
        failed=1
        continue
    fi
    install -m 755 "$bin" "$work/$t"
    echo "== $t as uid 65534"
    if ! (cd "$work" && setpriv --reuid=65534 --regid=65534 --clear-groups \
        env -i PATH=/usr/bin:/bin HOME="$work" TMPDIR=/tmp CI="${CI:-}" KILN_TEST_BIN="$work/kiln" \
        "./$t" --test-threads=2 -q); then
        echo "FAILED: $t as uid 65534"
        failed=1
    fi
done
exit "$failed"
