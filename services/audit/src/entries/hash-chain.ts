import { createHash } from 'node:crypto';
import { canonicalJson } from '../../../../shared/api/canonical-json';
import type { ActionLogEntry } from './action-log-entry';

/** The `prev_hash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The canonical form new entries use; older versions stay verifiable (see canonicalContent). */
export const CURRENT_HASH_VERSION = 2;

/**
 * The content an entry's hash covers: every recorded field except the hashes themselves,
 * as canonical JSON (sorted keys, millisecond ISO times), so any change to any field or
 * to the order of entries changes the hash.
 */
export function canonicalContent(entry: Omit<ActionLogEntry, 'hash' | 'prevHash'>): string {
  // Version 2 adds identity and outcome; version 1 entries are hashed exactly as they were written.
  const v2 =
    entry.hashVersion >= 2
      ? {
          actor_type: entry.actorType,
          actor_subject: entry.actorSubject,
          actor_issuer: entry.actorIssuer,
          actor_verified: entry.actorVerified,
          unverified_actor_id: entry.unverifiedActorId,
          outcome: entry.outcome,
        }
      : {};
  return canonicalJson({
    v: entry.hashVersion,
    ...v2,
    seq: entry.seq.toString(),
    event_id: entry.eventId,
    occur_time: entry.occurTime.toISOString(),
    record_time: entry.recordTime.toISOString(),
    actor_id: entry.actorId,
    action_type: entry.actionType,
    entity_type: entry.entityType,
    entity_id: entry.entityId,
    details: entry.details,
    trace_id: entry.traceId,
    span_id: entry.spanId,
    trace_state: entry.traceState,
    service_name: entry.serviceName,
    client_ip: entry.clientIp,
    user_agent: entry.userAgent,
  });
}

/** sha256(prev_hash ‖ "\n" ‖ canonical content), hex. */
export function chainHash(prevHash: string, entry: Omit<ActionLogEntry, 'hash' | 'prevHash'>): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalContent(entry)).digest('hex');
}

/** Links a run of new entries after the current head; returns them sealed, in order. */
export function sealEntries(
  head: { seq: bigint; hash: string },
  entries: readonly Omit<ActionLogEntry, 'hash' | 'prevHash' | 'seq' | 'hashVersion'>[],
): ActionLogEntry[] {
  let prevHash = head.hash;
  let seq = head.seq;
  return entries.map((e) => {
    seq += 1n;
    const unsealed = { ...e, seq, hashVersion: CURRENT_HASH_VERSION as 2 };
    const hash = chainHash(prevHash, unsealed);
    const sealed: ActionLogEntry = { ...unsealed, prevHash, hash };
    prevHash = hash;
    return sealed;
  });
}
