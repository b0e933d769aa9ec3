import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { startAuditFixture, type AuditFixture, type JsonEntry } from './audit-fixture';
import { bufCurl, parseJson } from '../../../shared/testing/buf-curl';

/**
 * `buf curl` (the grpcurl stand-in) against the running service. Without `--schema` it learns
 * the API through gRPC server reflection, which proves reflection serves complete, linkable
 * descriptors. buf curl exits with 8 × the gRPC code on an RPC error.
 *
 * buf always uses HTTP/2 (h2c for http URLs) when it reflects, so the one HTTP/1.1 case below
 * reads the schema from the repository's own buf workspace instead (`--schema <repo root>`,
 * built offline).
 */

const REPO_ROOT = path.resolve(__dirname, '../../..');
const SERVICE = 'mcpbackend.audit.v1.AuditService';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;


let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

const url = (method: string) => `${fx.baseUrl}/${SERVICE}/${method}`;
const createBody = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    actionLogEntry: {
      eventId: randomUUID(),
      actionType: 'ACTION_TYPE_CREATE',
      entityType: 'ENTITY_TYPE_MCP_DEFINITION',
      entityId: 'io.github.acme/buf',
      details: { via: 'buf curl', n: 1 },
      ...overrides,
    },
  });

async function ok<T>(args: string[]): Promise<T> {
  const res = await bufCurl(args);
  if (res.exitCode !== 0) throw new Error(`buf curl exited ${res.exitCode}: ${res.stderr}`);
  return parseJson<T>(res.stdout);
}

describe('server reflection', () => {
  it('lists the services', async () => {
    const res = await bufCurl(['--list-services', fx.baseUrl]);
    expect(res.exitCode).toBe(0);
    expect(res.stdout.trim().split('\n').sort()).toEqual([
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
      SERVICE,
    ]);
  });

  it.each(['grpc-v1', 'grpc-v1alpha'])('lists the AuditService methods over %s reflection', async (protocol) => {
    const res = await bufCurl(['--list-methods', '--reflect-protocol', protocol, fx.baseUrl]);
    expect(res.exitCode).toBe(0);
    const methods = res.stdout.trim().split('\n').filter((m) => m.startsWith(`${SERVICE}/`));
    expect(methods.sort()).toEqual(
      ['BatchCreateActionLogEntries', 'CreateActionLogEntry', 'GetActionLogEntry', 'ListActionLogEntries', 'VerifyActionLog'].map((m) => `${SERVICE}/${m}`),
    );
  });
});

