import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ActionType, EntityType } from '../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { Client as PgClient } from 'pg';
import { entryInput, startAuditFixture, startAuditInstance, type AuditFixture } from './audit-fixture';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const traceparent = (traceId = TRACE_ID, span = PARENT_SPAN) => `00-${traceId}-${span}-01`;

let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

async function expectCode(p: Promise<unknown>, code: Code, message?: RegExp): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(err).toBeDefined();
  expect(Code[err!.code]).toBe(Code[code]);
  if (message) expect(err!.rawMessage).toMatch(message);
  return err!;
}

describe('recording and reading entries', () => {
  it('records an entry with actor, trace and client details from metadata, and reads it back', async () => {
    const input = entryInput({ occurTime: timestampFromDate(new Date('2026-11-01T10:00:00.123Z')), details: { b: [1, 'two'], a: { x: true } } });
    const res = await fx.client.createActionLogEntry(
      { actionLogEntry: { ...input, actorId: 'ignored-body-actor' } },
      {
        headers: {
          'x-user-id': 'alice',
          traceparent: traceparent(),
          tracestate: 'vendor=1',
          'x-service-name': 'mcp-domain',
          'x-client-ip': '203.0.113.7',
          'x-client-user-agent': 'curl/8.0',
        },
      },
    );
    expect(res.replayed).toBe(false);
    const e = res.actionLogEntry!;
    expect(e).toMatchObject({
      eventId: input.eventId,
      actorId: 'alice',
      actionType: ActionType.CREATE,
      entityType: EntityType.MCP_DEFINITION,
      entityId: 'io.github.acme/weather',
      details: { b: [1, 'two'], a: { x: true } },
      traceId: TRACE_ID,
      spanId: PARENT_SPAN,
      traceState: 'vendor=1',
      serviceName: 'mcp-domain',
      clientIp: '203.0.113.7',
      userAgent: 'curl/8.0',
    });
    expect(e.name).toBe(`actionLogEntries/${e.seq}`);
    expect(e.occurTime && new Date(Number(e.occurTime.seconds) * 1000 + e.occurTime.nanos / 1e6).toISOString()).toBe('2026-11-01T10:00:00.123Z');
    expect(e.recordTime).toBeDefined();
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);

    const got = await fx.client.getActionLogEntry({ name: e.name });
    expect(got.actionLogEntry).toEqual(e);
  });

  it('falls back to the "system" actor when x-user-id is absent or empty', async () => {
    const none = await fx.client.createActionLogEntry({ actionLogEntry: entryInput() });
    expect(none.actionLogEntry!.actorId).toBe('system');
    const empty = await fx.client.createActionLogEntry({ actionLogEntry: entryInput() }, { headers: { 'x-user-id': '  ' } });
    expect(empty.actionLogEntry!.actorId).toBe('system');
  });

  it('links each entry to the previous one', async () => {
    const a = (await fx.client.createActionLogEntry({ actionLogEntry: entryInput() })).actionLogEntry!;
    const b = (await fx.client.createActionLogEntry({ actionLogEntry: entryInput() })).actionLogEntry!;
    expect(b.seq).toBe(a.seq + 1n);
    expect(b.prevHash).toBe(a.hash);
  });

  it('is idempotent on event_id: a replay returns the original entry and writes nothing', async () => {
    const input = entryInput();
    const first = await fx.client.createActionLogEntry({ actionLogEntry: input }, { headers: { 'x-user-id': 'alice' } });
    const again = await fx.client.createActionLogEntry(
      { actionLogEntry: { ...input, entityId: 'changed' } },
      { headers: { 'x-user-id': 'mallory' } },
    );
    expect(again.replayed).toBe(true);
    expect(again.actionLogEntry).toEqual(first.actionLogEntry);
    const rows = await fx.sql<{ n: string }>('SELECT count(*) AS n FROM action_log_entries WHERE event_id = $1', [input.eventId]);
    expect(rows[0]!.n).toBe('1');
  });

  it('records a batch in one transaction, in order, with replays inside and across batches', async () => {
    const known = (await fx.client.createActionLogEntry({ actionLogEntry: entryInput() })).actionLogEntry!;
    const dup = entryInput();
    const res = await fx.client.batchCreateActionLogEntries(
      {
        requests: [
          { actionLogEntry: entryInput({ entityId: 'b1' }) },
          { actionLogEntry: dup },
          { actionLogEntry: { ...entryInput(), eventId: known.eventId } },
          { actionLogEntry: dup },
        ],
      },
      { headers: { 'x-user-id': 'batcher' } },
    );
    expect(res.results.map((r) => r.replayed)).toEqual([false, false, true, true]);
    const [r0, r1, r2, r3] = res.results.map((r) => r.actionLogEntry!);
    expect(r1!.seq).toBe(r0!.seq + 1n);
    expect(r2).toEqual(known);
    expect(r3).toEqual(r1);
    expect(r0!.actorId).toBe('batcher');
  });
});

