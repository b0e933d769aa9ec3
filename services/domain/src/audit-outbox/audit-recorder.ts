import type { Transaction } from 'sequelize';
import type { AuditEvent, AuditOrigin } from './audit-event';
import { currentAuditOrigin } from './audit-origin';
import type { OutboxRepository } from './outbox-repository';

/** How use cases record audit events: inside their own transaction, never over the network. */
export interface AuditRecorder {
  /** `origin` defaults to the current request's; background work (the engine) passes its own. */
  record(tx: Transaction, event: AuditEvent, origin?: AuditOrigin): Promise<void>;
}

/**
 * Writes the event to the outbox in the caller's transaction and, once that transaction
 * commits, nudges the relay so delivery starts at once instead of at the next poll.
 * `enabled: false` records nothing (the benchmark's baseline, never production).
 */
export function createAuditRecorder(opts: { outbox: OutboxRepository; enabled: boolean; onCommitted: () => void }): AuditRecorder {
  return {
    async record(tx, event, origin = currentAuditOrigin()) {
      if (!opts.enabled) return;
      await opts.outbox.insert(tx, event, origin);
      tx.afterCommit(opts.onCommitted);
    },
  };
}
