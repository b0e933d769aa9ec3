import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { ChildMessage, ParentMessage } from './graphile-worker-child';
import { REPO_ROOT } from './child-service';

/**
 * Parent side of bench/lib/graphile-worker-child.ts: a graphile-worker runner (default,
 * unbatched settings) in its own process, told over IPC to report when a number of jobs
 * completed, and reporting when keyed jobs entered their task.
 */
export interface GraphileWorkerChild {
  readonly pid: number;
  /** Resolves with the child's wall clock when `totalCompleted` jobs have completed since it started. */
  whenCompleted(totalCompleted: number, timeoutMs: number): Promise<{ at: number; completed: number }>;
  /** Resolves with the child's wall clock when the job with payload `{ key }` enters the task. */
  whenStarted(key: string, timeoutMs: number): Promise<number>;
  output(): string;
  stop(graceMs?: number): Promise<void>;
}

export async function startGraphileWorkerChild(opts: {
  databaseUrl: string;
  concurrency: number;
  readyTimeoutMs?: number;
  /** Node options before the TypeScript loader (e.g. `--require` a tracer). */
  extraNodeArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
}): Promise<GraphileWorkerChild> {
  const entry = path.join(REPO_ROOT, 'bench', 'lib', 'graphile-worker-child.ts');
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, GW_DATABASE_URL: opts.databaseUrl, GW_CONCURRENCY: String(opts.concurrency) };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, [...(opts.extraNodeArgs ?? []), '--import', 'tsx', entry], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  if (child.pid === undefined) throw new Error('could not start the graphile-worker child');
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-32_768);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const started = new Map<string, number>();
  const startWaiters = new Map<string, (at: number) => void>();
  const completedWaiters = new Map<number, (r: { at: number; completed: number }) => void>();
  let nextId = 0;
  let readyResolve: (() => void) | undefined;
  let failure: string | undefined;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));

  child.on('message', (m: ChildMessage) => {
    switch (m.type) {
      case 'ready':
        readyResolve?.();
        break;
      case 'started': {
        const w = startWaiters.get(m.key);
        if (w) {
          startWaiters.delete(m.key);
          w(m.at);
        } else started.set(m.key, m.at);
        break;
      }
      case 'reached':
        completedWaiters.get(m.id)?.({ at: m.at, completed: m.completed });
        completedWaiters.delete(m.id);
        break;
      case 'error':
        failure = m.message;
        break;
    }
  });

  const send = (m: ParentMessage) => child.send(m);
  const withTimeout = <T>(p: Promise<T>, ms: number, what: string, cancel: () => void): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const died = exited.then(() => {
      throw new Error(`graphile-worker child exited while waiting for ${what}: ${failure ?? output.slice(-2000)}`);
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        cancel();
        reject(new Error(`graphile-worker child: timed out after ${ms} ms waiting for ${what}`));
      }, ms);
    });
    return Promise.race([p, died, timeout]).finally(() => clearTimeout(timer));
  };

  await withTimeout(ready, opts.readyTimeoutMs ?? 60_000, 'ready', () => undefined);

  return {
    pid: child.pid,
    whenCompleted(totalCompleted, timeoutMs) {
      const id = nextId++;
      const p = new Promise<{ at: number; completed: number }>((resolve) => completedWaiters.set(id, resolve));
      send({ type: 'expect', id, count: totalCompleted });
      return withTimeout(p, timeoutMs, `${totalCompleted} completed jobs`, () => completedWaiters.delete(id));
    },
    whenStarted(key, timeoutMs) {
      const at = started.get(key);
      if (at !== undefined) {
        started.delete(key);
        return Promise.resolve(at);
      }
      const p = new Promise<number>((resolve) => startWaiters.set(key, resolve));
      return withTimeout(p, timeoutMs, `job ${key} to start`, () => startWaiters.delete(key));
    },
    output: () => output,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) send({ type: 'stop' });
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
