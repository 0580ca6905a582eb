// Finding the kiln-lsp binary from `kiln.server.path`: a path (with `~` and
// `${workspaceFolder}`), or a bare name looked up on PATH. A missing binary becomes a message
// that says what to do, not a dead client. Pure apart from the `exists` check passed in.
import * as path from "path";

/** What `resolveServer` needs from the machine. */
export interface Machine {
  home: string | undefined;
  workspaceFolder: string | undefined;
  pathVar: string | undefined;
  /** True when `file` exists and is executable. */
  exists: (file: string) => boolean;
}

export type Resolved = { ok: true; command: string } | { ok: false; message: string };

export const DEFAULT_SERVER = "kiln-lsp";

const INSTALL_HINT =
  "install it with `cargo install --path lsp` from the kiln repository, or set `kiln.server.path`";

/** Expands `~` and `${workspaceFolder}` in a configured path. */
export function expand(configured: string, m: Machine): string {
  let p = configured.trim();
  if (m.home !== undefined && (p === "~" || p.startsWith("~/"))) {
    p = path.join(m.home, p.slice(1));
  }
  if (m.workspaceFolder !== undefined) {
    p = p.split("${workspaceFolder}").join(m.workspaceFolder);
  }
  return p;
}

/** The command to spawn, or why there is none. */
export function resolveServer(configured: unknown, m: Machine): Resolved {
  const raw = typeof configured === "string" && configured.trim() !== "" ? configured : DEFAULT_SERVER;
  const p = expand(raw, m);
  if (p.includes("/")) {
    const full = m.workspaceFolder !== undefined ? path.resolve(m.workspaceFolder, p) : path.resolve(p);
    return m.exists(full)
      ? { ok: true, command: full }
      : { ok: false, message: `kiln: the server '${full}' (kiln.server.path) is not an executable file; ${INSTALL_HINT}` };
  }
  for (const dir of (m.pathVar ?? "").split(path.delimiter)) {
    if (dir !== "" && m.exists(path.join(dir, p))) {
      return { ok: true, command: path.join(dir, p) };
    }
  }
  return { ok: false, message: `kiln: cannot find '${p}' on PATH; ${INSTALL_HINT}` };
}

/** Where "open the configuration" goes: the workspace's kiln.toml, else the user config. */
export function configFile(
  env: Record<string, string | undefined>,
  workspaceFolder: string | undefined,
  exists: (file: string) => boolean,
): string | undefined {
  if (workspaceFolder !== undefined) {
    const project = path.join(workspaceFolder, "kiln.toml");
    if (exists(project)) {
      return project;
    }
  }
  if (env.KILN_CONFIG_HOME) {
    return path.join(env.KILN_CONFIG_HOME, "config.toml");
  }
  if (env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME)) {
    return path.join(env.XDG_CONFIG_HOME, "kiln", "config.toml");
  }
  return env.HOME ? path.join(env.HOME, ".config", "kiln", "config.toml") : undefined;
}
