// `vsce package` builds a .vsix that holds the compiled extension and its runtime dependency.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");

suite("package", function () {
  this.timeout(180_000);

  test("vsce package writes a .vsix with out/extension.js and vscode-languageclient", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-vsix-"));
    const vsix = path.join(dir, "kiln.vsix");
    const vsce = path.join(ROOT, "node_modules", ".bin", "vsce");
    execFileSync(vsce, ["package", "--allow-missing-repository", "--skip-license", "-o", vsix], {
      cwd: ROOT,
      stdio: "pipe",
    });
    const bytes = fs.readFileSync(vsix);
    // A zip's names are stored uncompressed in its headers.
    const names = bytes.toString("latin1");
    assert.strictEqual(bytes.subarray(0, 2).toString("latin1"), "PK");
    for (const name of [
      "extension/package.json",
      "extension/out/extension.js",
      "extension/out/status.js",
      "extension/node_modules/vscode-languageclient/package.json",
      "extension/readme.md",
    ]) {
      assert.ok(names.includes(name), `${name} missing from the .vsix`);
    }
    assert.ok(!names.includes("extension/src/extension.ts"), "sources are not shipped");
    assert.ok(!names.includes("extension/out/test/"), "tests are not shipped");
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
