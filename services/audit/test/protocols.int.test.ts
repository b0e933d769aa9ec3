import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Code, ConnectError } from '@connectrpc/connect';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { ActionType, EntityType } from '../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { entryInput, startAuditFixture, startAuditInstance, type AuditFixture, type JsonEntry } from './audit-fixture';

/**
 * One port, every protocol: Connect JSON over plain HTTP/1.1 `fetch`, gRPC-Web, Connect (binary)
 * and gRPC through connect-es clients, grpc.health.v1 through grpc-js — and what each records
 * from its headers (actor, trace, client IP, user agent).
 */

const SERVICE = 'mcpbackend.audit.v1.AuditService';
const TRACE_ID = '5bf92f3577b34da6a3ce929d0e0e4737';
const PARENT_SPAN = '10f067aa0ba902b8';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN}-01`;

let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

// --- Connect JSON over HTTP/1.1 with fetch ----------------------------------------------------

interface FetchResult<T> {
  status: number;
  contentType: string | null;
  body: T;
}

async function postJson<T>(method: string, body: unknown, headers: Record<string, string> = {}): Promise<FetchResult<T>> {
  const res = await fetch(`${fx.baseUrl}/${SERVICE}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'connect-protocol-version': '1', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, contentType: res.headers.get('content-type'), body: (await res.json()) as T };
}

const jsonEntry = (overrides: Record<string, unknown> = {}) => ({
  eventId: randomUUID(),
  actionType: 'ACTION_TYPE_EXECUTE',
  entityType: 'ENTITY_TYPE_WORKFLOW_RUN',
  entityId: 'run-fetch',
  details: { step: 'fetch', attempt: 1 },
  ...overrides,
});

