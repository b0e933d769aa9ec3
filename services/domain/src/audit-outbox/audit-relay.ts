import type { Logger } from '../../../../shared/logging/logger';
import { backoffMs } from '../../../../shared/runtime/backoff';
import type { OutboxEntry } from './audit-event';
import { isUnreachable, type AuditSink } from './audit-sink';
import type { OutboxRepository } from './outbox-repository';

export interface AuditRelayOptions {
  readonly outbox: OutboxRepository;
  readonly sink: AuditSink;
  readonly logger: Logger;
  /** Most entries claimed and not yet settled at any time. */
  readonly batchSize: number;
  /** Entities delivered in parallel. */
  readonly concurrency: number;
  /** Fallback wake-up for entries committed by other replicas or due for retry. */
  readonly pollIntervalMs: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** How long a claim keeps other relays off its entries. */
  readonly leaseMs: number;
  /** The sink's per-call timeout: a call starts only if it ends before the lease does. */
  readonly callTimeoutMs: number;
}

export interface AuditRelay {
  /** Called after a transaction with outbox rows commits: deliver now rather than at the next poll. */
  kick(): void;
  /** Stops claiming, lets the calls in flight finish, and hands unsent entries back to the outbox. */
  stop(): Promise<void>;
}

/**
 * After a claim that found work, the next one waits this long: commits arriving meanwhile
 * are then leased by one statement instead of one each (a few ms of latency for far fewer
 * round trips under load).
 */
const CLAIM_COALESCE_MS = 5;

/**
 * Moves outbox entries to the audit service as a pipeline: the loop leases due entries
 * (claimDue commits at once, so replicas never send the same entry at the same time) and
 * hands each entity's entries, in order, to one of `concurrency` delivery lanes; it claims
 * again as soon as a commit kicks it or a delivery finishes, without waiting for earlier
 * claims to drain. Delivered entries are deleted in batches before each claim. A crash
 * after the audit service committed but before the delete re-sends the entry once its
 * lease ends, which the audit service answers as a replay of its event_id: at-least-once
 * delivery, exactly-once recording.
 */
