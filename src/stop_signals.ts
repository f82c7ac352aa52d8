/**
 * SIGINT and SIGTERM stop the plugin cleanly from the first milliseconds.
 * main.ts imports this module first, so the handlers are in before the rest
 * of the code (Elysia alone takes ~35 ms to load) and long before anything
 * exists on disk or in the kernel; each thing made registers its undoing,
 * and a signal undoes exactly what exists, in the order it was made: the
 * socket, made first, goes first, so that nobody is left connecting to a
 * plugin that is busy detaching from the kernel. Installing a
 * handler also replaces the SIG_IGN that a non-interactive shell gives a
 * `cmd &` for SIGINT, which would otherwise make Ctrl-C-style stops no-ops.
 */
const undoing: Array<() => void> = [];

/** Registers how to undo something just made: run on SIGINT/SIGTERM, oldest first, then exit 0. */
export function undoOnStop(undo: () => void): void {
  undoing.push(undo);
}

function stop(): void {
  for (const undo of undoing) {
    try {
      undo();
    } catch (error) {
      process.stderr.write(`http-statistics: while stopping: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  process.exit(0);
}

process.on("SIGINT", stop);
process.on("SIGTERM", stop);
