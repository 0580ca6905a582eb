// The arguments of kiln-lsp's `workspace/executeCommand` commands (lsp/src/commands.rs
// `Args`: one object, fields a command does not use are ignored). A code action's command
// arrives with its arguments and passes through; from the command palette the extension
// builds them from the active editor. Pure: no `vscode` import.

export const GENERATE = "kiln.generate";
export const IMPROVE = "kiln.improve";
export const GENERATE_TESTS = "kiln.generateTests";
export const RUN_TESTS = "kiln.runTests";
export const SHOW_RUN = "kiln.showRun";
export const CANCEL = "kiln.cancel";
export const NOT_A_PROBLEM = "kiln.notAProblem";

/** Commands that act on the function under the cursor: they need an editor. */
export const FUNCTION_COMMANDS = [GENERATE, IMPROVE, GENERATE_TESTS];

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/** The active editor, as far as the commands care. */
export interface EditorState {
  uri: string;
  cursor: Position;
  /** The selection; empty (start = end) when nothing is selected. */
  selection: Range;
}

export interface Args {
  uri?: string;
  line?: number;
  range?: Range;
  instruction?: string;
  run?: number;
  [key: string]: unknown;
}

function isEmpty(r: Range): boolean {
  return r.start.line === r.end.line && r.start.character === r.end.character;
}

/** True when the command came with arguments (from a code action or code lens). */
export function hasArguments(args: unknown[]): boolean {
  return args.length > 0 && args[0] !== null && args[0] !== undefined;
}

/** True when `kiln.improve` should ask for an instruction: none came with it. */
export function wantsInstruction(command: string, args: unknown[]): boolean {
  if (command !== IMPROVE) {
    return false;
  }
  const first = args[0];
  return !(first !== null && typeof first === "object" && typeof (first as Args).instruction === "string");
}

/**
 * The arguments for `command` run from the palette, or an error message for the user.
 * `instruction` is what the improve input box returned (`undefined`: no box or cancelled).
 */
export function buildArguments(
  command: string,
  editor: EditorState | undefined,
  instruction?: string,
): { ok: true; args: Args[] } | { ok: false; message: string } {
  if (FUNCTION_COMMANDS.includes(command)) {
    if (editor === undefined) {
      return { ok: false, message: `kiln: open a file and put the cursor in a function to run ${command}` };
    }
    const args: Args = { uri: editor.uri, line: editor.cursor.line };
    if (command === IMPROVE) {
      if (!isEmpty(editor.selection)) {
        args.range = editor.selection;
        args.line = editor.selection.start.line;
      }
      const text = instruction?.trim();
      if (text) {
        args.instruction = text;
      }
    }
    return { ok: true, args: [args] };
  }
  if (command === RUN_TESTS) {
    return { ok: true, args: editor === undefined ? [] : [{ uri: editor.uri }] };
  }
  return { ok: true, args: [] };
}

/** Adds an instruction to arguments that came from a code action. */
export function withInstruction(args: unknown[], instruction: string | undefined): unknown[] {
  const text = instruction?.trim();
  if (!text) {
    return args;
  }
  const first = args[0];
  const base = first !== null && typeof first === "object" ? (first as Args) : typeof first === "string" ? { uri: first } : {};
  return [{ ...base, instruction: text }, ...args.slice(1)];
}

/** A one-line summary of a command's immediate answer, for the user. */
export function describeAnswer(command: string, answer: unknown): string | undefined {
  const a = (answer ?? {}) as Record<string, unknown>;
  switch (command) {
    case GENERATE:
    case IMPROVE:
    case GENERATE_TESTS:
    case RUN_TESTS:
      // Progress and the result come from the server; only a coalesced start needs words.
      return a.coalesced === true ? "kiln: tests already running; they restart with your changes" : undefined;
    case CANCEL:
      return typeof a.cancelled === "number" ? `kiln: cancelled ${a.cancelled} run(s)` : undefined;
    case NOT_A_PROBLEM:
      return a.recorded === true ? "kiln: recorded; thanks" : undefined;
    default:
      return undefined;
  }
}
