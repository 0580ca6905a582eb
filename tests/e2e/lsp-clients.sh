#!/usr/bin/env bash
# kiln-lsp against real clients: the editors/nvim plugin headless on Neovim 0.7 (Debian) and
# current Neovim, then ../shared/tools/lsp-clients/run-all.sh (Neovim 0.7 and current,
# pytest-lsp, Node vscode-jsonrpc, Emacs eglot): diagnostics arrive, a quick fix applies, and
# kiln.generate runs the real pipeline against the local model test server, reports progress
# (not eglot: it has none) and applies its edit.
# Needs tests/setup/lsp.sh. Every client must run: a missing one fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOLS="${KILN_SHARED_TOOLS:-$(cd .. && pwd)/shared/tools}"
[ -d "$TOOLS/lsp-clients" ] || TOOLS=/work/shared/tools
CACHE="$PWD/target/lsp-e2e-cache"
cargo build -q -p kiln-lsp --locked
cargo build -q --example test_llm_server --locked
LSP="$PWD/target/debug/kiln-lsp"
failed=0
for nvim in nvim "$CACHE/venv/bin/nvim"; do
    command -v "$nvim" >/dev/null || { echo "FAIL: $nvim not installed (run tests/setup/lsp.sh)"; failed=1; continue; }
    if ! HOME="$(mktemp -d)" KILN_LSP="$LSP" timeout 60 "$nvim" --headless -u NONE -i NONE -n \
        -c "luafile editors/nvim/test/smoke.lua"; then
        echo "FAIL: editors/nvim with $nvim"
        failed=1
    fi
done

# Phase 2 of every client: kiln.generate through the real pipeline. The local model test
# server answers one pass (spec, generate, tests, review, docs) per client, in the order
# run-all.sh runs them; kiln's config (KILN_CONFIG_HOME: each client gets a fresh HOME) points
# at it. `wait` makes the command answer after its edit was applied, which is what these
# scripted clients check (editors get the answer at once and the edit later).
MODEL_LOG="$(mktemp)"
CONF="$(mktemp -d)"
./target/debug/examples/test_llm_server >"$MODEL_LOG" 2>&1 &
MODEL_PID=$!
trap 'kill "$MODEL_PID" 2>/dev/null; rm -rf "$CONF" "$MODEL_LOG"' EXIT
for _ in $(seq 100); do grep -q "^listening on " "$MODEL_LOG" && break; sleep 0.1; done
BASE_URL="$(sed -n 's/^listening on //p' "$MODEL_LOG")"
[ -n "$BASE_URL" ] || { echo "FAIL: the model test server did not start: $(cat "$MODEL_LOG")"; exit 1; }
printf '%s\n' '[models]' 'detect_ollama = false' 'default = "local"' '[models.named.local]' \
    "base_url = \"$BASE_URL\"" 'model = "test-model"' 'api_key_env = "KILN_TEST_KEY"' \
    'timeout_ms = 20000' >"$CONF/config.toml"
CLIENTS="nvim nvim-new pytest node eglot"
python3 - "$BASE_URL" "$(echo $CLIENTS | wc -w)" <<'PY'
import json, sys, urllib.request
base, n = sys.argv[1], int(sys.argv[2])
code = 'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n'
tests = "from bad import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
one = [
    "# Spec\nadd(a, b) returns the sum of two integers.\n1. add(2, 3) == 5\n",
    f"```python bad.py\n{code}```\n",
    f"```python test_bad.py\n{tests}```\n",
    'Looks good.\n```json\n{"issues": [], "suggestions": [], "score": 9}\n```\n',
    "```markdown docs/bad.md\n# bad\n```\n",
]
replies = [{"chunks": [t], "tokens_in": 100, "tokens_out": 50} for t in one] * n
req = urllib.request.Request(base.removesuffix("/v1") + "/_script", json.dumps(replies).encode(),
                             {"content-type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
PY
export E2E_CACHE="$CACHE" SKIP_APT=1 NVIM_NEW=1 CLIENTS KILN_CONFIG_HOME="$CONF" KILN_TEST_KEY=sk-e2e
export E2E_FIXTURE_TEXT=$'import os\n\n\ndef add(a, b):\n    """Return the sum of a and b."""\n    pass\n'
export E2E_DIAG=PY109 E2E_ACTION="remove the unused import" E2E_GONE="import os|    pass"
export E2E_EXEC_CMD=kiln.generate E2E_EXEC_ARGS='[{"uri":"${uri}","line":4,"wait":true}]'
# eglot 1.9 has no progress support: its harness checks only the edit.
export E2E_EXPECT_APPLY_EDIT=1 E2E_EXPECT_PROGRESS=1 E2E_TIMEOUT_MS=90000
bash "$TOOLS/lsp-clients/run-all.sh" "$LSP" || failed=1
exit "$failed"
