import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './child-service';
import { formatTable } from './report';

/**
 * Parent side of bench/lib/pg-query-tracer.cjs: preload it into a child (`--require`), then
 * `mark()` around a section (SIGUSR2 makes the child append the counters since the previous
 * mark to its file and reset them).
 */
export const PG_TRACER = path.join(REPO_ROOT, 'bench', 'lib', 'pg-query-tracer.cjs');

export interface TraceSnapshot {
  readonly label: string;
  readonly since: number;
  readonly until: number;
  readonly queries: readonly { sql: string; count: number; ms: number }[];
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** Signals `pid` and returns the snapshot it appended (undefined when none arrived within 5 s). */
export async function traceMark(pid: number, file: string): Promise<TraceSnapshot | undefined> {
  const before = lines(file).length;
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return undefined;
  }
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const now = lines(file);
    if (now.length > before) return JSON.parse(now[now.length - 1]!) as TraceSnapshot;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** Queries per unit (run or job), their mean answer time, and the transactions (COMMITs) per unit. */
export function formatTrace(s: TraceSnapshot, units: number, unit: string, top = 14): string {
  const total = s.queries.reduce((sum, q) => sum + q.count, 0);
  const commits = s.queries.filter((q) => /^COMMIT\b/i.test(q.sql)).reduce((sum, q) => sum + q.count, 0);
  const ms = s.queries.reduce((sum, q) => sum + q.ms, 0);
  const rows = s.queries.slice(0, top).map((q) => [q.sql, (q.count / units).toFixed(2), (q.ms / q.count).toFixed(2)]);
  return [
    `${(total / units).toFixed(1)} queries per ${unit}, ${commits ? `${(commits / units).toFixed(2)} of them explicit COMMITs` : 'no explicit transactions (each statement commits on its own)'}; ${(ms / units).toFixed(1)} ms of query answer time per ${unit} (summed over concurrent connections)`,
    formatTable([`statement (top ${Math.min(top, s.queries.length)} of ${s.queries.length} by count)`, `per ${unit}`, 'mean ms'], rows),
  ].join('\n');
}