export function startAuditRelay(opts: AuditRelayOptions): AuditRelay {
  let stopped = false;
  let kicked = false;
  let wake: (() => void) | undefined;
  let pauseUntil = 0;
  let consecutiveOutages = 0;
  /** Entries claimed and not yet delivered, failed or released. */
  let unsettled = 0;
  /** Delivered, to be deleted before the next claim. */
  let delivered: bigint[] = [];
  /** Claimed but not started, per entity, oldest claim first. */
  const waiting: { entries: OutboxEntry[]; leaseEndsAt: number }[] = [];
  const lanes = new Set<Promise<void>>();

  const kick = () => {
    kicked = true;
    if (Date.now() >= pauseUntil) wake?.();
  };

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

  const paused = () => stopped || Date.now() < pauseUntil;

  /** Entries this relay will not attempt now: due again at once (the outage pause still applies here). */
  async function release(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    unsettled -= entries.length;
    try {
      await opts.outbox.release(entries.map((e) => e.id));
    } catch (err) {
      // Their lease ends on its own; only the retry comes later.
      opts.logger.warn({ err, entries: entries.length }, 'could not release audit outbox entries; they are retried when their lease ends');
    }
  }

  async function fail(entry: OutboxEntry, err: unknown): Promise<void> {
    unsettled -= 1;
    const message = err instanceof Error ? err.message : String(err);
    const retryIn = backoffMs({ attempt: entry.attempts + 1, initialMs: opts.minBackoffMs, multiplier: 2, maxMs: opts.maxBackoffMs });
    try {
      await opts.outbox.markFailed(entry.id, message, retryIn);
    } catch (dbErr) {
      opts.logger.warn({ err: dbErr, event_id: entry.eventId }, 'could not record a failed audit delivery; it is retried when its lease ends');
    }
    if (!isUnreachable(err)) {
      opts.logger.error({ err, event_id: entry.eventId, attempts: entry.attempts + 1 }, 'audit service rejected an entry; will retry');
      return;
    }
    if (Date.now() < pauseUntil) return; // this outage is already being waited out
    consecutiveOutages += 1;
    const pause = backoffMs({ attempt: consecutiveOutages, initialMs: opts.minBackoffMs, multiplier: 2, maxMs: opts.maxBackoffMs });
    pauseUntil = Date.now() + pause;
    opts.logger.warn({ err, pause_ms: Math.round(pause) }, 'audit service unreachable; entries stay in the outbox and will be retried');
  }

  /** One lane: takes entities off `waiting` and sends each one's entries in order, stopping at its first failure. */
  async function lane(): Promise<void> {
    for (let job = waiting.shift(); job; job = waiting.shift()) {
      const { entries, leaseEndsAt } = job;
      let i = 0;
      for (; i < entries.length; i++) {
        // Send only while a call can still end inside the lease, so no other relay can hold it.
        if (paused() || Date.now() + opts.callTimeoutMs >= leaseEndsAt) break;
        const entry = entries[i]!;
        try {
          await opts.sink(entry);
          unsettled -= 1;
          consecutiveOutages = 0;
          delivered.push(entry.id);
        } catch (err) {
          await fail(entry, err);
          i += 1;
          break;
        }
      }
      // Later entries of an entity wait behind a failed one anyway; hand them back.
      await release(entries.slice(i));
      kick();
    }
  }

  function startLanes(): void {
    while (lanes.size < opts.concurrency && waiting.length > 0) {
      const running: Promise<void> = lane().finally(() => lanes.delete(running));
      lanes.add(running);
    }
  }

  async function flushDeleted(): Promise<void> {
    if (delivered.length === 0) return;
    const ids = delivered;
    delivered = [];
    try {
      await opts.outbox.deleteDelivered(ids);
    } catch (err) {
      delivered.push(...ids);
      throw err;
    }
  }

  /** Deletes what was delivered, then leases what fits; returns how many entries it claimed. */
  async function claim(): Promise<number> {
    await flushDeleted();
    const room = opts.batchSize - unsettled;
    if (room <= 0 || paused()) return 0;
    const leaseEndsAt = Date.now() + opts.leaseMs; // before the claim: never later than the database's lease
    const claimed = await opts.outbox.claimDue(room, opts.leaseMs);
    if (claimed.length === 0) return 0;
    unsettled += claimed.length;
    const byEntity = new Map<string, OutboxEntry[]>();
    for (const e of claimed) {
      const key = `${e.entityType}\u0000${e.entityId}`;
      const list = byEntity.get(key);
      if (list) list.push(e);
      else byEntity.set(key, [e]);
    }
    // claimDue returns oldest first, so each entity's list is in commit order.
    for (const entries of byEntity.values()) waiting.push({ entries, leaseEndsAt });
    startLanes();
    return claimed.length;
  }

  const loop = (async () => {
    while (!stopped) {
      const pause = pauseUntil - Date.now();
      if (pause > 0) {
        await sleep(pause);
        continue;
      }
      kicked = false;
      let claimed = 0;
      try {
        claimed = await claim();
      } catch (err) {
        opts.logger.error({ err }, 'audit relay could not claim or delete outbox entries (database?); retrying');
        pauseUntil = Date.now() + opts.pollIntervalMs;
        continue;
      }
      // Something claimed may mean more is waiting: go again shortly; otherwise wait for a kick.
      if (claimed > 0) await new Promise((r) => setTimeout(r, CLAIM_COALESCE_MS));
      else if (!kicked && !stopped) await sleep(opts.pollIntervalMs);
    }
  })();

  return {
    kick,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      // Lanes finish their current call and release the rest (paused() is now true).
      await Promise.all(lanes);
      await release(waiting.splice(0).flatMap((job) => job.entries));
      await flushDeleted().catch((err: unknown) => {
        opts.logger.warn({ err }, 'could not delete delivered audit outbox entries at shutdown; they will be re-sent as replays');
      });
    },
  };
}
