import type { ActionLogRepository } from '../repositories/action-log-repository';
import type { ActionLogEntry, NewEntry, Provenance, RecordResult } from './action-log-entry';
import { sealEntries } from './hash-chain';

/** Milliseconds: the precision the hash covers, so a stored time re-hashes identically. */
function truncateToMillis(d: Date): Date {
  return new Date(Math.floor(d.getTime()));
}

/**
 * Records entries idempotently, in one transaction: an `event_id` seen before (in the log
 * or earlier in the same batch) returns the original entry; the rest are sealed onto the
 * chain in request order. Resolves only after the commit, so an acknowledged entry is durable.
 */
export async function recordEntries(
  repo: ActionLogRepository,
  entries: readonly NewEntry[],
  provenance: Provenance,
): Promise<RecordResult[]> {
  return repo.withChainLock(async (appender) => {
    const existing = new Map<string, ActionLogEntry>();
    for (const e of await appender.findByEventIds([...new Set(entries.map((e) => e.eventId))])) existing.set(e.eventId, e);

    // Taken under the lock, so record_time never goes backwards along the chain.
    const recordTime = truncateToMillis(new Date());
    const fresh: NewEntry[] = [];
    const firstOfBatch = new Set<string>();
    for (const e of entries) {
      if (!existing.has(e.eventId) && !firstOfBatch.has(e.eventId)) {
        firstOfBatch.add(e.eventId);
        fresh.push(e);
      }
    }
    const sealed = sealEntries(
      appender.head,
      fresh.map((e) => ({
        ...provenance,
        eventId: e.eventId,
        occurTime: e.occurTime ? truncateToMillis(e.occurTime) : recordTime,
        recordTime,
        actionType: e.actionType,
        entityType: e.entityType,
        entityId: e.entityId,
        details: e.details,
        outcome: e.outcome,
      })),
    );
    await appender.insert(sealed);

    const created = new Map(sealed.map((e) => [e.eventId, e]));
    const reported = new Set<string>();
    return entries.map((e) => {
      const original = existing.get(e.eventId);
      if (original) return { entry: original, replayed: true };
      // Within a batch, the first occurrence is the write and later ones are replays of it.
      const replayed = reported.has(e.eventId);
      reported.add(e.eventId);
      return { entry: created.get(e.eventId)!, replayed };
    });
  });
}
