import { QueryTypes, type Sequelize } from 'sequelize';
import { createSequelize } from '../../../shared/db/create-sequelize';
import { runMigrations } from '../../../shared/db/migrator';
import { createTestDatabase, type TestDatabase } from '../../../shared/testing/test-database';
import { domainMigrations } from '../migrations';
import { systemOrigin } from '../src/audit-outbox/audit-origin';
import { createOutboxRepository, type OutboxRepository } from '../src/audit-outbox/outbox-repository';

/**
 * The outbox's claim protocol on real PostgreSQL: a claim leases entries (no other claim
 * gets them until the lease ends or they are released), concurrent claims never share an
 * entry, and an entity's later entries wait while an earlier one is still in the outbox.
 */
let db: TestDatabase;
let sequelize: Sequelize;
let outbox: OutboxRepository;

beforeAll(async () => {
  db = await createTestDatabase('outbox');
  sequelize = createSequelize({ url: db.url, poolMax: 8, applicationName: 'outbox-test' });
  await runMigrations(sequelize, domainMigrations);
  outbox = createOutboxRepository(sequelize);
});
afterAll(async () => {
  await sequelize?.close();
  await db?.drop();
});
beforeEach(async () => {
  await sequelize.query('DELETE FROM audit_outbox');
});

/** One committed outbox entry per entity id given, in this order. */
async function record(...entityIds: string[]): Promise<void> {
  for (const entityId of entityIds) {
    await sequelize.transaction((tx) =>
      outbox.insert(tx, { actionType: 'UPDATE', entityType: 'MCP_DEFINITION', entityId, details: {} }, systemOrigin('')),
    );
  }
}

const ids = (entries: { entityId: string }[]) => entries.map((e) => e.entityId);

test('a claim leases its entries: the next claim skips them until they are released', async () => {
  await record('a', 'b', 'c');
  const first = await outbox.claimDue(2, 60_000);
  expect(ids(first)).toEqual(['a', 'b']);
  expect(ids(await outbox.claimDue(10, 60_000))).toEqual(['c']);
  expect(await outbox.claimDue(10, 60_000)).toEqual([]);

  await outbox.release([first[1]!.id]);
  expect(ids(await outbox.claimDue(10, 60_000))).toEqual(['b']);
});

test('an entry whose lease ended (its relay died) is claimed again', async () => {
  await record('a');
  const [leased] = await outbox.claimDue(10, 150);
  expect(await outbox.claimDue(10, 150)).toEqual([]);
  await new Promise((r) => setTimeout(r, 300));
  const again = await outbox.claimDue(10, 60_000);
  expect(again.map((e) => e.eventId)).toEqual([leased!.eventId]);
});

test("an entity's later entries wait until its earlier entry leaves the outbox", async () => {
  await record('x');
  const [x1] = await outbox.claimDue(1, 60_000);
  await record('x', 'y');
  // x's second entry waits behind the first, which is in flight; y is free.
  expect(ids(await outbox.claimDue(10, 60_000))).toEqual(['y']);

  // A failed delivery keeps it waiting (the first is backing off, still in the outbox)…
  await outbox.markFailed(x1!.id, 'unavailable', 60_000);
  expect(await outbox.claimDue(10, 60_000)).toEqual([]);
  // …and once the first is delivered and deleted, the second becomes due.
  await outbox.deleteDelivered([x1!.id]);
  expect(ids(await outbox.claimDue(10, 60_000))).toEqual(['x']);
});

test('entries of one entity claimed together come back in commit order', async () => {
  await record('x', 'x', 'x');
  const claimed = await outbox.claimDue(10, 60_000);
  expect(claimed).toHaveLength(3);
  expect(claimed.map((e) => e.id)).toEqual([...claimed.map((e) => e.id)].sort((a, b) => (a < b ? -1 : 1)));
});

test('concurrent claims never share an entry, and each entity goes to one claimer as a prefix of its entries', async () => {
  const entities = Array.from({ length: 10 }, (_, i) => `e${i}`);
  await record(...Array.from({ length: 12 }, () => entities).flat());
  const inOrder = await sequelize.query<{ id: string; entity_id: string }>('SELECT id, entity_id FROM audit_outbox ORDER BY id', { type: QueryTypes.SELECT });

  const claims = await Promise.all(Array.from({ length: 6 }, () => outbox.claimDue(25, 60_000)));
  const all = claims.flat();
  // Skipping each other's locks, the claims together still took at least every entity's first entry.
  expect(all.length).toBeGreaterThanOrEqual(entities.length);
  expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
  for (const entity of entities) {
    const holders = claims.map((c, i) => (c.some((e) => e.entityId === entity) ? i : -1)).filter((i) => i >= 0);
    expect(holders.length).toBeLessThanOrEqual(1);
    const claimedIds = all.filter((e) => e.entityId === entity).map((e) => e.id.toString());
    const entityIds = inOrder.filter((r) => r.entity_id === entity).map((r) => r.id);
    expect(claimedIds).toEqual(entityIds.slice(0, claimedIds.length));
  }
});
