/**
 * The engine benchmark's baseline: a graphile-worker runner in its own process (as the domain
 * service's engine is), default settings (unbatched), `concurrency` workers, one `noop` task.
 * Driven by its parent over the IPC channel (spawned with stdio[3] = 'ipc'):
 *
 *   child → parent  { type: 'ready' }                        runner started (schema migrated)
 *   parent → child  { type: 'expect', id, count }            answer once `count` jobs completed in total
 *   child → parent  { type: 'reached', id, completed, at }   `at` = wall clock (ms, sub-ms precision)
 *   child → parent  { type: 'started', key, at }             a job whose payload has `key` entered the task
 *   parent → child  { type: 'stop' }                         stop the runner and exit
 *
 * "Completed" counts `job:complete` events: emitted after graphile-worker's own complete_job
 * query, i.e. once the job is done in the database (the engine side counts committed SUCCEEDED
 * runs, so both sides count the same thing).
 *
 *   GW_DATABASE_URL, GW_CONCURRENCY (default 10)
 */
import { EventEmitter } from 'node:events';
import { Logger, run, type Runner, type WorkerEvents } from 'graphile-worker';
import { wallClockMs } from './wall-clock';

export type ParentMessage = { type: 'expect'; id: number; count: number } | { type: 'stop' };
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'reached'; id: number; completed: number; at: number }
  | { type: 'started'; key: string; at: number }
  | { type: 'error'; message: string };

async function main(): Promise<void> {
  const send = (m: ChildMessage) => process.send?.(m);
  const connectionString = process.env.GW_DATABASE_URL;
  if (!connectionString) throw new Error('GW_DATABASE_URL is required');
  const concurrency = Number(process.env.GW_CONCURRENCY ?? '10');

  // Warnings and errors only, like the domain service at LOG_LEVEL=warn.
  const logger = new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') process.stderr.write(`[graphile-worker ${level}] ${message}\n`);
  });
  const events = new EventEmitter() as WorkerEvents;
  let completed = 0;
  let waiters: { id: number; count: number }[] = [];
  events.on('job:complete', () => {
    completed++;
    if (waiters.length === 0) return;
    const at = wallClockMs();
    const due = waiters.filter((w) => completed >= w.count);
    if (due.length === 0) return;
    waiters = waiters.filter((w) => completed < w.count);
    for (const w of due) send({ type: 'reached', id: w.id, completed, at });
  });

  const runner: Runner = await run({
    connectionString,
    concurrency,
    noHandleSignals: true,
    logger,
    events,
    taskList: {
      noop: async (payload) => {
        const key = (payload as { key?: unknown } | null)?.key;
        if (typeof key === 'string') send({ type: 'started', key, at: wallClockMs() });
      },
    },
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await runner.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'expect') {
      if (completed >= m.count) send({ type: 'reached', id: m.id, completed, at: wallClockMs() });
      else waiters.push({ id: m.id, count: m.count });
    } else if (m.type === 'stop') {
      void stop();
    }
  });
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready' });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.send?.({ type: 'error', message } satisfies ChildMessage);
    process.stderr.write(`graphile-worker child: ${message}\n`);
    process.exit(1);
  });
}
