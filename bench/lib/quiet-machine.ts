import { readSystemCpu } from './proc-cpu';

/** Cores busy machine-wide over the next `ms` milliseconds (from /proc/stat). */
export async function machineBusyCores(ms: number): Promise<number> {
  const a = readSystemCpu();
  await new Promise((r) => setTimeout(r, ms));
  const b = readSystemCpu();
  return a && b ? (b.busyMs - a.busyMs) / ms : 0;
}

/**
 * Other sessions may share the machine: give their work a chance to finish first. Quiet =
 * under `busyBelow` cores busy over two consecutive `windowMs` windows. Gives up after
 * `maxWaitS` and runs anyway. Returns the ms spent waiting and the last busy figure.
 */
export async function waitForQuietMachine(opts: {
  maxWaitS: number;
  busyBelow?: number;
  windowMs?: number;
  log: (msg: string) => void;
}): Promise<{ waitedMs: number; busyCores: number; quiet: boolean }> {
  const start = Date.now();
  if (!(opts.maxWaitS > 0)) return { waitedMs: 0, busyCores: NaN, quiet: false };
  const threshold = opts.busyBelow ?? 0.3;
  const deadline = start + opts.maxWaitS * 1000;
  let quietWindows = 0;
  let busy = 0;
  let announced = false;
  while (Date.now() < deadline) {
    busy = await machineBusyCores(opts.windowMs ?? 3_000);
    quietWindows = busy < threshold ? quietWindows + 1 : 0;
    if (quietWindows >= 2) {
      if (announced) opts.log(`machine quiet (${busy.toFixed(2)} cores busy) after ${((Date.now() - start) / 1000).toFixed(1)} s`);
      return { waitedMs: Date.now() - start, busyCores: busy, quiet: true };
    }
    if (!announced && busy >= threshold) {
      opts.log(`other processes keep ${busy.toFixed(2)} cores busy; waiting up to ${opts.maxWaitS} s for a quiet machine`);
      announced = true;
    }
  }
  opts.log(`machine still busy (${busy.toFixed(2)} cores): running anyway; see "other processes" per round`);
  return { waitedMs: Date.now() - start, busyCores: busy, quiet: false };
}
