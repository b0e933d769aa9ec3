import { randomBytes, randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
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

/**
 * Each failure branch of VerifyActionLog, one tamper each, on a log of its own: every test
 * starts a fresh service and database with entries 1..10, so the shared log above (already
 * tampered by the tests before) and these tests cannot affect one another.
 */
describe('VerifyActionLog, branch by branch (a fresh log of 10 entries per test)', () => {
  let log: AuditFixture;
  beforeEach(async () => {
    log = await startAuditFixture();
    await log.client.batchCreateActionLogEntries({
      requests: Array.from({ length: 10 }, (_, i) => ({ actionLogEntry: entryInput({ entityId: `e${i + 1}` }) })),
    });
    expect(await log.client.verifyActionLog({})).toMatchObject({ valid: true, verifiedCount: 10n, headSeq: 10n });
  });
  afterEach(async () => {
    await log?.close();
  });

  /** Runs SQL as the superuser with the append-only trigger disabled, as an attacker with that access could. */
  async function behindTheTrigger(...statements: string[]) {
    await log.sql('ALTER TABLE action_log_entries DISABLE TRIGGER action_log_entries_append_only');
    try {
      for (const s of statements) await log.sql(s);
    } finally {
      await log.sql('ALTER TABLE action_log_entries ENABLE TRIGGER action_log_entries_append_only');
    }
  }
  const storedHash = async (seq: number) =>
    (await log.sql<{ hash: string }>('SELECT hash FROM action_log_entries WHERE seq = $1', [seq]))[0]!.hash;
  const chainHead = async () => (await log.sql<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_chain_head WHERE id = 1'))[0]!;

  it('names an entry whose prev_hash no longer links to the entry before it (content and hash untouched)', async () => {
    await behindTheTrigger(`UPDATE action_log_entries SET prev_hash = repeat('f', 64) WHERE seq = 5`);
    const res = await log.client.verifyActionLog({});
    expect(res).toMatchObject({
      valid: false,
      firstBrokenSeq: 5n,
      verifiedCount: 4n,
      failureReason: 'prev_hash does not link to the previous entry',
      headSeq: 4n,
      headHash: await storedHash(4),
    });
    // Entry 5's own hash still matches its content over the true predecessor: only the link check can see this.
    expect((await log.client.verifyActionLog({ startSeq: 1n, endSeq: 4n })).valid).toBe(true);
  });

  it('names the first missing entry when entries after the last remaining one are deleted and the chain head still records them', async () => {
    await behindTheTrigger('DELETE FROM action_log_entries WHERE seq >= 9');
    expect(await chainHead()).toMatchObject({ seq: '10' });
    const expected = {
      valid: false,
      firstBrokenSeq: 9n,
      verifiedCount: 8n,
      failureReason: 'entries after 8 are missing (chain head is at 10)',
      headSeq: 8n,
      headHash: await storedHash(8),
    };
    // Whether the range is open-ended or ends at (or past) the head, it reaches the end.
    expect(await log.client.verifyActionLog({})).toMatchObject(expected);
    expect(await log.client.verifyActionLog({ startSeq: 3n, endSeq: 10n })).toMatchObject({ ...expected, verifiedCount: 6n });
    expect(await log.client.verifyActionLog({ startSeq: 1n, endSeq: 99n })).toMatchObject(expected);
    // A range that ends at the last remaining entry does not reach the head and still verifies…
    expect(await log.client.verifyActionLog({ startSeq: 1n, endSeq: 8n })).toMatchObject({ valid: true, verifiedCount: 8n });
    // …but one that ends on a deleted entry names it, though it stops short of the head.
    expect(await log.client.verifyActionLog({ startSeq: 5n, endSeq: 9n })).toMatchObject({
      valid: false,
      firstBrokenSeq: 9n,
      verifiedCount: 4n,
      failureReason: 'entry 9 is missing',
    });
  });

  it('names an entry written past the chain head (inserted around the service)', async () => {
    // What an attacker with INSERT (the writer role has it) could add: a next entry linked to the
    // last one, without moving the chain head. However well it is hashed, it is not on the chain the head records.
    const [last] = await log.sql<Record<string, unknown>>('SELECT * FROM action_log_entries WHERE seq = 10');
    const forged = { ...(last as object), seq: 11, event_id: randomUUID(), entity_id: 'forged', prev_hash: (last as { hash: string }).hash } as Record<string, unknown>;
    const columns = Object.keys(forged).filter((c) => c !== 'hash');
    await log.sql(
      `INSERT INTO action_log_entries (${columns.join(', ')}, hash) SELECT ${columns.map((_, i) => `$${i + 1}`).join(', ')}, repeat('e', 64)`,
      columns.map((c) => (c === 'details' ? JSON.stringify(forged[c]) : forged[c])),
    );
    expect(await log.client.verifyActionLog({})).toMatchObject({
      valid: false,
      firstBrokenSeq: 11n,
      verifiedCount: 10n,
      failureReason: 'entry 11 is past the recorded chain head (10): it was not appended through the chain',
    });
  });

  it('an empty range just past the head is valid; one further is OUT_OF_RANGE', async () => {
    expect(await log.client.verifyActionLog({ startSeq: 11n })).toMatchObject({ valid: true, verifiedCount: 0n, headSeq: 10n });
    const err = await log.client.verifyActionLog({ startSeq: 20n }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect({ code: Code[err!.code], message: err!.rawMessage }).toEqual({
      code: 'OutOfRange',
      message: 'start_seq: 20 is past the end of the log (the chain head is at 10)',
    });
  });

  it('names the last entry when it no longer matches the recorded chain head', async () => {
    await log.sql(`UPDATE audit_chain_head SET hash = repeat('e', 64) WHERE id = 1`);
    const res = await log.client.verifyActionLog({});
    expect(res).toMatchObject({
      valid: false,
      firstBrokenSeq: 10n,
      verifiedCount: 10n,
      failureReason: 'the last entry does not match the recorded chain head',
      headSeq: 10n,
      headHash: await storedHash(10),
    });
    expect(await log.client.verifyActionLog({ startSeq: 6n, endSeq: 10n })).toMatchObject({ valid: false, firstBrokenSeq: 10n, verifiedCount: 5n });
    // A range that stops before the head is not compared with it.
    expect(await log.client.verifyActionLog({ startSeq: 1n, endSeq: 9n })).toMatchObject({ valid: true, verifiedCount: 9n });
  });

  it('names the entry before the range when it is missing', async () => {
    await behindTheTrigger('DELETE FROM action_log_entries WHERE seq = 4');
    expect(await log.client.verifyActionLog({ startSeq: 5n })).toMatchObject({
      valid: false,
      firstBrokenSeq: 4n,
      verifiedCount: 0n,
      failureReason: 'the entry before the range is missing',
      headSeq: 0n,
      headHash: '',
    });
    // From the start, the same gap is found by the scan; a range after it (anchored on entry 5) verifies.
    expect(await log.client.verifyActionLog({})).toMatchObject({ valid: false, firstBrokenSeq: 4n, verifiedCount: 3n, failureReason: 'entry 4 is missing' });
    expect(await log.client.verifyActionLog({ startSeq: 6n })).toMatchObject({ valid: true, verifiedCount: 5n, headSeq: 10n });
  });

  it('verifies a sub-range that does not start at 1, reporting its own last entry as head', async () => {
    expect(await log.client.verifyActionLog({ startSeq: 4n, endSeq: 7n })).toMatchObject({
      valid: true,
      verifiedCount: 4n,
      firstBrokenSeq: 0n,
      failureReason: '',
      headSeq: 7n,
      headHash: await storedHash(7),
    });
    const head = await chainHead();
    expect(await log.client.verifyActionLog({ startSeq: 4n })).toMatchObject({ valid: true, verifiedCount: 7n, headSeq: 10n, headHash: head.hash });
    expect(await log.client.verifyActionLog({ startSeq: 10n, endSeq: 10n })).toMatchObject({
      valid: true,
      verifiedCount: 1n,
      headSeq: 10n,
      headHash: head.hash,
    });
  });

  it('anchors a sub-range on the stored hash of the entry before it', async () => {
    await behindTheTrigger(`UPDATE action_log_entries SET hash = repeat('d', 64) WHERE seq = 3`);
    expect(await log.client.verifyActionLog({ startSeq: 4n, endSeq: 7n })).toMatchObject({
      valid: false,
      firstBrokenSeq: 4n,
      verifiedCount: 0n,
      failureReason: 'prev_hash does not link to the previous entry',
    });
    expect(await log.client.verifyActionLog({})).toMatchObject({ valid: false, firstBrokenSeq: 3n, failureReason: 'content does not match its hash' });
  });
});
