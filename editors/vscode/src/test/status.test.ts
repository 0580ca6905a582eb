// status.ts: `kiln/status` → the status-bar item.
import * as assert from "assert";

import { parseStatus, statusView, stoppedView } from "../status";

suite("status", () => {
  test("ok, idle: a check and the last run on click", () => {
    const v = statusView(parseStatus({ health: "ok", busy: false, message: "kiln: ready" }));
    assert.strictEqual(v.text, "$(check) kiln");
    assert.strictEqual(v.tooltip, "kiln: ready");
    assert.strictEqual(v.command, "kiln.showRun");
    assert.strictEqual(v.background, undefined);
  });

  test("busy: a spinner, and a click cancels", () => {
    const v = statusView(parseStatus({ health: "ok", busy: true, message: "kiln: 1 run(s) in progress" }));
    assert.strictEqual(v.text, "$(sync~spin) kiln");
    assert.strictEqual(v.command, "kiln.cancel");
    assert.match(v.tooltip, /1 run\(s\) in progress \(click to cancel\)/);
  });

  test("a warning with a fix command runs that command", () => {
    const v = statusView(
      parseStatus({
        health: "warning",
        busy: false,
        message: "no model configured: diagnostics work, generate and improve need a model",
        command: "kiln.openConfig",
      }),
    );
    assert.strictEqual(v.text, "$(warning) kiln");
    assert.strictEqual(v.command, "kiln.openConfig");
    assert.strictEqual(v.background, "statusBarItem.warningBackground");
  });

  test("error health colours the item", () => {
    const v = statusView(parseStatus({ health: "error", busy: false, message: "bad config", command: "kiln.openConfig" }));
    assert.strictEqual(v.text, "$(error) kiln");
    assert.strictEqual(v.background, "statusBarItem.errorBackground");
  });

  test("malformed params are an error status, not a throw", () => {
    assert.deepStrictEqual(parseStatus(null), { health: "error", busy: false, message: "kiln: malformed status", command: undefined });
    assert.strictEqual(parseStatus({ health: "great", message: 3 }).health, "error");
    assert.strictEqual(parseStatus({ health: "ok", command: "" }).command, undefined);
  });

  test("stopped: a click restarts", () => {
    assert.strictEqual(stoppedView("gone").command, "kiln.restart");
  });
});
