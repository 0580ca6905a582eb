#!/usr/bin/env bash
# kiln-lsp against real clients: the editors/nvim plugin headless on Neovim 0.7 (Debian) and
# current Neovim, then ../shared/tools/lsp-clients/run-all.sh (Neovim 0.7 and current,
# pytest-lsp, Node vscode-jsonrpc, Emacs eglot): diagnostics arrive and a quick fix applies.
# Needs tests/setup/lsp.sh. Every client must run: a missing one fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOLS="${KILN_SHARED_TOOLS:-$(cd .. && pwd)/shared/tools}"
[ -d "$TOOLS/lsp-clients" ] || TOOLS=/work/shared/tools
CACHE="$PWD/target/lsp-e2e-cache"
cargo build -q -p kiln-lsp --locked
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
export E2E_CACHE="$CACHE" SKIP_APT=1 NVIM_NEW=1
export E2E_FIXTURE_TEXT=$'import os\n\n\ndef f():\n    """Doc."""\n    return 1\n'
export E2E_DIAG=PY109 E2E_ACTION="remove the unused import" E2E_GONE="import os"
bash "$TOOLS/lsp-clients/run-all.sh" "$LSP" || failed=1
exit "$failed"