describe('Connect JSON over HTTP/1.1 (plain fetch, POST)', () => {
  const actor = `fetch-${randomUUID()}`;

  it('creates an entry; x-user-id, traceparent and the other headers are honoured', async () => {
    const input = jsonEntry({ occurTime: '2026-11-02T08:30:00.5Z' });
    const res = await postJson<{ actionLogEntry: JsonEntry; replayed?: boolean }>(
      'CreateActionLogEntry',
      { actionLogEntry: input },
      {
        'x-user-id': actor,
        traceparent: TRACEPARENT,
        tracestate: 'rojo=00f067aa0ba902b7',
        'x-service-name': 'fetch-test',
        'user-agent': 'protocols-test/1.0',
      },
    );
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^application\/json/);
    const e = res.body.actionLogEntry;
    expect(e).toMatchObject({
      eventId: input.eventId,
      actorId: actor,
      actionType: 'ACTION_TYPE_EXECUTE',
      entityType: 'ENTITY_TYPE_WORKFLOW_RUN',
      entityId: 'run-fetch',
      details: { step: 'fetch', attempt: 1 },
      occurTime: '2026-11-02T08:30:00.500Z',
      traceId: TRACE_ID,
      spanId: PARENT_SPAN,
      traceState: 'rojo=00f067aa0ba902b7',
      serviceName: 'fetch-test',
      clientIp: '127.0.0.1',
      userAgent: 'protocols-test/1.0',
    });
    expect(e.seq).toMatch(/^[1-9][0-9]*$/);
    expect(e.name).toBe(`actionLogEntries/${e.seq}`);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(res.body.replayed).toBeUndefined(); // false is omitted in proto3 JSON

    const replay = await postJson<{ actionLogEntry: JsonEntry; replayed: boolean }>('CreateActionLogEntry', { actionLogEntry: input }, { 'x-user-id': 'other' });
    expect(replay.body).toEqual({ actionLogEntry: e, replayed: true });
  });

  it('lists with a filter (POST, no GET)', async () => {
    await postJson('BatchCreateActionLogEntries', { requests: [{ actionLogEntry: jsonEntry({ entityId: 'run-fetch-2' }) }, { actionLogEntry: jsonEntry({ entityId: 'run-fetch-2', actionType: 'ACTION_TYPE_DELETE' }) }] }, { 'x-user-id': actor });
    const res = await postJson<{ actionLogEntries: JsonEntry[]; nextPageToken?: string }>('ListActionLogEntries', {
      filter: `actor_id = "${actor}" AND entity_id = "run-fetch-2"`,
      orderBy: 'seq desc',
    });
    expect(res.status).toBe(200);
    expect(res.body.actionLogEntries.map((e) => [e.actionType, e.actorId])).toEqual([
      ['ACTION_TYPE_DELETE', actor],
      ['ACTION_TYPE_EXECUTE', actor],
    ]);
    expect(res.body.nextPageToken).toBeUndefined();

    const paged = await postJson<{ actionLogEntries: JsonEntry[]; nextPageToken?: string }>('ListActionLogEntries', { filter: `actor_id = "${actor}"`, pageSize: 1 });
    expect(paged.body.actionLogEntries).toHaveLength(1);
    expect(paged.body.nextPageToken).toEqual(expect.any(String));
  });

  it('answers errors as Connect JSON errors with HTTP status and details', async () => {
    const bad = await postJson<{ code: string; message: string; details: { type: string; value: string }[] }>('CreateActionLogEntry', {
      actionLogEntry: jsonEntry({ entityId: '' }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_argument');
    expect(bad.body.message).toBe('action_log_entry.entity_id: is required');
    expect(bad.body.details.map((d) => d.type)).toEqual(['google.rpc.ErrorInfo', 'google.rpc.BadRequest']);
    expect(Buffer.from(bad.body.details[1]!.value, 'base64').toString('latin1')).toContain('action_log_entry.entity_id');

    const missing = await postJson<{ code: string }>('GetActionLogEntry', { name: 'actionLogEntries/424242424' });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('not_found');
  });
});

// --- connect-es clients: gRPC-Web, Connect, gRPC ----------------------------------------------

describe.each(['grpc-web', 'connect', 'grpc'] as const)('%s client round trip', (protocol) => {
  it('creates, gets, lists and verifies with metadata honoured', async () => {
    const client = fx.clientFor(protocol);
    const actor = `${protocol}-${randomUUID()}`;
    const headers = { 'x-user-id': actor, traceparent: TRACEPARENT, 'x-client-user-agent': `end-user/${protocol}` };
    const created = (await client.createActionLogEntry({ actionLogEntry: entryInput({ details: { protocol } }) }, { headers })).actionLogEntry!;
    expect(created).toMatchObject({
      actorId: actor,
      actionType: ActionType.CREATE,
      entityType: EntityType.MCP_DEFINITION,
      details: { protocol },
      traceId: TRACE_ID,
      spanId: PARENT_SPAN,
      clientIp: '127.0.0.1',
      userAgent: `end-user/${protocol}`,
    });
    expect((await client.getActionLogEntry({ name: created.name })).actionLogEntry).toEqual(created);
    const listed = await client.listActionLogEntries({ filter: `actor_id = "${actor}"` });
    expect(listed.actionLogEntries).toEqual([created]);
    const verified = await client.verifyActionLog({ startSeq: created.seq, endSeq: created.seq });
    expect(verified).toMatchObject({ valid: true, verifiedCount: 1n, headSeq: created.seq, headHash: created.hash });
  });

  it('carries error codes and details', async () => {
    const err = await fx
      .clientFor(protocol)
      .getActionLogEntry({ name: 'bogus' })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err && Code[err.code]).toBe('InvalidArgument');
    expect(err!.rawMessage).toMatch(/not of the form actionLogEntries\/\{seq\}/);
    expect(err!.details.length).toBe(2);
  });
});

// --- Client IP: x-client-ip, x-forwarded-for, peer address ------------------------------------

describe('client_ip', () => {
  const viaFetch = async (headers: Record<string, string>) =>
    (await postJson<{ actionLogEntry: JsonEntry }>('CreateActionLogEntry', { actionLogEntry: jsonEntry() }, headers)).body.actionLogEntry.clientIp;
  const viaGrpc = async (headers: Record<string, string>) =>
    (await fx.clientFor('grpc').createActionLogEntry({ actionLogEntry: entryInput() }, { headers })).actionLogEntry!.clientIp;

  it.each([
    ['HTTP/1.1 (fetch)', viaFetch],
    ['HTTP/2 (gRPC)', viaGrpc],
  ])('over %s: the peer address without x-client-ip, else x-client-ip', async (_name, create) => {
    expect(await create({})).toBe('127.0.0.1');
    expect(await create({ 'x-client-ip': '198.51.100.23' })).toBe('198.51.100.23');
    expect(await create({ 'x-client-ip': '2001:db8::1' })).toBe('2001:db8::1');
    // x-forwarded-for (first hop) is used when x-client-ip is absent; x-client-ip wins over it.
    expect(await create({ 'x-forwarded-for': '203.0.113.9, 10.0.0.1' })).toBe('203.0.113.9');
    expect(await create({ 'x-forwarded-for': '203.0.113.9', 'x-client-ip': '198.51.100.23' })).toBe('198.51.100.23');
  });
});

// --- grpc.health.v1 through grpc-js and the grpc-health-check package ------------------------

type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
interface HealthClient extends grpc.Client {
  check(req: { service: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: HealthStatus }) => void): grpc.ClientUnaryCall;
  list(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { statuses: Record<string, { status: HealthStatus }> }) => void): grpc.ClientUnaryCall;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: HealthStatus }>;
}

