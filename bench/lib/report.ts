/** Plain-text tables and goal verdicts for benchmark output. */

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export type Verdict = 'ok' | 'MISSED' | 'n/a';

export interface Goal {
  readonly label: string;
  readonly verdict: Verdict;
}

/** `value <op> target` → ok / MISSED (n/a when the value is not a number). */
export function goal(label: string, value: number, op: '<' | '<=' | '>=' | '>', target: number): Goal {
  if (!Number.isFinite(value)) return { label, verdict: 'n/a' };
  const met = op === '<' ? value < target : op === '<=' ? value <= target : op === '>=' ? value >= target : value > target;
  return { label, verdict: met ? 'ok' : 'MISSED' };
}

/** `goals: 3/5 met — MISSED: a; b` */
export function goalsLine(goals: readonly Goal[]): string {
  const missed = goals.filter((g) => g.verdict === 'MISSED').map((g) => g.label);
  const met = goals.filter((g) => g.verdict === 'ok').length;
  return `goals: ${met}/${goals.length} met${missed.length ? ` — MISSED: ${missed.join('; ')}` : ''}`;
}

export const fmt = {
  ms: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '-'),
  int: (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-'),
  ratio: (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '-'),
  mib: (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : '-'),
  s: (ms: number) => `${(ms / 1000).toFixed(1)} s`,
};

/** Reads a positive integer from the environment, with a default. */
export function envPositiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}
