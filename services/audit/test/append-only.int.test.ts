import { randomBytes } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { entryInput, startAuditFixture, startAuditInstance, type AuditFixture } from './audit-fixture';

/**
 * Append-only for real: the trigger stops even the table owner, the writer role has no
 * UPDATE/DELETE grant, and tampering behind both is caught by VerifyActionLog.
 */
let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
  await fx.client.batchCreateActionLogEntries({
    requests: Array.from({ length: 10 }, (_, i) => ({ actionLogEntry: entryInput({ entityId: `e${i + 1}` }) })),
  });
});
afterAll(async () => {
  await fx?.close();
});

describe('the append-only trigger', () => {
  it.each([
    ['UPDATE', "UPDATE action_log_entries SET actor_id = 'mallory' WHERE seq = 1"],
    ['DELETE', 'DELETE FROM action_log_entries WHERE seq = 1'],
    ['TRUNCATE', 'TRUNCATE action_log_entries'],
  ])('rejects %s even for the superuser', async (op, sql) => {
    await expect(fx.sql(sql)).rejects.toThrow(new RegExp(`append-only: ${op} is not allowed`));
    expect((await fx.sql<{ n: string }>('SELECT count(*) AS n FROM action_log_entries'))[0]!.n).toBe('10');
  });
});

describe('the mcp_audit_writer role', () => {
  const login = `audit_app_${randomBytes(4).toString('hex')}`;
  // A password, so the role can log in under password authentication too (the embedded server).
  const password = randomBytes(12).toString('hex');
  let appUrl: string;

  beforeAll(async () => {
    await fx.sql(`CREATE ROLE ${login} LOGIN PASSWORD '${password}' IN ROLE mcp_audit_writer`);
    const url = new URL(fx.databaseUrl);
    url.username = login;
    url.password = password;
    appUrl = url.toString();
  });
  afterAll(async () => {
    await fx.sql(`DROP ROLE IF EXISTS ${login}`);
  });

  it('may read and insert but not update or delete log rows', async () => {
    const pg = new PgClient({ connectionString: appUrl });
    await pg.connect();
    try {
      expect((await pg.query('SELECT count(*) AS n FROM action_log_entries')).rows[0].n).toBe('10');
      await expect(pg.query("UPDATE action_log_entries SET actor_id = 'x' WHERE seq = 1")).rejects.toThrow(/permission denied/);
      await expect(pg.query('DELETE FROM action_log_entries WHERE seq = 1')).rejects.toThrow(/permission denied/);
      await expect(pg.query('TRUNCATE action_log_entries')).rejects.toThrow(/permission denied/);
    } finally {
      await pg.end();
    }
  });

  it('is enough to run the service (migrations applied separately)', async () => {
    const app = await startAuditInstance(appUrl, { AUDIT_MIGRATE_ON_START: 'false' });
    try {
      const res = await app.client.createActionLogEntry({ actionLogEntry: entryInput() }, { headers: { 'x-user-id': 'least-privilege' } });
      expect(res.actionLogEntry!.seq).toBe(11n);
      expect((await app.client.verifyActionLog({})).valid).toBe(true);
    } finally {
      await app.service.close();
    }
  });
});

describe('VerifyActionLog', () => {
  it('names the first tampered entry when a stored row is changed behind the trigger', async () => {
    expect((await fx.client.verifyActionLog({})).valid).toBe(true);
    await fx.sql('ALTER TABLE action_log_entries DISABLE TRIGGER action_log_entries_append_only');
    try {
      await fx.sql(`UPDATE action_log_entries SET details = '{"title":"forged"}' WHERE seq = 4`);
    } finally {
      await fx.sql('ALTER TABLE action_log_entries ENABLE TRIGGER action_log_entries_append_only');
    }
    const res = await fx.client.verifyActionLog({});
    expect(res).toMatchObject({ valid: false, firstBrokenSeq: 4n, verifiedCount: 3n, failureReason: 'content does not match its hash' });
    // A range that ends before the tampered row still verifies.
    expect((await fx.client.verifyActionLog({ startSeq: 1n, endSeq: 3n })).valid).toBe(true);
  });

  it('names a deleted entry as missing', async () => {
    await fx.sql('ALTER TABLE action_log_entries DISABLE TRIGGER action_log_entries_append_only');
    try {
      await fx.sql('DELETE FROM action_log_entries WHERE seq = 7');
    } finally {
      await fx.sql('ALTER TABLE action_log_entries ENABLE TRIGGER action_log_entries_append_only');
    }
    const res = await fx.client.verifyActionLog({ startSeq: 5n });
    expect(res).toMatchObject({ valid: false, firstBrokenSeq: 7n, failureReason: 'entry 7 is missing' });
  });
});
