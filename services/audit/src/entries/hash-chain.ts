import { createHash } from 'node:crypto';
import { canonicalJson } from '../../../../shared/api/canonical-json';
import type { ActionLogEntry } from './action-log-entry';

/** The `prev_hash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** Version of the canonical form; bump it (and keep the old one for verification) if it changes. */
const CANONICAL_VERSION = 1;

/**
 * The content an entry's hash covers: every recorded field except the hashes themselves,
 * as canonical JSON (sorted keys, millisecond ISO times), so any change to any field or
 * to the order of entries changes the hash.
 */
export function canonicalContent(entry: Omit<ActionLogEntry, 'hash' | 'prevHash'>): string {
  return canonicalJson({
    v: CANONICAL_VERSION,
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
  entries: readonly Omit<ActionLogEntry, 'hash' | 'prevHash' | 'seq'>[],
): ActionLogEntry[] {
  let prevHash = head.hash;
  let seq = head.seq;
  return entries.map((e) => {
    seq += 1n;
    const unsealed = { ...e, seq };
    const hash = chainHash(prevHash, unsealed);
    const sealed: ActionLogEntry = { ...unsealed, prevHash, hash };
    prevHash = hash;
    return sealed;
  });
}