describe('listing', () => {
  const trace = randomUUID().replace(/-/g, '');
  const entity = `run-${randomUUID()}`;
  let seeded: bigint[] = [];

  beforeAll(async () => {
    const mk = async (actor: string, overrides: Record<string, unknown>, tp?: string) =>
      (
        await fx.client.createActionLogEntry(
          { actionLogEntry: entryInput(overrides) },
          { headers: { 'x-user-id': actor, ...(tp ? { traceparent: tp } : {}) } },
        )
      ).actionLogEntry!.seq;
    seeded = [
      await mk('lister-a', { entityType: EntityType.WORKFLOW_RUN, entityId: entity, actionType: ActionType.CREATE }, traceparent(trace)),
      await mk('lister-b', { entityType: EntityType.WORKFLOW_RUN, entityId: entity, actionType: ActionType.UPDATE }, traceparent(trace)),
      await mk('lister-a', { entityType: EntityType.WORKFLOW_RUN, entityId: entity, actionType: ActionType.EXECUTE }),
      await mk('lister-a', {
        entityType: EntityType.WORKFLOW_DEFINITION,
        entityId: 'wf-1',
        actionType: ActionType.DELETE,
        occurTime: timestampFromDate(new Date('2020-01-01T00:00:00Z')),
      }),
    ];
  });

  const list = async (filter: string, extra: Record<string, unknown> = {}) =>
    (await fx.client.listActionLogEntries({ filter, ...extra })).actionLogEntries.map((e) => e.seq);

  it('filters by actor, action type, entity type, entity id and trace id', async () => {
    expect(await list('actor_id = "lister-a"')).toEqual([seeded[0], seeded[2], seeded[3]]);
    expect(await list('action_type = UPDATE AND actor_id = "lister-b"')).toEqual([seeded[1]]);
    expect(await list('action_type = ACTION_TYPE_EXECUTE AND actor_id = "lister-a"')).toEqual([seeded[2]]);
    expect(await list(`entity_type = WORKFLOW_RUN AND entity_id = "${entity}"`)).toEqual(seeded.slice(0, 3));
    // entity_type on its own narrows too (lister-a has entries of two entity types).
    expect(await list('entity_type = WORKFLOW_DEFINITION AND actor_id = "lister-a"')).toEqual([seeded[3]]);
    expect(await list('entity_type = WORKFLOW_RUN AND actor_id = "lister-a"')).toEqual([seeded[0], seeded[2]]);
    expect(await list(`entity_id = "${entity}"`)).toEqual(seeded.slice(0, 3));
    expect(await list(`trace_id = "${trace}"`)).toEqual(seeded.slice(0, 2));
  });

  it('filters by time range and seq range', async () => {
    expect(await list('actor_id = "lister-a" AND occur_time < "2021-01-01T00:00:00Z"')).toEqual([seeded[3]]);
    expect(await list('actor_id = "lister-a" AND occur_time >= "2021-01-01T00:00:00Z"')).toEqual([seeded[0], seeded[2]]);
    expect(await list(`actor_id = "lister-a" AND seq > ${seeded[0]} AND seq <= ${seeded[2]}`)).toEqual([seeded[2]]);
  });

  it('orders by seq ascending or descending', async () => {
    expect(await list('actor_id = "lister-a"', { orderBy: 'seq desc' })).toEqual([seeded[3], seeded[2], seeded[0]]);
  });

  it('pages with opaque keyset tokens bound to their query', async () => {
    const seen: bigint[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const res = await fx.client.listActionLogEntries({ filter: 'actor_id = "lister-a"', orderBy: 'seq desc', pageSize: 2, pageToken });
      seen.push(...res.actionLogEntries.map((e) => e.seq));
      pageToken = res.nextPageToken;
      pages += 1;
    } while (pageToken);
    expect(pages).toBe(2);
    expect(seen).toEqual([seeded[3], seeded[2], seeded[0]]);

    const first = await fx.client.listActionLogEntries({ filter: 'actor_id = "lister-a"', pageSize: 1 });
    await expectCode(
      fx.client.listActionLogEntries({ filter: 'actor_id = "lister-b"', pageSize: 1, pageToken: first.nextPageToken }),
      Code.InvalidArgument,
      /page_token/,
    );
  });

  it('returns the default page size of 50 and caps at 1000', async () => {
    await fx.client.batchCreateActionLogEntries({
      requests: Array.from({ length: 60 }, () => ({ actionLogEntry: entryInput({ entityId: 'paging' }) })),
    });
    const res = await fx.client.listActionLogEntries({ filter: 'entity_id = "paging"' });
    expect(res.actionLogEntries).toHaveLength(50);
    expect(res.nextPageToken).not.toBe('');
    // Larger sizes are capped at 1000 (AIP-158: coerced, not rejected).
    await fx.client.batchCreateActionLogEntries({
      requests: Array.from({ length: 950 }, () => ({ actionLogEntry: entryInput({ entityId: 'paging' }) })),
    });
    const capped = await fx.client.listActionLogEntries({ filter: 'entity_id = "paging"', pageSize: 5000 });
    expect(capped.actionLogEntries).toHaveLength(1000);
    expect(capped.nextPageToken).not.toBe('');
    const rest = await fx.client.listActionLogEntries({ filter: 'entity_id = "paging"', pageSize: 5000, pageToken: capped.nextPageToken });
    expect(rest.actionLogEntries).toHaveLength(10);
    expect(rest.nextPageToken).toBe('');
  });
});

