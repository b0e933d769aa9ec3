import type { Client } from 'pg';
import { readProcCpuMs } from './proc-cpu';

/**
 * CPU used by the PostgreSQL backends serving some databases (same machine only): each backend
 * is a process, so /proc/<pid>/stat of the pids in pg_stat_activity gives their CPU time.
 */

/** CPU ms used so far by every backend connected to one of `databases`, by pid. */
export async function pgBackendCpu(admin: Client, databases: string | readonly string[]): Promise<Map<number, number>> {
  const names = typeof databases === 'string' ? [databases] : [...databases];
  const pids = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)', [names]);
  return new Map(pids.rows.map((r) => [r.pid, readProcCpuMs(r.pid) ?? 0]));
}

/**
 * CPU ms spent between two pgBackendCpu() snapshots. A backend that appeared in between counts
 * in full; one that exited in between is lost (pools keep theirs open during a benchmark).
 */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, ms] of after) sum += ms - (before.get(pid) ?? 0);
  return sum;
}
