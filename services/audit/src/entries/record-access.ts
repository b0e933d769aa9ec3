import { randomUUID } from 'node:crypto';
import type { JsonObject } from '@bufbuild/protobuf';
import type { Provenance } from './action-log-entry';
import type { GroupCommitter } from './group-commit';

/**
 * Entries the audit service writes about access to the log itself: who read what (so an
 * auditor's own searches leave a trail) and who was refused a write. They join the same
 * hash chain as every other entry.
 */
export async function recordLogAccess(
  committer: GroupCommitter,
  access: { kind: 'read' | 'denied_write'; entityId: string; details: JsonObject },
  provenance: Provenance,
): Promise<void> {
  await committer.record(
    [
      {
        eventId: randomUUID(),
        occurTime: undefined,
        actionType: access.kind === 'read' ? 'READ' : 'CREATE',
        entityType: 'ACTION_LOG',
        entityId: access.entityId,
        details: access.details,
        outcome: access.kind === 'read' ? 'SUCCEEDED' : 'DENIED',
      },
    ],
    provenance,
  );
}
