import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startAuditFixture, type AuditFixture } from './audit-fixture';
import { rawUnaryError } from '../../../shared/testing/grpc-raw-call';
import { BAD_REQUEST_URL, BadRequestType, detail, ERROR_INFO_URL, ErrorInfoType, statusDetails } from '../../../shared/testing/grpc-status-details';

/**
 * Contract test: a plain @grpc/grpc-js client built at run time from the .proto files, knowing
 * nothing of the generated TypeScript code, calls every AuditService RPC over HTTP/2 and checks
 * the wire shape of what comes back (proto-loader options: snake_case keys, int64 as strings,
 * enums as names, defaults filled in, oneofs named).
 *
 * Note on the well-known types: protobufjs (under proto-loader) always uses its bundled
 * definitions of google/protobuf/*.proto, whatever `includeDirs` says, so only `proto` is needed
 * as an include dir. Those bundled definitions spell their fields in camelCase, so a Struct's
 * `Value` reads `stringValue`/`numberValue`/... (and `kind` names the set member) even with
 * `keepCase: true` — and a request must use those names too, or protobufjs drops them silently.
 */

const PROTO_ROOT = path.resolve(__dirname, '../../../proto');
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;
const HEX64 = /^[0-9a-f]{64}$/;
const SEQ = /^[1-9][0-9]*$/;

// --- The wire shapes proto-loader produces with LOADER_OPTIONS -----------------------------

interface WireTimestamp {
  seconds: string;
  nanos: number;
}
interface WireValue {
  kind: string;
  [member: string]: unknown;
}
interface WireStruct {
  fields: Record<string, WireValue>;
}
interface WireEntry {
  name: string;
  seq: string;
  event_id: string;
  occur_time: WireTimestamp | null;
  record_time: WireTimestamp | null;
  actor_id: string;
  action_type: string;
  entity_type: string;
  entity_id: string;
  details: WireStruct | null;
  trace_id: string;
  span_id: string;
  trace_state: string;
  service_name: string;
  client_ip: string;
  user_agent: string;
  hash: string;
  prev_hash: string;
}
interface CreateResponse {
  action_log_entry: WireEntry;
  replayed: boolean;
}
interface BatchResponse {
  results: CreateResponse[];
}
interface GetResponse {
  action_log_entry: WireEntry;
}
interface ListResponse {
  action_log_entries: WireEntry[];
  next_page_token: string;
}
interface VerifyResponse {
  valid: boolean;
  verified_count: string;
  first_broken_seq: string;
  failure_reason: string;
  head_hash: string;
  head_seq: string;
}

type UnaryMethod = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: unknown) => void,
) => grpc.ClientUnaryCall;

// --- google.rpc.Status, from the grpc-status-details-bin trailer -----------------------------

const statusOf = statusDetails;

// --- Fixture and client ----------------------------------------------------------------------

let fx: AuditFixture;
let client: grpc.Client;

