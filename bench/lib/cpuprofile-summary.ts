/**
 * Where did a process spend its CPU? Summarises a V8 `.cpuprofile` (from `node --cpu-prof`):
 * self time of the hottest functions, and every sample attributed to one category: walking
 * from the sampled frame towards the root, the first frame whose script matches a rule wins
 * (so JSON.stringify called from canonical-json.ts counts as hashing, not as "native").
 *
 *   node --import tsx bench/lib/cpuprofile-summary.ts <file.cpuprofile> [top=25]
 *
 * Rules are tuned for this repository's services; `summarizeCpuProfile` takes others.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface CategoryRule {
  readonly category: string;
  readonly url?: RegExp;
  readonly fn?: RegExp;
  /** Matches when any frame of the stack matches, before the leaf-to-root walk. */
  readonly anywhere?: boolean;
  /** Considered only when no other rule matches any frame (e.g. node internals called by a library). */
  readonly weak?: boolean;
  /** Once this rule decides, the first frame (leaf to root) matching one of these names the sub-category. */
  readonly refine?: readonly { category: string; url: RegExp }[];
}

export const DEFAULT_RULES: readonly CategoryRule[] = [
  { category: 'VerifyActionLog (not a hot path)', url: /entries\/verify-log\.[jt]s/, anywhere: true },
  { category: '(idle)', fn: /^\(idle\)$/ },
  { category: 'GC', fn: /^\(garbage collector\)$/ },
  { category: 'hash chain: canonical JSON + sha256', url: /entries\/hash-chain\.[jt]s|api\/canonical-json\.[jt]s/ },
  { category: 'handler: validate input / build response', url: /audit\/src\/handlers\// },
  { category: 'use cases (record/list)', url: /audit\/src\/entries\// },
  { category: 'repository (row mapping, SQL text)', url: /audit\/src\/repositories\// },
  { category: 'page token / filter', url: /shared\/api\// },
  {
    category: 'protobuf (@bufbuild), other',
    url: /@bufbuild\/protobuf/,
    refine: [
      { category: 'protobuf encode (toBinary)', url: /@bufbuild\/protobuf\/.*to-binary\.js/ },
      { category: 'protobuf decode (fromBinary)', url: /@bufbuild\/protobuf\/.*from-binary\.js/ },
      { category: 'protobuf create() / Struct conversion', url: /@bufbuild\/protobuf\/.*(create|wkt\/.*struct|reflect)/ },
    ],
  },
  { category: 'connect RPC (@connectrpc)', url: /@connectrpc\// },
  { category: 'sequelize', url: /node_modules\/sequelize\// },
  { category: 'pg driver (pg, pg-protocol, pg-types)', url: /node_modules\/(pg|pg-protocol|pg-types|pg-pool|postgres-[a-z]+)\// },
  { category: 'tracing (@opentelemetry)', url: /@opentelemetry\// },
  { category: 'logging (pino)', url: /node_modules\/pino/ },
  { category: 'interceptors / rpc server', url: /shared\/(interceptors|rpc)\// },
  { category: 'tsx / esbuild loader', url: /node_modules\/(tsx|esbuild)\// },
  { category: 'other node_modules', url: /node_modules\// },
  { category: 'node http2 / net / streams', url: /^node:internal\/(http2|net|stream|streams|tls|dns|timers)/, weak: true },
  { category: 'other node internals', url: /^node:/, weak: true },
  { category: 'other project code', url: /^file:/ },
];

export interface CpuProfileSummary {
  readonly totalMs: number;
  readonly categories: { category: string; ms: number }[];
  readonly topSelf: { name: string; ms: number }[];
}

export function summarizeCpuProfile(profile: CpuProfile, rules = DEFAULT_RULES, top = 25): CpuProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const matches = (r: CategoryRule, n: ProfileNode) =>
    (!r.url || r.url.test(n.callFrame.url)) && (!r.fn || r.fn.test(n.callFrame.functionName)) && (r.url || r.fn);

  const categoryCache = new Map<number, string>();
  const categoryOf = (id: number): string => {
    const cached = categoryCache.get(id);
    if (cached) return cached;
    const stack: ProfileNode[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(byId.get(cur)!);
    const firstMatch = (candidates: readonly CategoryRule[]): CategoryRule | undefined => {
      for (const n of stack) for (const r of candidates) if (matches(r, n)) return r;
      return undefined;
    };
    const rule =
      rules.find((r) => r.anywhere && stack.some((n) => matches(r, n))) ??
      firstMatch(rules.filter((r) => !r.anywhere && !r.weak)) ??
      firstMatch(rules.filter((r) => r.weak));
    let category = rule?.category ?? 'native / program';
    if (rule?.refine) {
      const sub = stack.map((n) => rule.refine!.find((f) => f.url.test(n.callFrame.url))).find((f) => f !== undefined);
      if (sub) category = sub.category;
    }
    categoryCache.set(id, category);
    return category;
  };

  const perCategory = new Map<string, number>();
  const perFunction = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const cat = categoryOf(id);
    perCategory.set(cat, (perCategory.get(cat) ?? 0) + us);
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(services|shared|bench)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const name = `${f.functionName || '(anonymous)'} ${where}`.trim();
    perFunction.set(name, (perFunction.get(name) ?? 0) + us);
  });
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total / 1000,
    categories: sorted(perCategory).map(([category, us]) => ({ category, ms: us / 1000 })),
    topSelf: sorted(perFunction)
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000 })),
  };
}

export function formatCpuProfileSummary(s: CpuProfileSummary): string {
  const busy = s.categories.filter((c) => c.category !== '(idle)').reduce((sum, c) => sum + c.ms, 0);
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1).padStart(5)}%`;
  return [
    `profile: ${(s.totalMs / 1000).toFixed(1)} s wall, ${(busy / 1000).toFixed(1)} s on CPU (excluding idle)`,
    'by category (% of non-idle):',
    ...s.categories.map((c) => `  ${c.category === '(idle)' ? '     -' : pct(c.ms)}  ${(c.ms / 1000).toFixed(2).padStart(7)} s  ${c.category}`),
    'hottest functions (self time):',
    ...s.topSelf.map((f) => `  ${f.name === '(idle)' ? '     -' : pct(f.ms)}  ${(f.ms / 1000).toFixed(2).padStart(7)} s  ${f.name}`),
  ].join('\n');
}

if (require.main === module) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/lib/cpuprofile-summary.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  process.stdout.write(`${formatCpuProfileSummary(summarizeCpuProfile(profile, DEFAULT_RULES, Number(top ?? 25)))}\n`);
}
