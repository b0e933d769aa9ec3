import { randomUUID } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { BadRequestSchema } from '../../../shared/gen/google/rpc/error_details_pb';
import { ActionLogEntryView, type ActionLogEntry } from '../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { entryInput, startAuditFixture, type AuditFixture, type JsonEntry } from './audit-fixture';

/**
 * AIP-157 partial responses: `view` decides whether entries come back with `details`. BASIC
 * leaves it unset on every RPC that returns entries; UNSPECIFIED and FULL return it. The view
 * changes nothing about what is recorded or which entries are returned.
 */
let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

const { UNSPECIFIED, BASIC, FULL } = ActionLogEntryView;
const UNKNOWN_VIEW = 7 as ActionLogEntryView;
const DETAILS = { title: 'Weather', attempts: 3, tags: ['a', null], nested: { ok: true } };
const HEX64 = /^[0-9a-f]{64}$/;

const count = async () => Number((await fx.sql<{ n: string }>('SELECT count(*) AS n FROM action_log_entries'))[0]!.n);

/** The entry without its details, as a BASIC response must carry it. */
const withoutDetails = (e: ActionLogEntry) => ({ ...e, details: undefined });

/** Every field a BASIC entry still carries: identity, chain, provenance. */
function expectBasic(e: ActionLogEntry | undefined): ActionLogEntry {
  expect(e).toBeDefined();
  expect(e!.details).toBeUndefined();
  expect(e!.seq).toBeGreaterThan(0n);
  expect(e!.name).toBe(`actionLogEntries/${e!.seq}`);
  expect(e!.eventId).toMatch(/^[0-9a-f-]{36}$/);
  expect(e!.hash).toMatch(HEX64);
  expect(e!.prevHash).toMatch(HEX64);
  expect(e!.occurTime).toBeDefined();
  expect(e!.recordTime).toBeDefined();
  expect(e!.entityId).not.toBe('');
  expect(e!.actorId).not.toBe('');
  return e!;
}

async function expectInvalidView(call: () => Promise<unknown>, field: string, message: RegExp) {
  const before = await count();
  const err = await call().then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => ConnectError.from(e),
  );
  expect(Code[err.code]).toBe('InvalidArgument');
  expect(err.rawMessage).toMatch(message);
  expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual([field]);
  expect(await count()).toBe(before);
}

describe('CreateActionLogEntry', () => {
  it('BASIC returns the recorded entry without details; Get reads the details back', async () => {
    const input = entryInput({ details: DETAILS });
    const res = await fx.client.createActionLogEntry({ actionLogEntry: input, view: BASIC }, { headers: { 'x-user-id': 'alice' } });
    expect(res.replayed).toBe(false);
    const basic = expectBasic(res.actionLogEntry);
    expect(basic).toMatchObject({ eventId: input.eventId, actorId: 'alice', entityId: input.entityId });

    // What was recorded is the whole entry: only the response was partial.
    const full = (await fx.client.getActionLogEntry({ name: basic.name })).actionLogEntry!;
    expect(full.details).toEqual(DETAILS);
    expect(withoutDetails(full)).toEqual(withoutDetails(basic));
  });

  it.each([
    ['UNSPECIFIED', UNSPECIFIED],
    ['FULL', FULL],
  ])('%s returns details', async (_name, view) => {
    const res = await fx.client.createActionLogEntry({ actionLogEntry: entryInput({ details: DETAILS }), view });
    expect(res.actionLogEntry!.details).toEqual(DETAILS);
  });

  it('FULL returns an empty Struct for an entry recorded without details; BASIC leaves it unset', async () => {
    const { details: _omitted, ...noDetails } = entryInput();
    const full = await fx.client.createActionLogEntry({ actionLogEntry: noDetails, view: FULL });
    expect(full.actionLogEntry!.details).toEqual({});
    const basic = await fx.client.createActionLogEntry({ actionLogEntry: { ...noDetails, eventId: randomUUID() }, view: BASIC });
    expect(basic.actionLogEntry!.details).toBeUndefined();
  });

  it('a replay with BASIC returns the original entry without details, and writes nothing', async () => {
    const input = entryInput({ details: DETAILS });
    const original = (await fx.client.createActionLogEntry({ actionLogEntry: input })).actionLogEntry!;
    const before = await count();

    const again = await fx.client.createActionLogEntry(
      { actionLogEntry: { ...input, entityId: 'something-else', details: { other: 1 } }, view: BASIC },
      { headers: { 'x-user-id': 'someone-else' } },
    );
    expect(again.replayed).toBe(true);
    expect(expectBasic(again.actionLogEntry)).toEqual(withoutDetails(original));

    const full = await fx.client.createActionLogEntry({ actionLogEntry: input, view: FULL });
    expect(full.replayed).toBe(true);
    expect(full.actionLogEntry).toEqual(original);
    expect(await count()).toBe(before);
  });
});

