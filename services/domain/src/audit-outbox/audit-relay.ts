import type { Sequelize } from 'sequelize';
import type { Logger } from '../../../../shared/logging/logger';
import { backoffMs } from '../../../../shared/runtime/backoff';
import type { OutboxEntry } from './audit-event';
import { isUnreachable, type AuditSink } from './audit-sink';
import type { OutboxRepository } from './outbox-repository';

export interface AuditRelayOptions {
  readonly sequelize: Sequelize;
  readonly outbox: OutboxRepository;
  readonly sink: AuditSink;
  readonly logger: Logger;
  /** Entries claimed per cycle. */
  readonly batchSize: number;
  /** Entities delivered in parallel within a cycle. */
  readonly concurrency: number;
  /** Fallback wake-up for entries committed by other replicas or due for retry. */
  readonly pollIntervalMs: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export interface AuditRelay {
  /** Called after a transaction with outbox rows commits: deliver now rather than at the next poll. */
  kick(): void;
  /** Stops after the cycle in flight; entries not yet delivered stay in the outbox. */
  stop(): Promise<void>;
}

/**
 * Moves outbox entries to the audit service. Each cycle runs in one transaction that holds
 * the claimed rows (FOR UPDATE SKIP LOCKED), so replicas never send the same entry at the
 * same time; delivered rows are deleted in that transaction. A crash after the audit service
 * committed but before the delete re-sends the entry later, which the audit service answers
 * as a replay of its event_id: at-least-once delivery, exactly-once recording.
 */
export function startAuditRelay(opts: AuditRelayOptions): AuditRelay {
  let stopped = false;
  let wake: (() => void) | undefined;
  let kicked = false;
  let pauseUntil = 0;
  let consecutiveOutages = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  /** Sends one entity's entries in order; stops at its first failure so order is kept. */
  async function deliverEntity(entries: OutboxEntry[], delivered: bigint[], failed: Array<[OutboxEntry, unknown]>): Promise<boolean> {
    for (const entry of entries) {
      try {
        await opts.sink(entry);
        delivered.push(entry.id);
      } catch (err) {
        failed.push([entry, err]);
        return !isUnreachable(err);
      }
    }
    return true;
  }

  async function cycle(): Promise<number> {
    return opts.sequelize.transaction(async (tx) => {
      const claimed = await opts.outbox.claimDue(tx, opts.batchSize);
      if (claimed.length === 0) return 0;
      const byEntity = new Map<string, OutboxEntry[]>();
      for (const e of claimed) {
        const key = `${e.entityType}\u0000${e.entityId}`;
        byEntity.set(key, [...(byEntity.get(key) ?? []), e]);
      }
      const queue = [...byEntity.values()];
      const delivered: bigint[] = [];
      const failed: Array<[OutboxEntry, unknown]> = [];
      let reachable = true;
      const worker = async () => {
        // Once the audit service looks down, stop trying the rest of this cycle.
        while (reachable && queue.length) {
          if (!(await deliverEntity(queue.shift()!, delivered, failed))) reachable = false;
        }
      };
      await Promise.all(Array.from({ length: Math.min(opts.concurrency, queue.length) }, worker));
      await opts.outbox.deleteDelivered(tx, delivered);
      for (const [entry, err] of failed) {
        const message = err instanceof Error ? err.message : String(err);
        await opts.outbox.markFailed(tx, entry.id, message, backoffMs({ attempt: entry.attempts + 1, initialMs: opts.minBackoffMs, multiplier: 2, maxMs: opts.maxBackoffMs }));
      }
      if (!reachable) {
        consecutiveOutages += 1;
        const pause = backoffMs({ attempt: consecutiveOutages, initialMs: opts.minBackoffMs, multiplier: 2, maxMs: opts.maxBackoffMs });
        pauseUntil = Date.now() + pause;
        opts.logger.warn(
          { err: failed[failed.length - 1]?.[1], pause_ms: Math.round(pause), delivered: delivered.length },
          'audit service unreachable; entries stay in the outbox and will be retried',
        );
      } else {
        consecutiveOutages = 0;
        for (const [entry, err] of failed) {
          opts.logger.error({ err, event_id: entry.eventId, attempts: entry.attempts + 1 }, 'audit service rejected an entry; will retry');
        }
      }
      return delivered.length;
    });
  }

  const loop = (async () => {
    while (!stopped) {
      const pause = pauseUntil - Date.now();
      if (pause > 0) {
        await sleep(pause);
        continue;
      }
      kicked = false;
      let delivered = 0;
      try {
        delivered = await cycle();
      } catch (err) {
        opts.logger.error({ err }, 'audit relay cycle failed (database?); retrying');
        pauseUntil = Date.now() + opts.pollIntervalMs;
        continue;
      }
      // A full batch likely means more is waiting: go again without sleeping.
      if (delivered === 0 && !kicked && !stopped) await sleep(opts.pollIntervalMs);
    }
  })();

  return {
    kick() {
      kicked = true;
      if (Date.now() >= pauseUntil) wake?.();
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