const HealthClientCtor = grpc.makeClientConstructor(healthServiceDefinition as unknown as grpc.ServiceDefinition, 'grpc.health.v1.Health');
const newHealthClient = (baseUrl: string) => new HealthClientCtor(new URL(baseUrl).host, grpc.credentials.createInsecure()) as unknown as HealthClient;

describe('grpc.health.v1 via grpc-health-check (grpc-js)', () => {
  let health: HealthClient;
  beforeAll(() => {
    health = newHealthClient(fx.baseUrl);
  });
  afterAll(() => health?.close());

  const check = (service: string) =>
    new Promise<{ status: HealthStatus }>((resolve, reject) =>
      health.check({ service }, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res!))),
    );

  it.each(['', SERVICE])('Check %j is SERVING', async (service) => {
    expect(await check(service)).toEqual({ status: 'SERVING' });
  });

  it('Check on an unknown service is NOT_FOUND', async () => {
    const err = await check('no.such.Service').then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
  });

  it('List reports every registered service', async () => {
    const res = await new Promise<{ statuses: Record<string, { status: HealthStatus }> }>((resolve, reject) =>
      health.list({}, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, r) => (err ? reject(err) : resolve(r!))),
    );
    expect(res.statuses).toEqual({ '': { status: 'SERVING' }, [SERVICE]: { status: 'SERVING' } });
  });

  it('Watch sends the current status at once (SERVICE_UNKNOWN for an unknown service)', async () => {
    const first = (service: string) =>
      new Promise<HealthStatus>((resolve, reject) => {
        const call = health.watch({ service });
        call.once('data', (msg: { status: HealthStatus }) => {
          resolve(msg.status);
          call.cancel();
        });
        call.on('error', (err: grpc.ServiceError) => {
          if (err.code !== grpc.status.CANCELLED) reject(err);
        });
      });
    expect(await first('')).toBe('SERVING');
    expect(await first(SERVICE)).toBe('SERVING');
    expect(await first('no.such.Service')).toBe('SERVICE_UNKNOWN');
  });

  it('Watch sees NOT_SERVING and then the end of the stream when a server shuts down', async () => {
    const second = await startAuditInstance(fx.databaseUrl, { SHUTDOWN_GRACE_MS: '2000' });
    const client = newHealthClient(second.baseUrl);
    try {
      const seen: HealthStatus[] = [];
      const call = client.watch({ service: SERVICE });
      const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => {});
      await new Promise<void>((resolve) =>
        call.on('data', (msg: { status: HealthStatus }) => {
          seen.push(msg.status);
          resolve();
        }),
      );
      const closing = second.service.close();
      const status = await ended;
      await closing;
      expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
      expect(status.code).toBe(grpc.status.OK);
    } finally {
      client.close();
    }
  });
});