describe('BatchCreateActionLogEntries', () => {
  it('BASIC applies to every result, replays included', async () => {
    const replayedInput = entryInput({ details: DETAILS });
    const original = (await fx.client.createActionLogEntry({ actionLogEntry: replayedInput })).actionLogEntry!;
    const inputs = [entryInput({ details: DETAILS }), entryInput({ details: { n: 2 } })];
    const res = await fx.client.batchCreateActionLogEntries({
      // Nested views may be unset or the batch's own.
      requests: [{ actionLogEntry: inputs[0] }, { actionLogEntry: inputs[1], view: BASIC }, { actionLogEntry: replayedInput }],
      view: BASIC,
    });
    expect(res.results.map((r) => r.replayed)).toEqual([false, false, true]);
    const [a, b, c] = res.results.map((r) => expectBasic(r.actionLogEntry));
    expect(a!.eventId).toBe(inputs[0]!.eventId);
    expect(b!.seq).toBe(a!.seq + 1n);
    expect(b!.prevHash).toBe(a!.hash);
    expect(c).toEqual(withoutDetails(original));

    const stored = await fx.client.getActionLogEntry({ name: b!.name, view: FULL });
    expect(stored.actionLogEntry!.details).toEqual({ n: 2 });
  });

  it.each([
    ['UNSPECIFIED', UNSPECIFIED],
    ['FULL', FULL],
  ])('%s returns details on every result', async (_name, view) => {
    const res = await fx.client.batchCreateActionLogEntries({
      // A nested FULL under an unset batch view is the same view.
      requests: [{ actionLogEntry: entryInput({ details: DETAILS }) }, { actionLogEntry: entryInput({ details: DETAILS }), view: FULL }],
      view,
    });
    expect(res.results.map((r) => r.actionLogEntry!.details)).toEqual([DETAILS, DETAILS]);
  });

  it.each([
    ['a nested FULL under a BASIC batch', BASIC, [UNSPECIFIED, FULL], 'requests[1].view', /requests\[1\]\.view: is FULL; it must be unset or the batch's view \(BASIC\)/],
    ['a nested BASIC under an unset batch view', UNSPECIFIED, [BASIC, UNSPECIFIED], 'requests[0].view', /requests\[0\]\.view: is BASIC/],
    ['an unknown nested view', FULL, [UNSPECIFIED, UNKNOWN_VIEW], 'requests[1].view', /requests\[1\]\.view: is 7/],
  ])('rejects %s, naming it, and writes nothing', async (_name, view, nested, field, message) => {
    const requests = nested.map((v) => ({ actionLogEntry: entryInput(), view: v }));
    await expectInvalidView(() => fx.client.batchCreateActionLogEntries({ requests, view }), field, message);
  });
});

describe('GetActionLogEntry and ListActionLogEntries', () => {
  const entityId = `view-${randomUUID()}`;
  let written: ActionLogEntry[];

  beforeAll(async () => {
    const requests = Array.from({ length: 5 }, (_, i) => ({ actionLogEntry: entryInput({ entityId, details: { i } }) }));
    written = (await fx.client.batchCreateActionLogEntries({ requests })).results.map((r) => r.actionLogEntry!);
  });

  it('Get: BASIC without details, UNSPECIFIED and FULL with them', async () => {
    const name = written[2]!.name;
    const basic = await fx.client.getActionLogEntry({ name, view: BASIC });
    expect(expectBasic(basic.actionLogEntry)).toEqual(withoutDetails(written[2]!));
    for (const view of [UNSPECIFIED, FULL]) {
      expect((await fx.client.getActionLogEntry({ name, view })).actionLogEntry).toEqual(written[2]);
    }
  });

  it('List: BASIC returns the same entries without details; UNSPECIFIED and FULL with them', async () => {
    const filter = `entity_id = "${entityId}"`;
    const basic = await fx.client.listActionLogEntries({ filter, view: BASIC });
    expect(basic.actionLogEntries).toHaveLength(5);
    expect(basic.actionLogEntries.map(expectBasic)).toEqual(written.map(withoutDetails));
    for (const view of [UNSPECIFIED, FULL]) {
      const full = await fx.client.listActionLogEntries({ filter, view });
      expect(full.actionLogEntries).toEqual(written);
      expect(full.actionLogEntries.map((e) => e.details)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    }
  });

  it('List: the view is not part of the query, so a page token continues under another view', async () => {
    const filter = `entity_id = "${entityId}"`;
    const first = await fx.client.listActionLogEntries({ filter, pageSize: 2, view: BASIC });
    expect(first.actionLogEntries.map((e) => e.details)).toEqual([undefined, undefined]);
    const second = await fx.client.listActionLogEntries({ filter, pageSize: 2, pageToken: first.nextPageToken, view: FULL });
    expect(second.actionLogEntries).toEqual(written.slice(2, 4));
  });

  it('over Connect JSON: BASIC entries have no "details" key; the view may be sent by name', async () => {
    const res = await fetch(`${fx.baseUrl}/mcpbackend.audit.v1.AuditService/GetActionLogEntry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: written[0]!.name, view: 'ACTION_LOG_ENTRY_VIEW_BASIC' }),
    });
    expect(res.status).toBe(200);
    const { actionLogEntry } = (await res.json()) as { actionLogEntry: JsonEntry };
    expect(actionLogEntry.seq).toBe(String(written[0]!.seq));
    expect(actionLogEntry.hash).toBe(written[0]!.hash);
    expect('details' in actionLogEntry).toBe(false);
  });
});

describe('an unknown view number', () => {
  it.each([
    ['CreateActionLogEntry', () => fx.client.createActionLogEntry({ actionLogEntry: entryInput(), view: UNKNOWN_VIEW })],
    ['BatchCreateActionLogEntries', () => fx.client.batchCreateActionLogEntries({ requests: [{ actionLogEntry: entryInput() }], view: UNKNOWN_VIEW })],
    ['GetActionLogEntry', () => fx.client.getActionLogEntry({ name: 'actionLogEntries/1', view: UNKNOWN_VIEW })],
    ['ListActionLogEntries', () => fx.client.listActionLogEntries({ view: UNKNOWN_VIEW })],
  ])('is INVALID_ARGUMENT naming `view` on %s', async (_rpc, call) => {
    await expectInvalidView(call, 'view', /^view: unknown ACTION_LOG_ENTRY_VIEW value 7$/);
  });

  it('is reported together with the entry\'s own violations on Create', async () => {
    const err = await fx.client.createActionLogEntry({ actionLogEntry: entryInput({ entityId: '' }), view: UNKNOWN_VIEW }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual(['action_log_entry.entity_id', 'view']);
  });
});
