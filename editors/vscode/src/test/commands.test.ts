// commands.ts: the arguments kiln-lsp's commands get from the palette and from code actions.
import * as assert from "assert";

import * as cmds from "../commands";

const cursorOnly: cmds.EditorState = {
  uri: "file:///w/a.py",
  cursor: { line: 7, character: 3 },
  selection: { start: { line: 7, character: 3 }, end: { line: 7, character: 3 } },
};
const withSelection: cmds.EditorState = {
  ...cursorOnly,
  selection: { start: { line: 4, character: 0 }, end: { line: 9, character: 2 } },
};

suite("commands", () => {
  test("generate and generate tests act on the function under the cursor", () => {
    for (const c of [cmds.GENERATE, cmds.GENERATE_TESTS]) {
      assert.deepStrictEqual(cmds.buildArguments(c, cursorOnly, "ignored"), {
        ok: true,
        args: [{ uri: "file:///w/a.py", line: 7 }],
      });
    }
  });

  test("improve sends the selection and the trimmed instruction", () => {
    assert.deepStrictEqual(cmds.buildArguments(cmds.IMPROVE, withSelection, "  make it iterative "), {
      ok: true,
      args: [{ uri: "file:///w/a.py", line: 4, range: withSelection.selection, instruction: "make it iterative" }],
    });
    // No selection, empty instruction: the function, and kiln decides what to improve.
    assert.deepStrictEqual(cmds.buildArguments(cmds.IMPROVE, cursorOnly, "   "), {
      ok: true,
      args: [{ uri: "file:///w/a.py", line: 7 }],
    });
  });

  test("function commands without an editor explain what to do", () => {
    const r = cmds.buildArguments(cmds.GENERATE, undefined);
    assert.strictEqual(r.ok, false);
    assert.match(r.ok ? "" : r.message, /open a file/);
  });

  test("run tests, show run and cancel need no editor", () => {
    assert.deepStrictEqual(cmds.buildArguments(cmds.RUN_TESTS, undefined), { ok: true, args: [] });
    assert.deepStrictEqual(cmds.buildArguments(cmds.RUN_TESTS, cursorOnly), { ok: true, args: [{ uri: "file:///w/a.py" }] });
    assert.deepStrictEqual(cmds.buildArguments(cmds.SHOW_RUN, cursorOnly), { ok: true, args: [] });
    assert.deepStrictEqual(cmds.buildArguments(cmds.CANCEL, undefined), { ok: true, args: [] });
  });

  test("code action arguments pass through; improve asks only when it has no instruction", () => {
    const fromAction = [{ uri: "file:///w/a.py", line: 2 }];
    assert.ok(cmds.hasArguments(fromAction));
    assert.ok(!cmds.hasArguments([]));
    assert.ok(!cmds.hasArguments([null]));
    assert.ok(cmds.wantsInstruction(cmds.IMPROVE, fromAction));
    assert.ok(!cmds.wantsInstruction(cmds.IMPROVE, [{ uri: "u", instruction: "x" }]));
    assert.ok(!cmds.wantsInstruction(cmds.GENERATE, fromAction));
    assert.deepStrictEqual(cmds.withInstruction(fromAction, " faster "), [{ uri: "file:///w/a.py", line: 2, instruction: "faster" }]);
    assert.deepStrictEqual(cmds.withInstruction(["file:///w/a.py"], "x"), [{ uri: "file:///w/a.py", instruction: "x" }]);
    assert.strictEqual(cmds.withInstruction(fromAction, ""), fromAction);
  });

  test("answers worth a message", () => {
    assert.strictEqual(cmds.describeAnswer(cmds.GENERATE, { op: 3 }), undefined);
    assert.match(cmds.describeAnswer(cmds.RUN_TESTS, { coalesced: true }) ?? "", /already running/);
    assert.strictEqual(cmds.describeAnswer(cmds.CANCEL, { cancelled: 2 }), "kiln: cancelled 2 run(s)");
    assert.match(cmds.describeAnswer(cmds.NOT_A_PROBLEM, { recorded: true }) ?? "", /recorded/);
    assert.strictEqual(cmds.describeAnswer(cmds.NOT_A_PROBLEM, null), undefined);
  });
});
