import { Code, ConnectError } from '@connectrpc/connect';
import { BadRequestSchema, ErrorInfoSchema } from '../../../shared/gen/google/rpc/error_details_pb';
import { HealthCheckResponse_ServingStatus, Health } from '../../../shared/gen/grpc/health/v1/health_pb';
import { createClient } from '@connectrpc/connect';
import { createRpcClientTransport } from '../../../shared/rpc/client-transport';
import { entryInput, startAuditFixture, type AuditFixture } from './audit-fixture';

/**
 * Every caller mistake gets the right code and names the field; nothing is written, and the
 * service stays healthy afterwards.
 */
let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

const count = async () => Number((await fx.sql<{ n: string }>('SELECT count(*) AS n FROM action_log_entries'))[0]!.n);

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => ConnectError.from(e),
  );
}

async function expectFieldError(call: () => Promise<unknown>, code: Code, field: string, message: RegExp) {
  const before = await count();
  const err = await rejection(call());
  expect(Code[err.code]).toBe(Code[code]);
  expect(err.rawMessage).toMatch(message);
  const info = err.findDetails(ErrorInfoSchema)[0];
  expect(info?.domain).toBe('mcpbackend.dev');
  if (code === Code.InvalidArgument) {
    const fields = err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field);
    expect(fields).toContain(field);
  }
  expect(await count()).toBe(before);
}

describe('CreateActionLogEntry', () => {
  const create = (entry: Record<string, unknown> | undefined) => fx.client.createActionLogEntry({ actionLogEntry: entry as never });

  it.each([
    ['a missing entry', undefined, 'action_log_entry', /is required/],
    ['a missing event_id', entryInput({ eventId: '' }), 'action_log_entry.event_id', /is required/],
    ['a non-UUID event_id', entryInput({ eventId: 'abc' }), 'action_log_entry.event_id', /not a UUID/],
    ['an unspecified action_type', entryInput({ actionType: 0 }), 'action_log_entry.action_type', /is required/],
    ['an unknown action_type', entryInput({ actionType: 99 }), 'action_log_entry.action_type', /unknown ACTION_TYPE value 99/],
    ['an unspecified entity_type', entryInput({ entityType: 0 }), 'action_log_entry.entity_type', /is required/],
    ['an unknown entity_type', entryInput({ entityType: 42 }), 'action_log_entry.entity_type', /unknown ENTITY_TYPE value 42/],
    ['an empty entity_id', entryInput({ entityId: '   ' }), 'action_log_entry.entity_id', /is required/],
    ['an over-long entity_id', entryInput({ entityId: 'x'.repeat(257) }), 'action_log_entry.entity_id', /at most 256/],
    ['a bad timestamp', entryInput({ occurTime: { seconds: 999999999999n, nanos: 0 } }), 'action_log_entry.occur_time', /not a valid timestamp/],
    ['negative nanos', entryInput({ occurTime: { seconds: 1n, nanos: -1 } }), 'action_log_entry.occur_time', /not a valid timestamp/],
    ['details over 64 KiB', entryInput({ details: { blob: 'x'.repeat(70_000) } }), 'action_log_entry.details', /limit is 65536/],
  ])('rejects %s with INVALID_ARGUMENT', async (_name, entry, field, message) => {
    await expectFieldError(() => create(entry), Code.InvalidArgument, field, message);
  });
});