beforeAll(async () => {
  fx = await startAuditFixture();
  const definition = protoLoader.loadSync(path.join(PROTO_ROOT, 'mcpbackend/audit/v1/audit_service.proto'), LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    mcpbackend: { audit: { v1: { AuditService: grpc.ServiceClientConstructor } } };
  };
  client = new loaded.mcpbackend.audit.v1.AuditService(new URL(fx.baseUrl).host, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await fx?.close();
});

function metadata(entries: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

function call<T>(method: string, request: object, md: grpc.Metadata = new grpc.Metadata()): Promise<T> {
  const fn = (client as unknown as Record<string, UnaryMethod | undefined>)[method];
  if (!fn) throw new Error(`the client has no method ${method}`);
  return new Promise<T>((resolve, reject) => {
    fn.call(client, request, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

async function callError(method: string, request: object, md?: grpc.Metadata): Promise<grpc.ServiceError> {
  return call(method, request, md).then(
    () => {
      throw new Error(`expected ${method} to fail`);
    },
    (err: grpc.ServiceError) => err,
  );
}

const count = async () => Number((await fx.sql<{ n: string }>('SELECT count(*) AS n FROM action_log_entries'))[0]!.n);

function wireEntry(overrides: Record<string, unknown> = {}) {
  return {
    event_id: randomUUID(),
    action_type: 'ACTION_TYPE_CREATE',
    entity_type: 'ENTITY_TYPE_MCP_DEFINITION',
    entity_id: 'io.github.acme/contract',
    ...overrides,
  };
}

function expectTimestamp(ts: WireTimestamp | null): WireTimestamp {
  expect(ts).not.toBeNull();
  expect(Object.keys(ts!).sort()).toEqual(['nanos', 'seconds']);
  expect(typeof ts!.seconds).toBe('string');
  expect(ts!.seconds).toMatch(/^[0-9]+$/);
  expect(Number.isInteger(ts!.nanos)).toBe(true);
  expect(ts!.nanos % 1_000_000).toBe(0); // millisecond precision
  return ts!;
}

const millis = (ts: WireTimestamp) => Number(ts.seconds) * 1000 + ts.nanos / 1e6;

const ENTRY_KEYS = [
  'action_type',
  'actor_id',
  'actor_issuer',
  'actor_subject',
  'actor_type',
  'actor_verified',
  'client_ip',
  'details',
  'entity_id',
  'entity_type',
  'event_id',
  'hash',
  'name',
  'occur_time',
  'outcome',
  'prev_hash',
  'record_time',
  'seq',
  'service_name',
  'span_id',
  'trace_id',
  'trace_state',
  'unverified_actor_id',
  'user_agent',
];

// --- The RPCs ----------------------------------------------------------------------------------

describe('AuditService over @grpc/grpc-js, from the .proto files', () => {
  const actor = `contract-${randomUUID()}`;
  let created: WireEntry;

  it('CreateActionLogEntry: records an entry and returns it in the contract shape', async () => {
    const input = wireEntry({
      action_type: 'ACTION_TYPE_UPDATE',
      entity_type: 'ENTITY_TYPE_WORKFLOW_RUN',
      entity_id: 'run-contract',
      occur_time: { seconds: '1793527200', nanos: 250_000_000 }, // 2026-11-01T10:00:00.250Z
      details: {
        fields: {
          title: { stringValue: 'Weather' },
          attempts: { numberValue: 3 },
          ok: { boolValue: true },
          tags: { listValue: { values: [{ stringValue: 'a' }, { nullValue: 'NULL_VALUE' }] } },
          nested: { structValue: { fields: { k: { stringValue: 'v' } } } },
        },
      },
      // Output-only fields in the body are ignored.
      actor_id: 'body-actor',
      seq: '999',
      hash: 'f'.repeat(64),
    });
    const res = await call<CreateResponse>(
      'CreateActionLogEntry',
      { action_log_entry: input },
      metadata({ 'x-user-id': actor, traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE', 'x-service-name': 'contract-test' }),
    );

    expect(Object.keys(res).sort()).toEqual(['action_log_entry', 'replayed']);
    expect(res.replayed).toBe(false);
    const e = res.action_log_entry;
    expect(Object.keys(e).sort()).toEqual(ENTRY_KEYS);

    expect(typeof e.seq).toBe('string');
    expect(e.seq).toMatch(SEQ);
    // Header mode: the named actor is a user, and nothing about it was verified.
    expect(e).toMatchObject({ actor_type: 'ACTOR_TYPE_USER', actor_verified: false, actor_subject: '', outcome: 'OUTCOME_SUCCEEDED' });
    expect(e.name).toBe(`actionLogEntries/${e.seq}`);
    expect(e).toMatchObject({
      event_id: input.event_id,
      actor_id: actor,
      action_type: 'ACTION_TYPE_UPDATE',
      entity_type: 'ENTITY_TYPE_WORKFLOW_RUN',
      entity_id: 'run-contract',
      trace_id: TRACE_ID,
      span_id: PARENT_SPAN,
      trace_state: 'congo=t61rcWkgMzE',
      service_name: 'contract-test',
      client_ip: '127.0.0.1',
    });
    expect(e.user_agent).toMatch(/^grpc-node-js\//);
    expect(e.hash).toMatch(HEX64);
    expect(e.hash).not.toBe('f'.repeat(64));
    expect(e.prev_hash).toMatch(HEX64);

    expect(expectTimestamp(e.occur_time)).toEqual({ seconds: '1793527200', nanos: 250_000_000 });
    expect(Math.abs(millis(expectTimestamp(e.record_time)) - Date.now())).toBeLessThan(60_000);

    // google.protobuf.Struct: fields → Value with the set member and `kind` (see the note at the top).
    expect(e.details).toEqual({
      fields: {
        title: { stringValue: 'Weather', kind: 'stringValue' },
        attempts: { numberValue: 3, kind: 'numberValue' },
        ok: { boolValue: true, kind: 'boolValue' },
        tags: {
          listValue: { values: [{ stringValue: 'a', kind: 'stringValue' }, { nullValue: 'NULL_VALUE', kind: 'nullValue' }] },
          kind: 'listValue',
        },
        nested: { structValue: { fields: { k: { stringValue: 'v', kind: 'stringValue' } } }, kind: 'structValue' },
      },
    });
    // What was stored is plain JSON.
    const rows = await fx.sql<{ details: unknown }>('SELECT details FROM action_log_entries WHERE event_id = $1', [input.event_id]);
    expect(rows[0]!.details).toEqual({ title: 'Weather', attempts: 3, ok: true, tags: ['a', null], nested: { k: 'v' } });
    created = e;
  });

  it('CreateActionLogEntry: defaults — no metadata, no occur_time, no details', async () => {
    const res = await call<CreateResponse>('CreateActionLogEntry', { action_log_entry: wireEntry() });
    const e = res.action_log_entry;
    expect(e).toMatchObject({ actor_id: 'system', trace_state: '', service_name: 'unknown', client_ip: '127.0.0.1' });
    // No traceparent: the server's own span (if tracing is on) or empty — never garbage.
    expect(e.trace_id).toMatch(/^(|[0-9a-f]{32})$/);
    expect(e.span_id).toMatch(/^(|[0-9a-f]{16})$/);
    expect(e.occur_time).toEqual(e.record_time);
    // Unset details are recorded as an empty object and come back as an empty Struct.
    expect(e.details).toEqual({ fields: {} });
    expect(BigInt(e.seq)).toBe(BigInt(created.seq) + 1n);
    expect(e.prev_hash).toBe(created.hash);
  });

  it('CreateActionLogEntry: a replayed event_id returns the original entry with replayed = true', async () => {
    const again = await call<CreateResponse>(
      'CreateActionLogEntry',
      { action_log_entry: wireEntry({ event_id: created.event_id, entity_id: 'something-else' }) },
      metadata({ 'x-user-id': 'someone-else' }),
    );
    expect(again.replayed).toBe(true);
    expect(again.action_log_entry).toEqual(created);
  });

  it('BatchCreateActionLogEntries: one result per request, in order, consecutive seqs', async () => {
    const before = await count();
    const inputs = [wireEntry({ entity_id: 'batch-1' }), wireEntry({ entity_id: 'batch-2', action_type: 'ACTION_TYPE_DELETE' })];
    const res = await call<BatchResponse>(
      'BatchCreateActionLogEntries',
      { requests: [...inputs.map((action_log_entry) => ({ action_log_entry })), { action_log_entry: { ...wireEntry(), event_id: created.event_id } }] },
      metadata({ 'x-user-id': actor, traceparent: TRACEPARENT }),
    );
    expect(Object.keys(res)).toEqual(['results']);
    expect(res.results.map((r) => r.replayed)).toEqual([false, false, true]);
    const [a, b, c] = res.results.map((r) => r.action_log_entry);
    expect(a!.entity_id).toBe('batch-1');
    expect(b!.action_type).toBe('ACTION_TYPE_DELETE');
    expect(BigInt(b!.seq)).toBe(BigInt(a!.seq) + 1n);
    expect(b!.prev_hash).toBe(a!.hash);
    expect(c).toEqual(created);
    for (const e of [a!, b!]) expect(e).toMatchObject({ actor_id: actor, trace_id: TRACE_ID, span_id: PARENT_SPAN });
    expect(await count()).toBe(before + 2);
  });

  it('GetActionLogEntry: reads an entry back unchanged', async () => {
    const res = await call<GetResponse>('GetActionLogEntry', { name: created.name });
    expect(Object.keys(res)).toEqual(['action_log_entry']);
    expect(res.action_log_entry).toEqual(created);
  });

  it('view ACTION_LOG_ENTRY_VIEW_BASIC: the same entry with details unset (null)', async () => {
    const BASIC = 'ACTION_LOG_ENTRY_VIEW_BASIC';
    const got = await call<GetResponse>('GetActionLogEntry', { name: created.name, view: BASIC });
    expect(got.action_log_entry).toEqual({ ...created, details: null });
    const replay = await call<BatchResponse>('BatchCreateActionLogEntries', { requests: [{ action_log_entry: wireEntry({ event_id: created.event_id }) }], view: BASIC });
    expect(replay.results).toEqual([{ action_log_entry: { ...created, details: null }, replayed: true }]);
  });

  it('ListActionLogEntries: filters, orders and pages', async () => {
    const first = await call<ListResponse>('ListActionLogEntries', { filter: `actor_id = "${actor}" AND trace_id = "${TRACE_ID}"`, page_size: 2 });
    expect(Object.keys(first).sort()).toEqual(['action_log_entries', 'next_page_token']);
    expect(first.action_log_entries).toHaveLength(2);
    expect(first.action_log_entries[0]).toEqual(created);
    expect(first.next_page_token).not.toBe('');
    const second = await call<ListResponse>('ListActionLogEntries', {
      filter: `actor_id = "${actor}" AND trace_id = "${TRACE_ID}"`,
      page_size: 2,
      page_token: first.next_page_token,
    });
    expect(second.action_log_entries).toHaveLength(1);
    expect(second.next_page_token).toBe('');
    const seqs = [...first.action_log_entries, ...second.action_log_entries].map((e) => BigInt(e.seq));
    expect(seqs).toEqual([...seqs].sort((x, y) => (x < y ? -1 : 1)));

    const desc = await call<ListResponse>('ListActionLogEntries', { filter: `actor_id = "${actor}" AND action_type = ACTION_TYPE_DELETE`, order_by: 'seq desc' });
    expect(desc.action_log_entries.map((e) => e.entity_id)).toEqual(['batch-2']);
    expect(desc.next_page_token).toBe('');
  });

  it('VerifyActionLog: int64 fields as strings, hash as 64 hex', async () => {
    const all = await call<VerifyResponse>('VerifyActionLog', {});
    expect(Object.keys(all).sort()).toEqual(['failure_reason', 'first_broken_seq', 'head_hash', 'head_seq', 'valid', 'verified_count']);
    const total = await count();
    expect(all).toEqual({
      valid: true,
      verified_count: String(total),
      first_broken_seq: '0',
      failure_reason: '',
      head_hash: expect.stringMatching(HEX64),
      head_seq: String(total),
    });
    const range = await call<VerifyResponse>('VerifyActionLog', { start_seq: created.seq, end_seq: created.seq });
    expect(range).toMatchObject({ valid: true, verified_count: '1', head_seq: created.seq, head_hash: created.hash });
  });
});

describe('errors over @grpc/grpc-js', () => {
  it('INVALID_ARGUMENT carries google.rpc.Status with ErrorInfo and BadRequest in grpc-status-details-bin', async () => {
    const before = await count();
    const err = await callError('CreateActionLogEntry', { action_log_entry: wireEntry({ event_id: 'not-a-uuid' }) }, metadata({ 'x-user-id': 'bad' }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);

    const { raw, status } = statusOf(err);
    expect(raw.includes(Buffer.from(ERROR_INFO_URL))).toBe(true);
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.message).toBe('action_log_entry.event_id: "not-a-uuid" is not a UUID');
    // grpc-message is percent-encoded by the server and only partly decoded by grpc-js (decodeURI
    // leaves %3A etc.), so compare after a full decode; the Status message is the reliable copy.
    expect(decodeURIComponent(err.details)).toBe(status.message);

    expect(status.details.map((d) => d.type_url)).toEqual([ERROR_INFO_URL, BAD_REQUEST_URL]);
    expect(detail(status, ERROR_INFO_URL, ErrorInfoType)).toMatchObject({ reason: 'INVALID_ARGUMENT', domain: 'mcpbackend.dev' });
    expect(detail(status, BAD_REQUEST_URL, BadRequestType)).toEqual({
      field_violations: [expect.objectContaining({ field: 'action_log_entry.event_id', description: expect.stringMatching(/not a UUID/) })],
    });
    expect(await count()).toBe(before);
  });

  it('INVALID_ARGUMENT for an unknown enum number sent on the wire', async () => {
    const err = await callError('CreateActionLogEntry', { action_log_entry: wireEntry({ action_type: 99 }) });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(statusOf(err).status.message).toMatch(/unknown ACTION_TYPE value 99/);
    const view = await callError('ListActionLogEntries', { view: 7 });
    expect(view.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(detail(statusOf(view).status, BAD_REQUEST_URL, BadRequestType)).toMatchObject({ field_violations: [expect.objectContaining({ field: 'view' })] });
  });

  it('INVALID_ARGUMENT for bad List and Verify arguments', async () => {
    const list = await callError('ListActionLogEntries', { filter: 'colour = "red"' });
    expect(list.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(detail(statusOf(list).status, BAD_REQUEST_URL, BadRequestType)).toMatchObject({ field_violations: [expect.objectContaining({ field: 'filter' })] });

    const verify = await callError('VerifyActionLog', { start_seq: '5', end_seq: '2' });
    expect(verify.code).toBe(grpc.status.INVALID_ARGUMENT);

    const batch = await callError('BatchCreateActionLogEntries', { requests: [] });
    expect(batch.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('NOT_FOUND for an unknown entry, with ErrorInfo naming the resource', async () => {
    const err = await callError('GetActionLogEntry', { name: 'actionLogEntries/987654321' });
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    const { raw, status } = statusOf(err);
    expect(raw.includes(Buffer.from(ERROR_INFO_URL))).toBe(true);
    expect(status).toMatchObject({ code: grpc.status.NOT_FOUND, message: 'ActionLogEntry "actionLogEntries/987654321" not found' });
    expect(detail(status, ERROR_INFO_URL, ErrorInfoType)).toMatchObject({
      reason: 'RESOURCE_NOT_FOUND',
      domain: 'mcpbackend.dev',
      metadata: { resource_type: 'ActionLogEntry', resource_name: 'actionLogEntries/987654321' },
    });
  });

  it('UNIMPLEMENTED for a method the service does not have', async () => {
    const err = await rawUnaryError(client, '/mcpbackend.audit.v1.AuditService/DeleteActionLogEntry');
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});
