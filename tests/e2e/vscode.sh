#!/usr/bin/env bash
# editors/vscode: compiles the extension, runs its tests (settings mapping, status bar, command
# arguments, server lookup, and `vsce package` into a temp dir), then packages the .vsix a user
# installs and checks it is there. Needs tests/setup/vscode.sh (npm ci).
set -euo pipefail
cd "$(dirname "$0")/../../editors/vscode"
[ -d node_modules ] || { echo "FAIL: editors/vscode/node_modules missing (run tests/setup/vscode.sh)"; exit 1; }
npm run --silent compile
npm test --silent
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx --no-install vsce package --allow-missing-repository --skip-license -o "$out/kiln.vsix" >/dev/null
[ -s "$out/kiln.vsix" ] || { echo "FAIL: vsce package wrote no .vsix"; exit 1; }
echo "editors/vscode: compiled, tested, packaged ($(du -k "$out/kiln.vsix" | cut -f1) KiB)"