describe('BatchCreateActionLogEntries', () => {
  it('rejects an empty batch', async () => {
    await expectFieldError(() => fx.client.batchCreateActionLogEntries({ requests: [] }), Code.InvalidArgument, 'requests', /at least one/);
  });

  it('rejects a batch over 1,000 entries', async () => {
    const requests = Array.from({ length: 1001 }, () => ({ actionLogEntry: entryInput({ details: {} }) }));
    await expectFieldError(() => fx.client.batchCreateActionLogEntries({ requests }), Code.InvalidArgument, 'requests', /limit is 1000/);
  });

  it('rejects a batch over 4 MiB with RESOURCE_EXHAUSTED', async () => {
    const requests = Array.from({ length: 80 }, () => ({ actionLogEntry: entryInput({ details: { blob: 'x'.repeat(60_000) } }) }));
    const before = await count();
    const err = await rejection(fx.client.batchCreateActionLogEntries({ requests }));
    expect(Code[err.code]).toBe('ResourceExhausted');
    expect(await count()).toBe(before);
  });

  it('writes nothing when one entry of the batch is invalid, and names it', async () => {
    const requests = [{ actionLogEntry: entryInput() }, { actionLogEntry: entryInput({ entityId: '' }) }];
    await expectFieldError(() => fx.client.batchCreateActionLogEntries({ requests }), Code.InvalidArgument, 'requests[1].action_log_entry.entity_id', /is required/);
  });
});

describe('GetActionLogEntry', () => {
  it.each([
    ['an empty name', '', /name: is required/],
    ['a malformed name', 'entries/1', /not of the form actionLogEntries\/\{seq\}/],
    ['a zero seq', 'actionLogEntries/0', /not of the form/],
  ])('rejects %s', async (_n, name, message) => {
    await expectFieldError(() => fx.client.getActionLogEntry({ name }), Code.InvalidArgument, 'name', message);
  });

  it('returns NOT_FOUND for an unknown entry', async () => {
    const err = await rejection(fx.client.getActionLogEntry({ name: 'actionLogEntries/999999' }));
    expect(Code[err.code]).toBe('NotFound');
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe('RESOURCE_NOT_FOUND');
  });
});

describe('ListActionLogEntries', () => {
  it.each([
    ['a negative page_size', { pageSize: -1 }, 'page_size', /page_size/],
    ['an invalid page_token', { pageToken: 'not-a-token' }, 'page_token', /page_token/],
    ['a filter on an unknown field', { filter: 'colour = "red"' }, 'filter', /unknown field "colour"/],
    ['a filter with an unknown enum value', { filter: 'action_type = LAUNCH' }, 'filter', /LAUNCH/],
    ['a filter with a bad timestamp', { filter: 'occur_time > "yesterday"' }, 'filter', /occur_time/],
    ['a filter with OR', { filter: 'actor_id = "a" OR actor_id = "b"' }, 'filter', /OR/],
    ['an unknown order_by', { orderBy: 'actor_id' }, 'order_by', /actor_id/],
  ])('rejects %s', async (_n, req, field, message) => {
    await expectFieldError(() => fx.client.listActionLogEntries(req), Code.InvalidArgument, field, message);
  });
});

describe('VerifyActionLog', () => {
  it('rejects a reversed range', async () => {
    await expectFieldError(() => fx.client.verifyActionLog({ startSeq: 5n, endSeq: 2n }), Code.InvalidArgument, 'end_seq', /less than start_seq/);
  });
});

describe('wire-level garbage', () => {
  it('answers garbage protobuf bytes with INVALID_ARGUMENT', async () => {
    const before = await count();
    const res = await fetch(`${fx.baseUrl}/mcpbackend.audit.v1.AuditService/CreateActionLogEntry`, {
      method: 'POST',
      headers: { 'content-type': 'application/proto' },
      body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99]),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid_argument');
    expect(await count()).toBe(before);
  });

  it('answers malformed JSON and unknown enum names with INVALID_ARGUMENT', async () => {
    const before = await count();
    for (const body of ['{"actionLogEntry":', '{"actionLogEntry":{"actionType":"ACTION_TYPE_LAUNCH"}}']) {
      const res = await fetch(`${fx.baseUrl}/mcpbackend.audit.v1.AuditService/CreateActionLogEntry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(((await res.json()) as { code: string }).code).toBe('invalid_argument');
    }
    expect(await count()).toBe(before);
  });

  it('is still healthy after all of it', async () => {
    const health = createClient(Health, createRpcClientTransport({ baseUrl: fx.baseUrl, protocol: 'grpc' }));
    expect((await health.check({ service: 'mcpbackend.audit.v1.AuditService' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await fx.client.createActionLogEntry({ actionLogEntry: entryInput() })).replayed).toBe(false);
  });
});
