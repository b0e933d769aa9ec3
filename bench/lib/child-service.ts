import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { createClient } from '@connectrpc/connect';
import { Health, HealthCheckResponse_ServingStatus } from '../../shared/gen/grpc/health/v1/health_pb';
import { createRpcClientTransport } from '../../shared/rpc/client-transport';
import { SERVICE_NODE_OPTIONS } from '../../shared/runtime/service-node-options';

/** The repository root (bench/lib/ → ../..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The entry point a benchmark runs for a service: the compiled build (`npm run build` → dist/),
 * which is what production runs (see the Dockerfiles); `BENCH_FROM_SOURCE=1` runs the
 * TypeScript source through tsx instead. The bench:* npm scripts build first.
 */
export function serviceEntry(service: 'audit' | 'domain'): string {
  if (process.env.BENCH_FROM_SOURCE === '1') return `services/${service}/src/main.ts`;
  const built = `dist/services/${service}/src/main.js`;
  if (!existsSync(path.join(REPO_ROOT, built))) {
    throw new Error(`${built} is missing: run \`npm run build\` first (or set BENCH_FROM_SOURCE=1)`);
  }
  return built;
}

export interface ChildService {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Last ~64 KiB of the child's stdout and stderr, for diagnostics. */
  output(): string;
  /** True once stop() was called (an exit before that is a crash). */
  readonly stopRequested: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const OUTPUT_KEEP = 64 * 1024;

/**
 * Starts a TypeScript service entry point as a real child process, the way production runs
 * it: `node --import tsx <entry>` (never `npx tsx`, whose grandchild would outlive a kill).
 * `extraNodeArgs` go before `--import` (e.g. `--cpu-prof`). A `.js` entry (a build) runs without tsx.
 */
export function startChildService(opts: {
  entry: string;
  env: NodeJS.ProcessEnv;
  extraNodeArgs?: readonly string[];
  cwd?: string;
}): ChildService {
  // A prebuilt .js/.cjs/.mjs entry runs on plain node (no TypeScript loader in memory).
  const loader = /\.[cm]?js$/.test(opts.entry) ? [] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...(opts.extraNodeArgs ?? []), ...loader, opts.entry], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { NODE_OPTIONS: SERVICE_NODE_OPTIONS, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${opts.entry}`);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > OUTPUT_KEEP * 2) output = output.slice(-OUTPUT_KEEP);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  return {
    pid: child.pid,
    process: child,
    output: () => output.slice(-OUTPUT_KEEP),
    get stopRequested() {
      return stopping !== undefined;
    },
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return exited;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

/**
 * Polls grpc.health.v1.Health/Check (service '' = the whole server) until SERVING. Fails early
 * when the child exits, and after `timeoutMs` with the last error seen.
 */
export async function waitForServing(opts: {
  baseUrl: string;
  child?: ChildService;
  service?: string;
  timeoutMs?: number;
}): Promise<number> {
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 60_000);
  const health = createClient(Health, createRpcClientTransport({ baseUrl: opts.baseUrl, protocol: 'grpc' }));
  let last = 'no answer yet';
  for (;;) {
    const child = opts.child?.process;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`service exited (${child.exitCode ?? child.signalCode}) before SERVING:\n${opts.child!.output()}`);
    }
    try {
      const res = await health.check({ service: opts.service ?? '' }, { timeoutMs: 2_000 });
      if (res.status === HealthCheckResponse_ServingStatus.SERVING) return Date.now() - started;
      last = `status ${HealthCheckResponse_ServingStatus[res.status]}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`service not SERVING after ${opts.timeoutMs ?? 60_000} ms (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
