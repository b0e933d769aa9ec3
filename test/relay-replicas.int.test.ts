import type { Sequelize } from 'sequelize';
import { createSequelize } from '../shared/db/create-sequelize';
import { runMigrations } from '../shared/db/migrator';
import { createLogger } from '../shared/logging/logger';
import { createTestDatabase, type TestDatabase } from '../shared/testing/test-database';
import { domainMigrations } from '../services/domain/migrations';
import type { AuditOrigin, OutboxEntry } from '../services/domain/src/audit-outbox/audit-event';
import { startAuditRelay, type AuditRelay } from '../services/domain/src/audit-outbox/audit-relay';
import { createGrpcAuditSink } from '../services/domain/src/audit-outbox/audit-sink';
import { createOutboxRepository } from '../services/domain/src/audit-outbox/outbox-repository';
import { startAuditInstance, type AuditInstance } from '../services/audit/test/audit-fixture';

/**
 * Several domain replicas share one outbox: two relays, each with its own connection pool and
 * its own gRPC client, deliver to a real audit service. Every acknowledged call is observed (the
 * real sink, wrapped), so a duplicate send would be seen even though the audit service would
 * answer it as a harmless replay.
 */
let auditDb: TestDatabase;
let domainDb: TestDatabase;
let audit: AuditInstance;
const pools: Sequelize[] = [];

beforeAll(async () => {
  [auditDb, domainDb] = [await createTestDatabase('relays_audit'), await createTestDatabase('relays_domain')];
  audit = await startAuditInstance(auditDb.url);
  const owner = createSequelize({ url: domainDb.url, poolMax: 2, applicationName: 'relays-migrate' });
  pools.push(owner);
  await runMigrations(owner, domainMigrations);
});
afterAll(async () => {
  await audit?.service.close();
  await Promise.all(pools.map((p) => p.close()));
  await auditDb?.drop();
  await domainDb?.drop();
});

const origin = (actorId: string): AuditOrigin => ({
  actorId,
  actorType: 'USER',
  actorSubject: '',
  actorIssuer: '',
  actorVerified: false,
  unverifiedActorId: '',
  traceparent: '',
  tracestate: '',
  clientIp: '10.0.0.1',
  userAgent: 'relay-test',
});

function startReplicaRelay(name: string, sent: string[]): AuditRelay {
  const db = createSequelize({ url: domainDb.url, poolMax: 4, applicationName: name });
  pools.push(db);
  const sink = createGrpcAuditSink({ auditUrl: audit.baseUrl, serviceName: name, timeoutMs: 5_000, serviceToken: async () => undefined });
  return startAuditRelay({
    outbox: createOutboxRepository(db),
    // Counted once the audit service acknowledged it: a call that timed out and is retried is the
    // relay's at-least-once delivery, not two relays sending one entry.
    sink: async (e: OutboxEntry) => {
      await sink(e);
      sent.push(e.eventId);
    },
    logger: createLogger({ service: name, level: 'silent' }),
    batchSize: 40,
    concurrency: 8,
    pollIntervalMs: 50,
    minBackoffMs: 50,
    maxBackoffMs: 200,
    leaseMs: 30_000,
    callTimeoutMs: 5_000,
  });
}

test('two relays on one outbox send every entry exactly once, each entity in commit order', async () => {
  const writer = createSequelize({ url: domainDb.url, poolMax: 2, applicationName: 'relays-writer' });
  pools.push(writer);
  const outbox = createOutboxRepository(writer);
  const entities = Array.from({ length: 20 }, (_, i) => `mcpServers/e${i}`);
  let n = 0;
  const write = async (count: number, relays: AuditRelay[] = []) => {
    for (let i = 0; i < count; i++, n++) {
      const entityId = entities[n % entities.length]!;
      await writer.transaction((tx) => outbox.insert(tx, { actionType: 'UPDATE', entityType: 'MCP_DEFINITION', entityId, details: { n } }, origin(`user-${n}`)));
      for (const r of relays) r.kick();
    }
  };

  await write(100); // a backlog both replicas find at start…
  const sent: [string[], string[]] = [[], []];
  const relays = [startReplicaRelay('replica-a', sent[0]), startReplicaRelay('replica-b', sent[1])];
  try {
    await write(100, relays); // …and commits arriving while they run
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [row] = await writer.query<{ n: string }>('SELECT count(*) AS n FROM audit_outbox', { type: 'SELECT' as never });
      if (row!.n === '0') break;
      if (Date.now() > deadline) throw new Error(`${row!.n} entries still in the outbox`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await Promise.all(relays.map((r) => r.stop()));
  }

  const all = [...sent[0], ...sent[1]];
  expect(all).toHaveLength(200);
  expect(new Set(all).size).toBe(200);

  const { actionLogEntries: log } = await audit.client.listActionLogEntries({ pageSize: 1000, orderBy: 'seq' });
  expect(log).toHaveLength(200);
  for (const entity of entities) {
    // The details carry the write order: per entity, the log has them in that order.
    const order = log.filter((e) => e.entityId === entity).map((e) => e.details!.n as number);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(order).toHaveLength(10);
  }
  // The original actor of each entry travelled in its call's metadata.
  expect(log.every((e) => e.actorId === `user-${e.details!.n as number}`)).toBe(true);
  expect(await audit.client.verifyActionLog({})).toMatchObject({ valid: true, headSeq: 200n });
});