describe('calls through buf curl', () => {
  it('CreateActionLogEntry over gRPC (h2c) takes the actor and trace from headers', async () => {
    const eventId = randomUUID();
    const out = await ok<{ actionLogEntry: JsonEntry; replayed?: boolean }>([
      '--protocol',
      'grpc',
      '--http2-prior-knowledge',
      '-H',
      'x-user-id: buf-user',
      '-H',
      `traceparent: ${TRACEPARENT}`,
      '-H',
      'x-service-name: buf-cli',
      '-d',
      createBody({ eventId, actorId: 'not-me' }),
      url('CreateActionLogEntry'),
    ]);
    const e = out.actionLogEntry;
    expect(e).toMatchObject({
      eventId,
      actorId: 'buf-user',
      actionType: 'ACTION_TYPE_CREATE',
      entityType: 'ENTITY_TYPE_MCP_DEFINITION',
      entityId: 'io.github.acme/buf',
      details: { via: 'buf curl', n: 1 },
      traceId: TRACE_ID,
      serviceName: 'buf-cli',
      clientIp: '127.0.0.1',
    });
    // Proto3 JSON: int64 as a string, timestamps as RFC 3339, replayed=false omitted.
    expect(e.seq).toMatch(/^[1-9][0-9]*$/);
    expect(e.name).toBe(`actionLogEntries/${e.seq}`);
    expect(e.occurTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(e.userAgent).toMatch(/buf\//);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(out.replayed).toBeUndefined();

    const rows = await fx.sql<{ actor_id: string }>('SELECT actor_id FROM action_log_entries WHERE event_id = $1', [eventId]);
    expect(rows).toEqual([{ actor_id: 'buf-user' }]);

    // Read back with Get, and see the replay flag on a second Create.
    const got = await ok<{ actionLogEntry: JsonEntry }>(['--protocol', 'grpc', '-d', JSON.stringify({ name: e.name }), url('GetActionLogEntry')]);
    expect(got.actionLogEntry).toEqual(e);
    const replay = await ok<{ actionLogEntry: JsonEntry; replayed: boolean }>([
      '--protocol',
      'grpc',
      '-H',
      'x-user-id: someone-else',
      '-d',
      createBody({ eventId }),
      url('CreateActionLogEntry'),
    ]);
    expect(replay).toEqual({ actionLogEntry: e, replayed: true });
  });

  it('CreateActionLogEntry over Connect (reflection, so h2c)', async () => {
    const res = await bufCurl(['-v', '--protocol', 'connect', '-H', 'x-user-id: buf-user', '-d', createBody(), url('CreateActionLogEntry')]);
    expect(res.exitCode).toBe(0);
    expect(parseJson<{ actionLogEntry: JsonEntry }>(res.stdout).actionLogEntry.actorId).toBe('buf-user');
    expect(res.stderr).toMatch(/HTTP\/2\.0 200/);
  });

  it('CreateActionLogEntry over Connect on HTTP/1.1 (schema from the repository)', async () => {
    const res = await bufCurl(['-v', '--schema', REPO_ROOT, '--protocol', 'connect', '-H', 'x-user-id: buf-user', '-d', createBody(), url('CreateActionLogEntry')]);
    expect(res.exitCode).toBe(0);
    expect(parseJson<{ actionLogEntry: JsonEntry }>(res.stdout).actionLogEntry.actorId).toBe('buf-user');
    expect(res.stderr).toMatch(/HTTP\/1\.1 200/);
    expect(res.stderr).not.toMatch(/HTTP\/2/);
  });

  it('BatchCreate, List and Verify over gRPC-Web', async () => {
    const actor = `buf-${randomUUID()}`;
    const batch = await ok<{ results: { actionLogEntry: JsonEntry }[] }>([
      '--protocol',
      'grpcweb',
      '-H',
      `x-user-id: ${actor}`,
      '-d',
      JSON.stringify({ requests: [JSON.parse(createBody()), JSON.parse(createBody({ actionType: 'ACTION_TYPE_DELETE' }))] }),
      url('BatchCreateActionLogEntries'),
    ]);
    expect(batch.results.map((r) => r.actionLogEntry.actorId)).toEqual([actor, actor]);

    const list = await ok<{ actionLogEntries: JsonEntry[]; nextPageToken?: string }>([
      '--protocol',
      'grpcweb',
      '-d',
      JSON.stringify({ filter: `actor_id = "${actor}" AND action_type = DELETE` }),
      url('ListActionLogEntries'),
    ]);
    expect(list.actionLogEntries.map((e) => e.seq)).toEqual([batch.results[1]!.actionLogEntry.seq]);
    expect(list.nextPageToken).toBeUndefined();

    const verify = await ok<Record<string, unknown>>(['--protocol', 'grpcweb', '--emit-defaults', '-d', '{}', url('VerifyActionLog')]);
    expect(verify).toMatchObject({ valid: true, firstBrokenSeq: '0', failureReason: '', headSeq: batch.results[1]!.actionLogEntry.seq });
  });
});

describe('errors through buf curl (exit code = 8 × gRPC code)', () => {
  it.each(['grpc', 'connect', 'grpcweb'])('INVALID_ARGUMENT exits 24 over %s and prints the field violations', async (protocol) => {
    const res = await bufCurl(['--protocol', protocol, '-d', createBody({ eventId: 'not-a-uuid' }), url('CreateActionLogEntry')]);
    expect(res.exitCode).toBe(24);
    const err = parseJson<{ code: string; message: string; details: { type: string }[] }>(res.stderr);
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toBe('action_log_entry.event_id: "not-a-uuid" is not a UUID');
    expect(err.details.map((d) => d.type)).toEqual(['google.rpc.ErrorInfo', 'google.rpc.BadRequest']);
  });

  it('an unknown enum name in the JSON body is refused before sending', async () => {
    const res = await bufCurl(['--protocol', 'grpc', '-d', createBody({ actionType: 'ACTION_TYPE_LAUNCH' }), url('CreateActionLogEntry')]);
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toMatch(/ACTION_TYPE_LAUNCH/);
  });

  it('NOT_FOUND exits 40', async () => {
    const res = await bufCurl(['--protocol', 'grpc', '-d', JSON.stringify({ name: 'actionLogEntries/99999999' }), url('GetActionLogEntry')]);
    expect(res.exitCode).toBe(40);
    expect(parseJson<{ code: string }>(res.stderr).code).toBe('not_found');
  });

  it('a method reflection does not know fails without calling', async () => {
    const res = await bufCurl(['-d', '{}', url('DeleteActionLogEntry')]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/no such method/);
  });
});
