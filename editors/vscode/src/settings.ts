// The extension's settings (the `kiln.*` section VS Code stores) mapped to what kiln-lsp
// reads: the same object goes out as `initializationOptions`, with
// `workspace/didChangeConfiguration`, and as the answer to `workspace/configuration`.
// Pure: no `vscode` import, so mocha tests it outside VS Code.

/** Reads one setting by its key below `kiln.` (VS Code's `WorkspaceConfiguration.get`). */
export type Get = (key: string) => unknown;

/** The server's settings (lsp/src/settings.rs `Settings`, camelCase). */
export interface ServerSettings {
  select: string[] | null;
  ignore: string[];
  models: Record<string, string>;
  codeLens: boolean;
  runTestsOnSave: boolean;
  sandbox: { memoryMb: number | null; timeoutSecs: number | null };
}

/** The actions that take a model of their own (`kiln.models.<action>`). */
export const MODEL_ACTIONS = ["generate", "improve", "generateTests"] as const;

function strings(value: unknown): string[] {
  if (!Array.isArray(value)) {
    return [];
  }
  return value
    .filter((v): v is string => typeof v === "string")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/** A positive whole number, else `null` (kiln's config decides). */
function limit(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value >= 1
    ? Math.floor(value)
    : null;
}

function flag(value: unknown, fallback: boolean): boolean {
  return typeof value === "boolean" ? value : fallback;
}

/** The server's settings from the `kiln.*` settings. Empty values mean "kiln's config". */
export function serverSettings(get: Get): ServerSettings {
  const select = strings(get("rules.select"));
  const models: Record<string, string> = {};
  for (const action of MODEL_ACTIONS) {
    const model = get(`models.${action}`);
    if (typeof model === "string" && model.trim() !== "") {
      models[action] = model.trim();
    }
  }
  return {
    select: select.length > 0 ? select : null,
    ignore: strings(get("rules.ignore")),
    models,
    codeLens: flag(get("codeLens"), true),
    runTestsOnSave: flag(get("runTestsOnSave"), false),
    sandbox: {
      memoryMb: limit(get("sandbox.memoryMb")),
      timeoutSecs: limit(get("sandbox.timeoutSecs")),
    },
  };
}

/** Settings whose change needs a new server process rather than a notification. */
export const RESTART_KEYS = ["kiln.server.path", "kiln.server.extraEnv"];

/** The environment of kiln-lsp: the editor's plus `kiln.server.extraEnv` (strings only). */
export function serverEnv(
  base: Record<string, string | undefined>,
  extra: unknown,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v !== undefined) {
      env[k] = v;
    }
  }
  if (extra !== null && typeof extra === "object") {
    for (const [k, v] of Object.entries(extra as Record<string, unknown>)) {
      if (typeof v === "string") {
        env[k] = v;
      }
    }
  }
  return env;
}
