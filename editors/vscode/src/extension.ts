// The VS Code side of kiln: starts kiln-lsp over stdio with vscode-languageclient, keeps its
// settings in step, adds argument building (and the improve input box) to the server's
// commands when they run from the palette, and shows `kiln/status` in the status bar.
// Progress (`window/workDoneProgress`), `workspace/applyEdit` and `window/showDocument` are
// vscode-languageclient's: the server uses them as the client's capabilities allow.
// Everything decidable without VS Code lives in the pure modules next to this one.
import * as fs from "fs";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
} from "vscode-languageclient/node";

import * as cmds from "./commands";
import { configFile, resolveServer } from "./server";
import { RESTART_KEYS, serverEnv, serverSettings } from "./settings";
import { parseStatus, STARTING, statusView, StatusView, stoppedView } from "./status";

const LANGUAGES = ["python", "rust", "javascript", "javascriptreact", "typescript", "typescriptreact"];

let client: LanguageClient | undefined;
let item: vscode.StatusBarItem;
let output: vscode.OutputChannel;

function kilnConfig(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration("kiln");
}

function currentSettings() {
  const config = kilnConfig();
  return serverSettings((key) => config.get(key));
}

function workspaceFolder(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function show(view: StatusView): void {
  item.text = view.text;
  item.tooltip = view.tooltip;
  item.command = view.command;
  item.backgroundColor = view.background ? new vscode.ThemeColor(view.background) : undefined;
  item.show();
}

function editorState(): cmds.EditorState | undefined {
  const e = vscode.window.activeTextEditor;
  if (e === undefined) {
    return undefined;
  }
  const s = e.selection;
  return {
    uri: client?.code2ProtocolConverter.asUri(e.document.uri) ?? e.document.uri.toString(),
    cursor: { line: s.active.line, character: s.active.character },
    selection: {
      start: { line: s.start.line, character: s.start.character },
      end: { line: s.end.line, character: s.end.character },
    },
  };
}

async function askInstruction(): Promise<string | undefined | null> {
  const answer = await vscode.window.showInputBox({
    title: "kiln: Improve",
    prompt: "What should change? (empty: let kiln decide)",
    placeHolder: "e.g. handle empty input; make it iterative",
    ignoreFocusOut: true,
  });
  // `undefined` is Escape: the user gave up, so nothing runs.
  return answer === undefined ? null : answer;
}

/** vscode-languageclient registers the server's commands; this runs before each is sent. */
async function executeCommand(
  command: string,
  args: unknown[],
  next: (command: string, args: unknown[]) => unknown,
): Promise<unknown> {
  let sent = args;
  if (!cmds.hasArguments(args)) {
    let instruction: string | undefined;
    if (command === cmds.IMPROVE) {
      const answer = await askInstruction();
      if (answer === null) {
        return undefined;
      }
      instruction = answer;
    }
    const built = cmds.buildArguments(command, editorState(), instruction);
    if (!built.ok) {
      void vscode.window.showWarningMessage(built.message);
      return undefined;
    }
    sent = built.args;
  } else if (cmds.wantsInstruction(command, args)) {
    const answer = await askInstruction();
    if (answer === null) {
      return undefined;
    }
    sent = cmds.withInstruction(args, answer);
  }
  const answer = await next(command, sent);
  const summary = cmds.describeAnswer(command, answer);
  if (summary !== undefined) {
    void vscode.window.showInformationMessage(summary);
  }
  return answer;
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const config = kilnConfig();
  const resolved = resolveServer(config.get("server.path"), {
    home: process.env.HOME,
    workspaceFolder: workspaceFolder(),
    pathVar: process.env.PATH,
    exists: executable,
  });
  if (!resolved.ok) {
    show(stoppedView(resolved.message));
    void vscode.window.showErrorMessage(resolved.message, "Open settings").then((choice) => {
      if (choice) {
        void vscode.commands.executeCommand("workbench.action.openSettings", "kiln.server.path");
      }
    });
    return;
  }
  show(STARTING);
  const serverOptions: ServerOptions = {
    command: resolved.command,
    options: { env: serverEnv(process.env, config.get("server.extraEnv")) },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: "file", language })),
    initializationOptions: currentSettings(),
    outputChannel: output,
    middleware: {
      executeCommand,
      workspace: {
        // The server asks for section `kiln`: answer with its shape, not VS Code's.
        configuration: (params, token, next) =>
          params.items.every((i) => i.section === "kiln")
            ? params.items.map(() => currentSettings())
            : next(params, token),
      },
    },
  };
  const c = new LanguageClient("kiln", "kiln", serverOptions, clientOptions);
  client = c;
  c.onDidChangeState((e) => {
    if (e.newState === State.Stopped) {
      show(stoppedView("kiln: kiln-lsp stopped (see the kiln output); click to restart"));
    }
  });
  try {
    await c.start();
  } catch (e) {
    const message = `kiln: cannot start '${resolved.command}': ${e instanceof Error ? e.message : String(e)}`;
    show(stoppedView(message));
    void vscode.window.showErrorMessage(message);
    return;
  }
  context.subscriptions.push(c.onNotification("kiln/status", (params: unknown) => show(statusView(parseStatus(params)))));
}

async function stop(): Promise<void> {
  const c = client;
  client = undefined;
  if (c !== undefined) {
    await c.stop().catch(() => undefined);
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("kiln");
  item = vscode.window.createStatusBarItem("kiln.status", vscode.StatusBarAlignment.Left, 0);
  item.name = "kiln";
  context.subscriptions.push(output, item);
  context.subscriptions.push(
    vscode.commands.registerCommand("kiln.restart", async () => {
      await stop();
      await start(context);
    }),
    vscode.commands.registerCommand("kiln.openConfig", async () => {
      const file = configFile(process.env, workspaceFolder(), (f) => fs.existsSync(f));
      if (file === undefined) {
        void vscode.window.showWarningMessage("kiln: no HOME: set KILN_CONFIG_HOME to say where the config is");
        return;
      }
      if (!fs.existsSync(file)) {
        // A new file opens unsaved; nothing is written until the user saves.
        await vscode.window.showTextDocument(vscode.Uri.file(file).with({ scheme: "untitled" }));
        return;
      }
      await vscode.window.showTextDocument(vscode.Uri.file(file));
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration("kiln")) {
        return;
      }
      if (RESTART_KEYS.some((k) => e.affectsConfiguration(k))) {
        await stop();
        await start(context);
      } else if (client?.isRunning()) {
        await client.sendNotification(DidChangeConfigurationNotification.type, {
          settings: { kiln: currentSettings() },
        });
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await stop();
}
