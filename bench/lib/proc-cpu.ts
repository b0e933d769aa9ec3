import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time of another process (all its threads) from /proc/<pid>/stat (Linux): utime + stime.
 * Comparing it with wall time tells whether a single-threaded Node service was saturated
 * (≈ 1 s of CPU per second of wall time on its main thread, plus a little in worker threads).
 */

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU milliseconds used so far by `pid`; undefined when it is gone. */
export function readProcCpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces; fields after its closing ')' are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) / clockTicks()) * 1000;
}

/** CPU milliseconds of this process (the benchmark client itself). */
export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Measures CPU of `pid` and of this process across an async section. */
export async function withCpu<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; childCpuMs: number; ownCpuMs: number }> {
  const child0 = readProcCpuMs(pid) ?? NaN;
  const own0 = ownCpuMs();
  const value = await fn();
  return { value, childCpuMs: (readProcCpuMs(pid) ?? NaN) - child0, ownCpuMs: ownCpuMs() - own0 };
}

/** Whole-machine CPU counters from the first line of /proc/stat, in milliseconds (summed over cores). */
export function readSystemCpu(): { busyMs: number; totalMs: number } | undefined {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  } catch {
    return undefined;
  }
  if (!line?.startsWith('cpu ')) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const toMs = (ticks: number) => (ticks / clockTicks()) * 1000;
  const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return { busyMs: toMs(busy), totalMs: toMs(busy + idle! + (iowait ?? 0)) };
}
