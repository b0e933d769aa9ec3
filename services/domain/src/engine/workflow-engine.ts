import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { PgListener } from '../../../../shared/db/pg-listener';
import { parseTraceparent } from '../../../../shared/telemetry/traceparent';
import { systemOrigin } from '../audit-outbox/audit-origin';
import { runName, type WorkflowRun } from '../workflows/workflow-run';
import { RUN_CHANNELS } from '../workflows/workflow-run-repository';
import { executeRun, type ExecutorDeps, type StopReason } from './run-executor';

export interface EngineOptions {
  /** Unique per engine process; recorded as the lease owner. */
  readonly engineId: string;
  /** Runs executed at once by this engine. */
  readonly concurrency: number;
  /** How long a claim lasts without a heartbeat; another engine takes over after it lapses. */
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  /** Fallback for missed notifications and lapsed leases of other engines. */
  readonly pollIntervalMs: number;
}

export const defaultEngineId = () => `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;

/**
 * Claims runs (PENDING, or RUNNING with a lapsed lease) and executes them, up to
 * `concurrency` at a time. A notification on `workflow_run_pending` wakes it at once; one on
 * `workflow_run_cancelled` for a run it executes stops that run.
 * Leases are renewed by a heartbeat; a run whose lease cannot be renewed is dropped at once
 * (another engine may already own it).
 */
export function startWorkflowEngine(deps: ExecutorDeps & { listener: PgListener }, opts: EngineOptions) {
  const { store, logger } = deps;
  const active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let stopped = false;
  let wake: (() => void) | undefined;
  let woken = false;
  const poke = () => {
    woken = true;
    wake?.();
  };

  const stopRun = (uid: string, reason: StopReason) => active.get(uid)?.controller.abort(reason);

  /** Claims what fits in the free slots, recording PENDING → RUNNING and interrupted attempts. */
  async function claim(): Promise<number> {
    const free = opts.concurrency - active.size;
    if (free <= 0) return 0;
    const claimed = await deps.sequelize.transaction(async (tx) => {
      const rows = await store.claimRuns(tx, opts.engineId, free, opts.leaseMs);
      // A takeover: attempts the dead engine left RUNNING never finished; they go back to
      // PENDING (and run again) before the steps are read for execution.
      const interruptedByRun = new Map<string, Array<{ stepId: string; attempt: number }>>();
      for (const c of rows) if (c.previous_status !== 'PENDING') interruptedByRun.set(c.uid, await store.interruptedSteps(tx, c.uid));
      const claimedRuns = await deps.runs.withSteps(rows, tx);
      const runs: Array<{ run: WorkflowRun; started: ReadonlySet<string> }> = [];
      for (const [i, run] of claimedRuns.entries()) {
        const entity = { entityType: 'WORKFLOW_RUN' as const, entityId: runName(run.uid) };
        const origin = systemOrigin(parseTraceparent(run.traceparent) ? run.traceparent : '');
        if (rows[i]!.previous_status === 'PENDING') {
          const roots = run.definition.steps.filter((s) => s.dependsOn.length === 0).map((s) => s.id);
          runs.push({ run, started: new Set(await store.startFirstAttempts(tx, run.uid, roots)) });
          await deps.audit.record(tx, { actionType: 'UPDATE', ...entity, details: { status: 'RUNNING', previousStatus: 'PENDING' } }, origin);
          continue;
        }
        for (const s of interruptedByRun.get(run.uid) ?? []) {
          const step = run.definition.steps.find((d) => d.id === s.stepId);
          await deps.audit.record(
            tx,
            {
              actionType: 'EXECUTE',
              ...entity,
              details: { step: s.stepId, tool: step?.tool ?? '', attempt: s.attempt, outcome: 'INTERRUPTED', error: 'the engine running this attempt stopped; it will run again' },
            },
            origin,
          );
        }
        runs.push({ run, started: new Set() });
        logger.info({ run: runName(run.uid) }, 'took over a run whose lease lapsed');
      }
      return runs;
    });
    for (const { run, started } of claimed) {
      const controller = new AbortController();
      const done = (async () => {
        try {
          await executeRun(deps, { run, leaseOwner: opts.engineId, signal: controller.signal, started });
        } catch (err) {
          // The database went away mid-run: the lease lapses and the run is picked up again.
          logger.error({ err, run: runName(run.uid) }, 'run execution interrupted');
        } finally {
          active.delete(run.uid);
          poke();
        }
      })();
      active.set(run.uid, { controller, done });
    }
    return claimed.length;
  }

  const heartbeat = setInterval(async () => {
    const uids = [...active.keys()];
    try {
      const owned = await store.renewLeases(opts.engineId, uids, opts.leaseMs);
      for (const uid of uids) {
        if (!owned.has(uid)) stopRun(uid, (await store.status(uid)) === 'CANCELLED' ? 'cancelled' : 'lease_lost');
      }
    } catch (err) {
      logger.warn({ err }, 'lease heartbeat failed');
    }
  }, opts.heartbeatMs);

  const subscriptions = Promise.all([
    deps.listener.listen(RUN_CHANNELS.pending, poke),
    // Only cancels: the engine's own step and status changes must not cost it a query each.
    deps.listener.listen(RUN_CHANNELS.cancelled, (uid) => stopRun(uid, 'cancelled')),
  ]);
  const unsubscribeReconnect = deps.listener.onReconnect(poke);

  const loop = (async () => {
    await subscriptions;
    while (!stopped) {
      woken = false;
      let claimed = 0;
      try {
        claimed = await claim();
      } catch (err) {
        logger.error({ err }, 'claiming runs failed; retrying');
      }
      if (stopped || claimed > 0 || woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, opts.pollIntervalMs);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
  })();

  logger.info({ engine_id: opts.engineId, concurrency: opts.concurrency }, 'workflow engine started');

  return {
    /** Stops claiming, aborts running attempts, and hands runs back so another engine resumes them at once. */
    async stop(): Promise<void> {
      stopped = true;
      wake?.();
      clearInterval(heartbeat);
      unsubscribeReconnect();
      for (const unsubscribe of await subscriptions) unsubscribe();
      await loop;
      const running = [...active.entries()];
      for (const [uid] of running) stopRun(uid, 'shutdown');
      await Promise.allSettled(running.map(([, a]) => a.done));
      await Promise.allSettled(running.map(([uid]) => store.releaseLease(opts.engineId, uid)));
    },
    activeRuns: () => active.size,
  };
}

export type WorkflowEngine = ReturnType<typeof startWorkflowEngine>;
