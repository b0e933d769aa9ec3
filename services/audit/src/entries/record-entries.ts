import type { ActionLogRepository } from '../repositories/action-log-repository';
import type { ActionLogEntry, NewEntry, Provenance, RecordResult } from './action-log-entry';
import { sealEntries } from './hash-chain';

/** Milliseconds: the precision the hash covers, so a stored time re-hashes identically. */
function truncateToMillis(d: Date): Date {
  return new Date(Math.floor(d.getTime()));
}

/** One caller's request: its entries and who they are from. */
export interface EntryGroup {
  readonly entries: readonly NewEntry[];
  readonly provenance: Provenance;
}

/**
 * Records the entries of several requests idempotently, in one transaction: an `event_id`
 * seen before (in the log, or earlier in these requests) returns the original entry; the
 * rest are sealed onto the chain in order, each with its own request's provenance. Resolves
 * only after the commit, so an acknowledged entry is durable.
 */
export async function recordEntryGroups(repo: ActionLogRepository, groups: readonly EntryGroup[]): Promise<RecordResult[][]> {
  const eventIds = [...new Set(groups.flatMap((g) => g.entries.map((e) => e.eventId)))];
  return repo.withChainLock(eventIds, async (appender) => {
    const existing = new Map<string, ActionLogEntry>(appender.existing.map((e) => [e.eventId, e]));

    const recordTime = appender.recordTime;
    const firstSeen = new Set<string>();
    const fresh = groups.flatMap((g) =>
      g.entries
        .filter((e) => !existing.has(e.eventId) && !firstSeen.has(e.eventId) && firstSeen.add(e.eventId))
        .map((e) => ({
          ...g.provenance,
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
    const sealed = sealEntries(appender.head, fresh);
    await appender.insert(sealed);

    const created = new Map(sealed.map((e) => [e.eventId, e]));
    const reported = new Set<string>();
    return groups.map((g) =>
      g.entries.map((e) => {
        const original = existing.get(e.eventId);
        if (original) return { entry: original, replayed: true };
        // The first occurrence is the write; later ones (in any of the requests) replay it.
        const replayed = reported.has(e.eventId);
        reported.add(e.eventId);
        return { entry: created.get(e.eventId)!, replayed };
      }),
    );
  });
}
