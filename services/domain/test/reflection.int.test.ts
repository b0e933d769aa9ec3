import { randomBytes, randomUUID } from 'node:crypto';
import { MCP_SERVICE, startDomainFixture, WORKFLOW_SERVICE, type DomainFixture } from './domain-fixture';
import { bufCurl, parseJson } from '../../../shared/testing/buf-curl';

/**
 * `buf curl` (the grpcurl stand-in) against the running domain service with no `--schema`: it
 * learns the API through gRPC server reflection, which proves reflection serves complete,
 * linkable descriptors for both domain services. buf curl exits with 8 × the gRPC code on an
 * RPC error. Then Connect JSON over plain HTTP/1.1 `fetch`, the way a browser or curl would call.
 */

const TRACE_ID = '6bf92f3577b34da6a3ce929d0e0e4738';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b9-01`;


async function ok<T>(args: string[]): Promise<T> {
  const res = await bufCurl(args);
  if (res.exitCode !== 0) throw new Error(`buf curl exited ${res.exitCode}: ${res.stderr}`);
  return parseJson<T>(res.stdout);
}

interface JsonMcpDefinition {
  name: string;
  uid: string;
  title?: string;
  description: string;
  version: string;
  stdio?: { command: string; args?: string[]; env?: { name: string; value?: string; secret?: boolean }[] };
  streamableHttp?: { url: string };
  repositoryUrl?: string;
  tags?: string[];
  createTime: string;
  updateTime: string;
  etag: string;
}

interface JsonRun {
  name: string;
  workflowDefinition: string;
  workflowDefinitionRevision: string;
  parameters: Record<string, unknown>;
  status: string;
  steps: { stepId: string; status: string; attempt?: number }[];
  actorId: string;
  traceId?: string;
  createTime: string;
}

let fx: DomainFixture;
beforeAll(async () => {
  fx = await startDomainFixture();
});
afterAll(async () => {
  await fx?.close();
});

const url = (service: string, method: string) => `${fx.baseUrl}/${service}/${method}`;
const suffix = randomBytes(4).toString('hex');
const SECRET = `sk-buf-${randomBytes(8).toString('hex')}`;

const mcpBody = (name: string) => ({
  name,
  title: 'Weather',
  description: 'Forecasts',
  version: '1.0.0',
  stdio: { command: 'node', args: ['server.js'], env: [{ name: 'API_KEY', value: SECRET, secret: true }] },
  tags: ['buf'],
  tools: [{ name: 'forecast', inputSchema: { type: 'object' } }],
});

describe('server reflection (buf curl, no schema)', () => {
  it('--list-services shows both domain services, health and reflection', async () => {
    const res = await bufCurl(['--list-services', fx.baseUrl]);
    expect(res.exitCode).toBe(0);
    expect(res.stdout.trim().split('\n').sort()).toEqual(
      ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection', MCP_SERVICE, WORKFLOW_SERVICE].sort(),
    );
  });

  it.each(['grpc-v1', 'grpc-v1alpha'])('--list-methods over %s reflection names every RPC', async (protocol) => {
    const res = await bufCurl(['--list-methods', '--reflect-protocol', protocol, fx.baseUrl]);
    expect(res.exitCode).toBe(0);
    const methods = res.stdout.trim().split('\n');
    expect(methods.filter((m) => m.startsWith(`${MCP_SERVICE}/`)).sort()).toEqual(
      ['CreateMcpDefinition', 'DeleteMcpDefinition', 'GetMcpDefinition', 'ListMcpDefinitions', 'UpdateMcpDefinition'].map((m) => `${MCP_SERVICE}/${m}`),
    );
    expect(methods.filter((m) => m.startsWith(`${WORKFLOW_SERVICE}/`)).sort()).toEqual(
      [
        'CancelWorkflowRun',
        'CreateWorkflowDefinition',
        'DeleteWorkflowDefinition',
        'GetWorkflowDefinition',
        'GetWorkflowRun',
        'ListWorkflowDefinitions',
        'ListWorkflowRuns',
        'StartWorkflowRun',
        'UpdateWorkflowDefinition',
        'WatchWorkflowRun',
      ].map((m) => `${WORKFLOW_SERVICE}/${m}`),
    );
  });
});

describe('calls through buf curl', () => {
  const name = `io.github.buf${suffix}/weather`;

  it('CreateMcpDefinition over gRPC with -H x-user-id: the actor reaches the audit outbox, the secret does not', async () => {
    const out = await ok<{ mcpDefinition: JsonMcpDefinition }>([
      '--protocol',
      'grpc',
      '--http2-prior-knowledge',
      '-H',
      'x-user-id: buf-user',
      '-H',
      `traceparent: ${TRACEPARENT}`,
      '-d',
      JSON.stringify({ mcpDefinition: mcpBody(name), requestId: randomUUID() }),
      url(MCP_SERVICE, 'CreateMcpDefinition'),
    ]);
    const d = out.mcpDefinition;
    expect(d).toMatchObject({ name, title: 'Weather', description: 'Forecasts', version: '1.0.0', tags: ['buf'] });
    // Proto3 JSON: camelCase, the oneof member by its JSON name, RFC 3339 timestamps, a secret value omitted as empty.
    expect(d.stdio).toEqual({ command: 'node', args: ['server.js'], env: [{ name: 'API_KEY', secret: true }] });
    expect(d.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(d.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.mcpDefinition.etag).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const rows = await fx.sql<{ actor_id: string; traceparent: string; user_agent: string; details: unknown }>(
      `SELECT actor_id, traceparent, user_agent, details FROM audit_outbox WHERE entity_type = 'MCP_DEFINITION' AND entity_id = $1`,
      [name],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor_id: 'buf-user', user_agent: expect.stringMatching(/buf\//) });
    expect(rows[0]!.traceparent).toContain(TRACE_ID);
    expect(JSON.stringify(rows[0]!.details)).not.toContain(SECRET);
  });

  it('Get over Connect and gRPC-Web read the same definition', async () => {
    const viaConnect = await ok<{ mcpDefinition: JsonMcpDefinition }>(['--protocol', 'connect', '-d', JSON.stringify({ name }), url(MCP_SERVICE, 'GetMcpDefinition')]);
    const viaGrpcWeb = await ok<{ mcpDefinition: JsonMcpDefinition }>(['--protocol', 'grpcweb', '-d', JSON.stringify({ name }), url(MCP_SERVICE, 'GetMcpDefinition')]);
    expect(viaConnect.mcpDefinition.name).toBe(name);
    expect(viaGrpcWeb).toEqual(viaConnect);
  });

  it('WatchWorkflowRun (server streaming) prints one message per change', async () => {
    await ok(['-d', JSON.stringify({ workflowDefinition: { name: `buf-${suffix}`, steps: [{ id: 'a', mcpDefinition: name, tool: 'forecast' }] } }), url(WORKFLOW_SERVICE, 'CreateWorkflowDefinition')]);
    const run = await ok<{ workflowRun: JsonRun }>(['-d', JSON.stringify({ workflowDefinition: `buf-${suffix}` }), url(WORKFLOW_SERVICE, 'StartWorkflowRun')]);
    await ok(['-d', JSON.stringify({ name: run.workflowRun.name }), url(WORKFLOW_SERVICE, 'CancelWorkflowRun')]);
    const res = await bufCurl(['-d', JSON.stringify({ name: run.workflowRun.name }), url(WORKFLOW_SERVICE, 'WatchWorkflowRun')]);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain('"WORKFLOW_RUN_STATUS_CANCELLED"');
  });

  it.each(['grpc', 'connect', 'grpcweb'])('INVALID_ARGUMENT exits 24 over %s and prints the field violations', async (protocol) => {
    const res = await bufCurl(['--protocol', protocol, '-d', JSON.stringify({ mcpDefinition: { ...mcpBody(`io.github.buf${suffix}/bad`), version: 'latest' } }), url(MCP_SERVICE, 'CreateMcpDefinition')]);
    expect(res.exitCode).toBe(24);
    const err = parseJson<{ code: string; message: string; details: { type: string }[] }>(res.stderr);
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toMatch(/^mcp_definition\.version: "latest" is not an exact version/);
    expect(err.details.map((d) => d.type)).toEqual(['google.rpc.ErrorInfo', 'google.rpc.BadRequest']);
  });

  it('NOT_FOUND exits 40; FAILED_PRECONDITION exits 72', async () => {
    const missing = await bufCurl(['-d', JSON.stringify({ name: `io.github.buf${suffix}/none` }), url(MCP_SERVICE, 'GetMcpDefinition')]);
    expect(missing.exitCode).toBe(40);
    const inUse = await bufCurl(['-d', JSON.stringify({ name }), url(MCP_SERVICE, 'DeleteMcpDefinition')]);
    expect(inUse.exitCode).toBe(72);
    expect(parseJson<{ code: string; message: string }>(inUse.stderr)).toMatchObject({ code: 'failed_precondition', message: expect.stringContaining(`"buf-${suffix}"`) });
  });

  it('a method reflection does not know fails without calling', async () => {
    const res = await bufCurl(['-d', '{}', url(WORKFLOW_SERVICE, 'DeleteWorkflowRun')]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/no such method/);
  });
});

// --- Connect JSON over HTTP/1.1 with plain fetch ------------------------------------------------

async function postJson<T>(service: string, method: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url(service, method), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'connect-protocol-version': '1', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return { status: res.status, body: (await res.json()) as T };
}

describe('Connect JSON over HTTP/1.1 (plain fetch)', () => {
  const name = `io.github.fetch${suffix}/weather`;
  const headers = { 'x-user-id': 'fetch-user', traceparent: TRACEPARENT, 'user-agent': 'reflection-test/1.0' };

  it('CreateMcpDefinition, GetMcpDefinition and ListMcpDefinitions', async () => {
    const created = await postJson<{ mcpDefinition: JsonMcpDefinition }>(MCP_SERVICE, 'CreateMcpDefinition', { mcpDefinition: mcpBody(name) }, headers);
    expect(created.status).toBe(200);
    const d = created.body.mcpDefinition;
    expect(d).toMatchObject({ name, version: '1.0.0', stdio: { command: 'node', env: [{ name: 'API_KEY', secret: true }] } });
    expect(JSON.stringify(created.body)).not.toContain(SECRET);

    const got = await postJson<{ mcpDefinition: JsonMcpDefinition }>(MCP_SERVICE, 'GetMcpDefinition', { name });
    expect(got.body.mcpDefinition).toEqual(d);

    const list = await postJson<{ mcpDefinitions: JsonMcpDefinition[]; nextPageToken?: string }>(MCP_SERVICE, 'ListMcpDefinitions', { filter: `name = "${name}"`, pageSize: 10 });
    expect(list.body).toEqual({ mcpDefinitions: [d] }); // an empty next_page_token is omitted

    const rows = await fx.sql<{ actor_id: string; user_agent: string; client_ip: string }>(
      `SELECT actor_id, user_agent, client_ip FROM audit_outbox WHERE entity_id = $1`,
      [name],
    );
    expect(rows).toEqual([{ actor_id: 'fetch-user', user_agent: 'reflection-test/1.0', client_ip: '127.0.0.1' }]);
  });

  it('StartWorkflowRun', async () => {
    const wfName = `fetch-${suffix}`;
    const def = await postJson<{ workflowDefinition: { name: string; revision: string; runTimeout: string } }>(WORKFLOW_SERVICE, 'CreateWorkflowDefinition', {
      workflowDefinition: {
        name: wfName,
        parametersSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        steps: [{ id: 'fetch', mcpDefinition: name, tool: 'forecast', arguments: { city: '${params.city}' }, timeout: '30s' }],
        runTimeout: '120s',
      },
    });
    expect(def.status).toBe(200);
    // int64 as a JSON string, Duration as "<seconds>s".
    expect(def.body.workflowDefinition).toMatchObject({ name: wfName, revision: '1', runTimeout: '120s' });

    const started = await postJson<{ workflowRun: JsonRun }>(WORKFLOW_SERVICE, 'StartWorkflowRun', { workflowDefinition: wfName, parameters: { city: 'Oslo' }, requestId: randomUUID() }, headers);
    expect(started.status).toBe(200);
    const r = started.body.workflowRun;
    expect(r).toMatchObject({
      workflowDefinition: wfName,
      workflowDefinitionRevision: '1',
      parameters: { city: 'Oslo' },
      status: 'WORKFLOW_RUN_STATUS_PENDING',
      steps: [{ stepId: 'fetch', status: 'STEP_RUN_STATUS_PENDING' }],
      actorId: 'fetch-user',
      traceId: TRACE_ID,
    });
    expect(r.name).toMatch(/^workflowRuns\/[0-9a-f-]{36}$/);

    const bad = await postJson<{ code: string; message: string; details: { type: string }[] }>(WORKFLOW_SERVICE, 'StartWorkflowRun', { workflowDefinition: wfName, parameters: {} });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'invalid_argument', message: 'parameters.city: is required' });
    expect(bad.body.details.map((d) => d.type)).toEqual(['google.rpc.ErrorInfo', 'google.rpc.BadRequest']);

    const missing = await postJson<{ code: string }>(WORKFLOW_SERVICE, 'StartWorkflowRun', { workflowDefinition: `${wfName}-none` });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('not_found');
  });
});
