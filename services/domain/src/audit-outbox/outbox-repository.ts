import { randomUUID } from 'node:crypto';
import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { AuditActionType, AuditEntityType, AuditEvent, AuditOrigin, OutboxEntry } from './audit-event';

interface OutboxRow {
  id: string;
  event_id: string;
  occur_time: Date;
  actor_id: string;
  traceparent: string;
  tracestate: string;
  client_ip: string;
  user_agent: string;
  action_type: string;
  entity_type: string;
  entity_id: string;
  details: AuditEvent['details'];
  attempts: number;
  actor_type: string;
  actor_subject: string;
  actor_issuer: string;
  actor_verified: boolean;
  unverified_actor_id: string;
  outcome: string;
}

const toEntry = (r: OutboxRow): OutboxEntry => ({
  id: BigInt(r.id),
  eventId: r.event_id,
  occurTime: r.occur_time,
  actorId: r.actor_id,
  traceparent: r.traceparent,
  tracestate: r.tracestate,
  clientIp: r.client_ip,
  userAgent: r.user_agent,
  actionType: r.action_type as AuditActionType,
  entityType: r.entity_type as AuditEntityType,
  entityId: r.entity_id,
  details: r.details,
  attempts: r.attempts,
  actorType: r.actor_type as AuditOrigin['actorType'],
  actorSubject: r.actor_subject,
  actorIssuer: r.actor_issuer,
  actorVerified: r.actor_verified,
  unverifiedActorId: r.unverified_actor_id,
  outcome: r.outcome as 'SUCCEEDED' | 'DENIED',
});

export function createOutboxRepository(sequelize: Sequelize) {
  return {
    /** Inserted inside the caller's transaction: the entry exists if and only if the change does. */
    async insert(tx: Transaction, event: AuditEvent, origin: AuditOrigin): Promise<void> {
      await sequelize.query(
        `INSERT INTO audit_outbox (event_id, occur_time, actor_id, traceparent, tracestate, client_ip, user_agent,
           action_type, entity_type, entity_id, details, actor_type, actor_subject, actor_issuer, actor_verified,
           unverified_actor_id, outcome)
         VALUES ($1, clock_timestamp(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
        {
          bind: [randomUUID(), origin.actorId, origin.traceparent, origin.tracestate, origin.clientIp, origin.userAgent,
            event.actionType, event.entityType, event.entityId, JSON.stringify(event.details), origin.actorType,
            origin.actorSubject, origin.actorIssuer, origin.actorVerified, origin.unverifiedActorId, event.outcome ?? 'SUCCEEDED'],
          transaction: tx,
        },
      );
    },

    /**
     * Leases up to `limit` due entries, oldest first, for `leaseMs`: they stop being due, so
     * no other relay (another replica, or this one's next claim) sends them while this one
     * does. Rows another relay is claiming at this moment are skipped. An entry is left out
     * while an older entry of the same entity is still in the outbox (in flight, backing
     * off, or delivered but not yet deleted), so each entity's entries reach the audit log
     * in the order their changes committed. Commits at once: a relay that dies mid-delivery
     * leaves its entries to be claimed again when the lease ends (a re-send is a replay).
     * Returned oldest first.
     */
    async claimDue(limit: number, leaseMs: number): Promise<OutboxEntry[]> {
      const rows = await sequelize.query<OutboxRow>(
        `WITH candidates AS (
           SELECT id, entity_type, entity_id FROM audit_outbox WHERE next_attempt_at <= now()
           ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
         ), eligible AS (
           SELECT c.id FROM candidates c
           WHERE NOT EXISTS (
             SELECT 1 FROM audit_outbox o
             WHERE o.entity_type = c.entity_type AND o.entity_id = c.entity_id AND o.id < c.id
               AND o.id NOT IN (SELECT id FROM candidates)
           )
         )
         UPDATE audit_outbox o SET next_attempt_at = now() + ($2::int * interval '1 millisecond')
         FROM eligible e WHERE o.id = e.id
         RETURNING o.*`,
        { bind: [limit, Math.round(leaseMs)], type: QueryTypes.SELECT },
      );
      return rows.map(toEntry).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async deleteDelivered(ids: readonly bigint[]): Promise<void> {
      if (ids.length === 0) return;
      await sequelize.query('DELETE FROM audit_outbox WHERE id = ANY($1::bigint[])', { bind: [ids.map(String)] });
    },

    /** Ends the lease of claimed entries that were not attempted: due again at once. */
    async release(ids: readonly bigint[]): Promise<void> {
      if (ids.length === 0) return;
      await sequelize.query('UPDATE audit_outbox SET next_attempt_at = now() WHERE id = ANY($1::bigint[])', { bind: [ids.map(String)] });
    },

    async markFailed(id: bigint, error: string, retryInMs: number): Promise<void> {
      await sequelize.query(
        `UPDATE audit_outbox SET attempts = attempts + 1, last_error = $2,
           next_attempt_at = now() + ($3::int * interval '1 millisecond') WHERE id = $1`,
        { bind: [id.toString(), error.slice(0, 2000), Math.round(retryInMs)] },
      );
    },

    /** How far behind delivery is: entries waiting and the age of the oldest. */
    async backlog(): Promise<{ count: number; oldestAgeSeconds: number }> {
      const [row] = await sequelize.query<{ count: string; age: number | null }>(
        'SELECT count(*) AS count, extract(epoch FROM now() - min(occur_time))::float8 AS age FROM audit_outbox',
        { type: QueryTypes.SELECT },
      );
      return { count: Number(row?.count ?? 0), oldestAgeSeconds: Math.max(0, row?.age ?? 0) };
    },
  };
}

export type OutboxRepository = ReturnType<typeof createOutboxRepository>;
