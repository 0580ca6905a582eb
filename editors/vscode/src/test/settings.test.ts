// settings.ts: the `kiln.*` settings → what kiln-lsp's `Settings` deserializes.
import * as assert from "assert";

import { serverEnv, serverSettings } from "../settings";

function getter(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

suite("settings", () => {
  test("defaults leave every decision to kiln's config", () => {
    assert.deepStrictEqual(serverSettings(getter({})), {
      select: null,
      ignore: [],
      models: {},
      codeLens: true,
      runTestsOnSave: false,
      sandbox: { memoryMb: null, timeoutSecs: null },
    });
  });

  test("models per action, rules and limits map to the server's names", () => {
    const s = serverSettings(
      getter({
        "models.generate": "fast",
        "models.improve": " ",
        "models.generateTests": "local ",
        "models.unknown": "x",
        "rules.select": ["PY1", " ", "RS"],
        "rules.ignore": ["PY109", 3],
        "sandbox.memoryMb": 512,
        "sandbox.timeoutSecs": 30.7,
        codeLens: false,
        runTestsOnSave: true,
      }),
    );
    assert.deepStrictEqual(s.models, { generate: "fast", generateTests: "local" });
    assert.deepStrictEqual(s.select, ["PY1", "RS"]);
    assert.deepStrictEqual(s.ignore, ["PY109"]);
    assert.deepStrictEqual(s.sandbox, { memoryMb: 512, timeoutSecs: 30 });
    assert.strictEqual(s.codeLens, false);
    assert.strictEqual(s.runTestsOnSave, true);
  });

  test("nonsense limits and flags fall back instead of reaching the server", () => {
    const s = serverSettings(
      getter({ "sandbox.memoryMb": 0, "sandbox.timeoutSecs": "10", codeLens: "no", "rules.select": "PY" }),
    );
    assert.deepStrictEqual(s.sandbox, { memoryMb: null, timeoutSecs: null });
    assert.strictEqual(s.codeLens, true);
    assert.strictEqual(s.select, null);
  });

  test("the result is what serde reads: JSON round trip keeps every key", () => {
    const s = serverSettings(getter({ "sandbox.memoryMb": 256 }));
    assert.deepStrictEqual(Object.keys(JSON.parse(JSON.stringify(s))).sort(), [
      "codeLens",
      "ignore",
      "models",
      "runTestsOnSave",
      "sandbox",
      "select",
    ]);
  });

  test("extraEnv adds strings to the editor's environment", () => {
    const env = serverEnv({ PATH: "/bin", GONE: undefined }, { RUST_LOG: "debug", BAD: 1 });
    assert.deepStrictEqual(env, { PATH: "/bin", RUST_LOG: "debug" });
    assert.deepStrictEqual(serverEnv({ A: "1" }, null), { A: "1" });
  });
});
