// The `kiln/status` notification (lsp/src/status.rs) as a status-bar item: an icon per
// health, a spinner while busy, the server's message as the tooltip, and its fix command.
// Pure: no `vscode` import.

export type Health = "ok" | "warning" | "error";

/** The params of `kiln/status`. */
export interface Status {
  health: Health;
  busy: boolean;
  message: string;
  command?: string;
}

/** What the status-bar item shows. */
export interface StatusView {
  text: string;
  tooltip: string;
  /** Run on click. */
  command: string | undefined;
  /** The theme colour of the item's background (`statusBarItem.*Background`), if any. */
  background: "statusBarItem.errorBackground" | "statusBarItem.warningBackground" | undefined;
}

const ICONS: Record<Health, string> = { ok: "$(check)", warning: "$(warning)", error: "$(error)" };

/** Reads a notification's params; anything malformed is an error status, never a throw. */
export function parseStatus(params: unknown): Status {
  const p = (params ?? {}) as Record<string, unknown>;
  const health: Health = p.health === "warning" || p.health === "error" ? p.health : p.health === "ok" ? "ok" : "error";
  const message = typeof p.message === "string" ? p.message : health === "ok" ? "kiln: ready" : "kiln: malformed status";
  return {
    health,
    busy: p.busy === true,
    message,
    command: typeof p.command === "string" && p.command !== "" ? p.command : undefined,
  };
}

export function statusView(s: Status): StatusView {
  const icon = s.busy ? "$(sync~spin)" : ICONS[s.health];
  // Busy without a fix to offer: a click cancels, as the progress notification's button does.
  const command = s.command ?? (s.busy ? "kiln.cancel" : "kiln.showRun");
  const hint = s.command === undefined && s.busy ? " (click to cancel)" : "";
  return {
    text: `${icon} kiln`,
    tooltip: `${s.message}${hint}`,
    command,
    background:
      s.health === "error"
        ? "statusBarItem.errorBackground"
        : s.health === "warning"
          ? "statusBarItem.warningBackground"
          : undefined,
  };
}

/** Before the server's first status. */
export const STARTING: StatusView = {
  text: "$(sync~spin) kiln",
  tooltip: "kiln: starting kiln-lsp",
  command: undefined,
  background: undefined,
};

/** When the server could not start (or stopped). */
export function stoppedView(message: string): StatusView {
  return { text: "$(error) kiln", tooltip: message, command: "kiln.restart", background: "statusBarItem.errorBackground" };
}
