#!/usr/bin/env bash
# Runs the shared escape/abuse battery (../shared/tools/sandbox-battery.sh) against
# `kiln sandbox run`, with the default limits, as the current user and, when that is root, also
# as an unprivileged user (uid 65534). Fails unless every payload is contained, the payloads
# demonstrably ran (a sandbox that cannot start the payload would "contain" everything), and
# every skip is one the battery takes because the host itself lacks the capability.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# ../shared beside the checkout (CI); ../../shared for git worktrees one level deeper.
battery=${KILN_SHARED_DIR:-$repo/../shared}/tools/sandbox-battery.sh
[ -f "$battery" ] || [ -n "${KILN_SHARED_DIR:-}" ] || battery=$repo/../../shared/tools/sandbox-battery.sh
if [ ! -f "$battery" ]; then
    echo "sandbox-battery: $battery not found (expected ../shared beside the repo)" >&2
    exit 1
fi
kiln=${KILN_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/kiln}
[ -x "$kiln" ] || { echo "sandbox-battery: build kiln first ($kiln missing)" >&2; exit 1; }

# A copy everyone can execute (the checkout may live under a private home directory).
work=$(mktemp -d /tmp/kiln-e2e-battery.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$kiln" "$work/kiln"
chmod 755 "$work/kiln"
cp "$battery" "$work/battery.sh"
chmod 755 "$work/battery.sh"

failed=0
run_battery() { # label, command prefix...
    local label=$1 out
    shift
    out=$work/$label.out
    echo "== battery ($label)"
    mkdir -p "$work/$label"
    chmod 777 "$work/$label"
    "$@" KILN_DATA_HOME="$work/$label/data" KILN_STATE_HOME="$work/$label/state" \
        KILN_CONFIG_HOME="$work/$label/config" bash "$work/battery.sh" -n "kiln-$label" -- "$work/kiln" sandbox run --ro @PAYLOADS@ -- \
        >"$out" 2>&1
    cat "$out"
    if ! grep -q '^[0-9]* passed, 0 failed$' "$out"; then
        echo "FAIL ($label): some payload escaped"; failed=1
    fi
    while read -r test _ detail; do
        case "$test" in
            dns) [[ $detail == "host itself cannot resolve" ]] && continue ;;
            read_shadow) [[ $detail == "host user cannot read /etc/shadow either" && $label != root ]] && continue ;;
        esac
        echo "FAIL ($label): $test skipped ($detail)"; failed=1
    done < <(awk '$2 == "SKIP"' "$out")
    # Evidence that the payloads ran inside the sandbox rather than failing to start.
    grep -Eq '^fork_bomb +PASS stopped after [1-9][0-9]* forks' "$out" \
        || { echo "FAIL ($label): fork bomb did not run"; failed=1; }
    grep -Eq '^mem_bomb +PASS stopped at [1-9][0-9]* MiB' "$out" \
        || { echo "FAIL ($label): memory bomb did not run"; failed=1; }
    grep -Eq '^output_flood +PASS capped at [1-9][0-9]* lines' "$out" \
        || { echo "FAIL ($label): output flood did not run"; failed=1; }
    grep -Eq '^disk_fill +PASS stopped at [1-9][0-9]* MiB' "$out" \
        || { echo "FAIL ($label): disk fill did not run"; failed=1; }
}

if [ "$(id -u)" -eq 0 ]; then
    run_battery root env
    if command -v setpriv >/dev/null; then
        run_battery nobody setpriv --reuid=65534 --regid=65534 --clear-groups env
    else
        echo "FAIL: setpriv missing (tests/setup/sandbox.sh installs util-linux)"; failed=1
    fi
else
    run_battery user env
fi
exit "$failed"
