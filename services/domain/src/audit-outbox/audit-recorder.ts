import type { Transaction } from 'sequelize';
import type { AuditEvent } from './audit-event';
import { currentAuditOrigin } from './audit-origin';
import type { OutboxRepository } from './outbox-repository';

/** How use cases record audit events: inside their own transaction, never over the network. */
export interface AuditRecorder {
  record(tx: Transaction, event: AuditEvent): Promise<void>;
}

/**
 * Writes the event to the outbox in the caller's transaction and, once that transaction
 * commits, nudges the relay so delivery starts at once instead of at the next poll.
 * `enabled: false` records nothing (the benchmark's baseline, never production).
 */
export function createAuditRecorder(opts: { outbox: OutboxRepository; enabled: boolean; onCommitted: () => void }): AuditRecorder {
  return {
    async record(tx, event) {
      if (!opts.enabled) return;
      await opts.outbox.insert(tx, event, currentAuditOrigin());
      tx.afterCommit(opts.onCommitted);
    },
  };
}
