// server.ts: finding kiln-lsp and the config file.
import * as assert from "assert";

import { configFile, resolveServer } from "../server";

const machine = (files: string[]) => ({
  home: "/home/u",
  workspaceFolder: "/w",
  pathVar: "/usr/bin:/home/u/.cargo/bin",
  exists: (f: string) => files.includes(f),
});

suite("server", () => {
  test("the default is kiln-lsp on PATH", () => {
    assert.deepStrictEqual(resolveServer(undefined, machine(["/home/u/.cargo/bin/kiln-lsp"])), {
      ok: true,
      command: "/home/u/.cargo/bin/kiln-lsp",
    });
    assert.deepStrictEqual(resolveServer("", machine(["/usr/bin/kiln-lsp"])), { ok: true, command: "/usr/bin/kiln-lsp" });
  });

  test("paths expand ~ and ${workspaceFolder}; relative paths are the workspace's", () => {
    assert.deepStrictEqual(resolveServer("~/bin/kiln-lsp", machine(["/home/u/bin/kiln-lsp"])), {
      ok: true,
      command: "/home/u/bin/kiln-lsp",
    });
    assert.deepStrictEqual(
      resolveServer("${workspaceFolder}/target/debug/kiln-lsp", machine(["/w/target/debug/kiln-lsp"])),
      { ok: true, command: "/w/target/debug/kiln-lsp" },
    );
    assert.deepStrictEqual(resolveServer("./target/debug/kiln-lsp", machine(["/w/target/debug/kiln-lsp"])), {
      ok: true,
      command: "/w/target/debug/kiln-lsp",
    });
  });

  test("a missing server says how to install it", () => {
    const r = resolveServer(undefined, machine([]));
    assert.strictEqual(r.ok, false);
    assert.match(r.ok ? "" : r.message, /cannot find 'kiln-lsp' on PATH; install it with `cargo install --path lsp`/);
    const p = resolveServer("/opt/kiln-lsp", machine([]));
    assert.match(p.ok ? "" : p.message, /'\/opt\/kiln-lsp' \(kiln.server.path\) is not an executable file/);
  });

  test("the config: the project's kiln.toml, else the user config as kiln resolves it", () => {
    assert.strictEqual(configFile({ HOME: "/home/u" }, "/w", (f) => f === "/w/kiln.toml"), "/w/kiln.toml");
    assert.strictEqual(configFile({ HOME: "/home/u" }, "/w", () => false), "/home/u/.config/kiln/config.toml");
    assert.strictEqual(configFile({ HOME: "/h", XDG_CONFIG_HOME: "/x" }, undefined, () => false), "/x/kiln/config.toml");
    assert.strictEqual(configFile({ HOME: "/h", XDG_CONFIG_HOME: "rel" }, undefined, () => false), "/h/.config/kiln/config.toml");
    assert.strictEqual(configFile({ KILN_CONFIG_HOME: "/k" }, undefined, () => false), "/k/config.toml");
    assert.strictEqual(configFile({}, undefined, () => false), undefined);
  });
});
