/** The lifecycle every benchmark script shares: its output, Ctrl-C handling, and exit code. */

/** One line to stdout (benchmarks print plain text, not logs). */
export const log = (msg: string): void => {
  process.stdout.write(`${msg}\n`);
};

/**
 * SIGINT/SIGTERM: says what is being cleaned up (`what`: e.g. "stopping the service and
 * dropping mcp_audit_bench"), runs `cleanup`, exits 130, so an interrupted run leaves no
 * processes or databases behind.
 */
export function cleanUpOnSignal(what: string, cleanup: () => Promise<void>): void {
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: ${what}`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Runs a script's main: exits with its code, or 1 with the stack when it throws. */
export function runBench(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${name} benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