describe('concurrent writers', () => {
  it('20 concurrent writers produce a strictly increasing, gap-free seq and a valid chain', async () => {
    const before = await fx.client.verifyActionLog({});
    const writers = Array.from({ length: 20 }, (_, w) =>
      (async () => {
        for (let i = 0; i < 10; i++) {
          if (i % 5 === 4) {
            await fx.client.batchCreateActionLogEntries(
              { requests: Array.from({ length: 5 }, () => ({ actionLogEntry: entryInput({ entityId: `w${w}` }) })) },
              { headers: { 'x-user-id': `writer-${w}` } },
            );
          } else {
            await fx.client.createActionLogEntry({ actionLogEntry: entryInput({ entityId: `w${w}` }) }, { headers: { 'x-user-id': `writer-${w}` } });
          }
        }
      })(),
    );
    await Promise.all(writers);
    const rows = await fx.sql<{ seq: string }>('SELECT seq FROM action_log_entries ORDER BY seq');
    const seqs = rows.map((r) => BigInt(r.seq));
    seqs.forEach((s, i) => expect(s).toBe(BigInt(i + 1)));
    expect(BigInt(seqs.length)).toBe(before.headSeq + 20n * (8n + 2n * 5n));
    // Commit order: record_time never decreases along seq.
    const times = await fx.sql<{ ok: boolean }>(
      'SELECT bool_and(record_time >= lag_time) AS ok FROM (SELECT record_time, lag(record_time) OVER (ORDER BY seq) AS lag_time FROM action_log_entries) t WHERE lag_time IS NOT NULL',
    );
    expect(times[0]!.ok).toBe(true);
    // Concurrent requests share transactions (group commit), yet each entry keeps its own actor.
    const mixed = await fx.sql<{ n: string }>(
      "SELECT count(*) AS n FROM action_log_entries WHERE entity_id ~ '^w[0-9]+$' AND actor_id <> 'writer-' || substring(entity_id from 2)",
    );
    expect(mixed[0]!.n).toBe('0');
    const verify = await fx.client.verifyActionLog({});
    expect(verify).toMatchObject({ valid: true, firstBrokenSeq: 0n, headSeq: BigInt(seqs.length) });
    expect(verify.verifiedCount).toBe(BigInt(seqs.length));
  });

  it('verifies a sub-range', async () => {
    const r = await fx.client.verifyActionLog({ startSeq: 3n, endSeq: 7n });
    expect(r).toMatchObject({ valid: true, verifiedCount: 5n, headSeq: 7n });
  });
});

