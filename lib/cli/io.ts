// What every command writes to and returns: its output streams, and the exit codes scripts rely on.

/** Where a command writes; tests pass their own. */
export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /**
   * Settles once stdout has written out all it was given: a pipe's reader may be behind, and Node
   * then keeps the rest in memory. Absent where a write is taken at once (tests).
   */
  drained?(): Promise<void>;
  /** Asks a yes-or-no question on the terminal; absent when stdin or stdout is not one (a command that must ask then refuses). */
  confirm?: ((question: string) => Promise<boolean>) | undefined;
  /**
   * The terminal stdout writes to, when it is one: its size at the moment it is read (it follows
   * the window). Absent for pipes and files, and in tests that pass no terminal.
   */
  terminal?: { readonly columns: number; readonly rows: number } | undefined;
}

/** Exit codes scripts can rely on; commands add their own meaning to 1 (and `check` to 3, `wait` to 5). */
export const EXIT = {
  ok: 0,
  negative: 1,
  usage: 2,
  unknown: 3,
  failure: 4,
  /** `wait`: the deadline passed before the port was listening (or free). */
  timeout: 5,
} as const;