describe('two replicas on one database', () => {
  it('the same event_id sent to both at once is recorded once, and both answer with that entry', async () => {
    const second = await startAuditInstance(fx.databaseUrl);
    const blocker = new PgClient({ connectionString: fx.databaseUrl });
    await blocker.connect();
    try {
      // Hold the chain head, so both replicas read the log before either has written, then queue on the lock.
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM audit_chain_head WHERE id = 1 FOR UPDATE');
      const input = entryInput({ entityId: 'replicas' });
      const calls = [fx.client, second.client].map((c) => c.createActionLogEntry({ actionLogEntry: input }, { headers: { 'x-user-id': 'replica-test' } }));
      const deadline = Date.now() + 10_000;
      for (;;) {
        // From another session: inside its transaction the blocker would see one frozen snapshot of the statistics.
        const waiting = await fx.sql<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%audit_chain_head%'",
        );
        if (Number(waiting[0]!.n) >= 2) break;
        if (Date.now() > deadline) throw new Error(`${waiting[0]!.n} of 2 appends are waiting for the chain head`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await blocker.query('COMMIT');
      const [a, b] = await Promise.all(calls);
      expect(a!.actionLogEntry!.seq).toBe(b!.actionLogEntry!.seq);
      expect(a!.actionLogEntry!.hash).toBe(b!.actionLogEntry!.hash);
      const rows = await fx.sql<{ n: string }>('SELECT count(*) AS n FROM action_log_entries WHERE event_id = $1', [input.eventId]);
      expect(rows[0]!.n).toBe('1');
      expect(await fx.client.verifyActionLog({})).toMatchObject({ valid: true, firstBrokenSeq: 0n });
    } finally {
      await blocker.end();
      await second.service.close();
    }
  });

  it('writes through both at once form one gap-free chain, record_time (the database clock) never decreasing', async () => {
    const second = await startAuditInstance(fx.databaseUrl);
    try {
      const before = (await fx.client.verifyActionLog({})).headSeq;
      await Promise.all(
        [fx.client, second.client].flatMap((c, r) =>
          Array.from({ length: 10 }, (_, w) =>
            (async () => {
              for (let i = 0; i < 5; i++) await c.createActionLogEntry({ actionLogEntry: entryInput({ entityId: `replica${r}-w${w}` }) });
            })(),
          ),
        ),
      );
      const rows = await fx.sql<{ seq: string; ok: boolean | null }>(
        'SELECT seq, record_time >= lag(record_time) OVER (ORDER BY seq) AS ok FROM action_log_entries WHERE seq > $1 ORDER BY seq',
        [before.toString()],
      );
      expect(rows.map((r) => BigInt(r.seq))).toEqual(Array.from({ length: 100 }, (_, i) => before + BigInt(i + 1)));
      expect(rows.slice(1).every((r) => r.ok === true)).toBe(true);
      expect(await second.client.verifyActionLog({})).toMatchObject({ valid: true, firstBrokenSeq: 0n, headSeq: before + 100n });
    } finally {
      await second.service.close();
    }
  });
});
