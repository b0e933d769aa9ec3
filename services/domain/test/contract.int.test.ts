import { randomBytes, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startDomainFixture, type DomainFixture } from './domain-fixture';
import { rawUnaryError } from '../../../shared/testing/grpc-raw-call';
import { BAD_REQUEST_URL, BadRequestType, detail, ERROR_INFO_URL, ErrorInfoType, statusDetails, type DecodedStatus } from '../../../shared/testing/grpc-status-details';

/**
 * Contract test: plain @grpc/grpc-js clients built at run time from the .proto files, knowing
 * nothing of the generated TypeScript code, call every McpDefinitionService and WorkflowService
 * RPC over HTTP/2 and check the wire shape of what comes back (proto-loader options: snake_case
 * keys, int64 as strings, enums as names, defaults filled in, oneofs named by a virtual field).
 *
 * Well-known types: protobufjs (under proto-loader) always uses its bundled google/protobuf
 * definitions, which spell their fields in camelCase. So a Struct's `Value` reads
 * `stringValue`/`numberValue`/… with `kind` naming the set member, even with `keepCase: true`,
 * and requests must use those names too (protobufjs silently drops unknown ones).
 * Timestamp and Duration are `{ seconds: string, nanos: number }`, FieldMask `{ paths: [] }`.
 */

const PROTO_ROOT = path.resolve(__dirname, '../../../proto');
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };
const TRACE_ID = '3af7651916cd43dd8448eb211c80319d';
const TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203332-01`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ETAG = /^[A-Za-z0-9_-]{22}$/;

// --- Wire shapes -------------------------------------------------------------------------------

interface WireTimestamp {
  seconds: string;
  nanos: number;
}
type WireDuration = WireTimestamp;
interface WireValue {
  kind: string;
  [member: string]: unknown;
}
interface WireStruct {
  fields: Record<string, WireValue>;
}
interface WirePair {
  name: string;
  value: string;
  secret: boolean;
}
interface WireMcpDefinition {
  name: string;
  uid: string;
  title: string;
  description: string;
  version: string;
  transport: 'stdio' | 'streamable_http';
  stdio?: { command: string; args: string[]; env: WirePair[] };
  streamable_http?: { url: string; headers: WirePair[] };
  repository_url: string;
  tags: string[];
  tools: { name: string; description: string; input_schema: WireStruct | null }[];
  create_time: WireTimestamp | null;
  update_time: WireTimestamp | null;
  etag: string;
}
interface WireStep {
  id: string;
  mcp_definition: string;
  tool: string;
  arguments: WireStruct | null;
  depends_on: string[];
  retry_policy: { max_attempts: number; initial_backoff: WireDuration | null; backoff_multiplier: number; max_backoff: WireDuration | null } | null;
  timeout: WireDuration | null;
}
interface WireWorkflowDefinition {
  name: string;
  uid: string;
  description: string;
  parameters_schema: WireStruct | null;
  steps: WireStep[];
  revision: string;
  run_timeout: WireDuration | null;
  create_time: WireTimestamp | null;
  update_time: WireTimestamp | null;
  etag: string;
}
interface WireStepRun {
  step_id: string;
  status: string;
  attempt: number;
  output: WireValue | null;
  error: string;
  start_time: WireTimestamp | null;
  end_time: WireTimestamp | null;
}
interface WireRun {
  name: string;
  workflow_definition: string;
  workflow_definition_revision: string;
  parameters: WireStruct | null;
  status: string;
  steps: WireStepRun[];
  error: string;
  failed_step: string;
  actor_id: string;
  trace_id: string;
  create_time: WireTimestamp | null;
  start_time: WireTimestamp | null;
  end_time: WireTimestamp | null;
  update_time: WireTimestamp | null;
  etag: string;
}

const MCP_KEYS = ['create_time', 'description', 'etag', 'name', 'repository_url', 'tags', 'title', 'tools', 'transport', 'uid', 'update_time', 'version'];
const WF_KEYS = ['create_time', 'description', 'etag', 'name', 'parameters_schema', 'revision', 'run_timeout', 'steps', 'uid', 'update_time'];
const STEP_KEYS = ['arguments', 'depends_on', 'id', 'mcp_definition', 'retry_policy', 'timeout', 'tool'];
const RUN_KEYS = [
  'actor_id',
  'create_time',
  'end_time',
  'error',
  'etag',
  'failed_step',
  'name',
  'parameters',
  'start_time',
  'status',
  'steps',
  'trace_id',
  'update_time',
  'workflow_definition',
  'workflow_definition_revision',
];
const STEP_RUN_KEYS = ['attempt', 'end_time', 'error', 'output', 'start_time', 'status', 'step_id'];

// --- google.rpc.Status, from the grpc-status-details-bin trailer -----------------------------

const statusOf = (err: grpc.ServiceError): DecodedStatus => statusDetails(err).status;

function violations(err: grpc.ServiceError): string[] {
  const bad = detail(statusOf(err), BAD_REQUEST_URL, BadRequestType) as { field_violations: { field: string }[] };
  return bad.field_violations.map((v) => v.field);
}

// --- Fixture and clients -------------------------------------------------------------------------

type Callback = (err: grpc.ServiceError | null, response?: unknown) => void;
type UnaryMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback) => grpc.ClientUnaryCall;
type StreamMethod = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

let fx: DomainFixture;
let mcpClient: grpc.Client;
let wfClient: grpc.Client;

beforeAll(async () => {
  fx = await startDomainFixture();
  const definition = protoLoader.loadSync(
    [path.join(PROTO_ROOT, 'mcpbackend/mcp/v1/mcp_definition_service.proto'), path.join(PROTO_ROOT, 'mcpbackend/workflow/v1/workflow_service.proto')],
    LOADER_OPTIONS,
  );
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    mcpbackend: {
      mcp: { v1: { McpDefinitionService: grpc.ServiceClientConstructor } };
      workflow: { v1: { WorkflowService: grpc.ServiceClientConstructor } };
    };
  };
  const host = new URL(fx.baseUrl).host;
  mcpClient = new loaded.mcpbackend.mcp.v1.McpDefinitionService(host, grpc.credentials.createInsecure());
  wfClient = new loaded.mcpbackend.workflow.v1.WorkflowService(host, grpc.credentials.createInsecure());
});

afterAll(async () => {
  mcpClient?.close();
  wfClient?.close();
  await fx?.close();
});

function metadata(entries: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

function call<T>(client: grpc.Client, method: string, request: object, md: grpc.Metadata = new grpc.Metadata()): Promise<T> {
  const fn = (client as unknown as Record<string, UnaryMethod | undefined>)[method];
  if (!fn) throw new Error(`the client has no method ${method}`);
  return new Promise<T>((resolve, reject) => {
    fn.call(client, request, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

async function callError(client: grpc.Client, method: string, request: object): Promise<grpc.ServiceError> {
  return call(client, method, request).then(
    () => {
      throw new Error(`expected ${method} to fail`);
    },
    (err: grpc.ServiceError) => err,
  );
}

const mcp = <T>(method: string, request: object, md?: grpc.Metadata) => call<T>(mcpClient, method, request, md);
const wf = <T>(method: string, request: object, md?: grpc.Metadata) => call<T>(wfClient, method, request, md);

function expectTimestamp(ts: WireTimestamp | null): WireTimestamp {
  expect(ts).not.toBeNull();
  expect(Object.keys(ts!).sort()).toEqual(['nanos', 'seconds']);
  expect(ts!.seconds).toMatch(/^[0-9]+$/);
  expect(Number.isInteger(ts!.nanos)).toBe(true);
  expect(Math.abs(Number(ts!.seconds) * 1000 - Date.now())).toBeLessThan(120_000);
  return ts!;
}

const str = (s: string) => ({ stringValue: s });
const num = (n: number) => ({ numberValue: n });

const suffix = randomBytes(4).toString('hex');
const SECRET = `sk-contract-${randomBytes(8).toString('hex')}`;

// --- McpDefinitionService ------------------------------------------------------------------------

describe('McpDefinitionService over @grpc/grpc-js, from the .proto files', () => {
  const name = `io.github.contract${suffix}/weather`;
  let created: WireMcpDefinition;

  it('CreateMcpDefinition: snake_case fields, the transport oneof, Struct and Timestamp shapes; secrets read back empty', async () => {
    const res = await mcp<{ mcp_definition: WireMcpDefinition }>(
      'CreateMcpDefinition',
      {
        mcp_definition: {
          name,
          title: 'Weather',
          description: 'Forecasts',
          version: '2026.11.0-beta.1',
          stdio: { command: '/usr/bin/node', args: ['server.js'], env: [{ name: 'API_KEY', value: SECRET, secret: true }, { name: 'MODE', value: 'fast' }] },
          repository_url: 'https://github.com/acme/weather',
          tags: ['weather'],
          tools: [
            {
              name: 'forecast',
              description: 'Forecast',
              input_schema: { fields: { type: str('object'), properties: { structValue: { fields: { city: { structValue: { fields: { type: str('string') } } } } } } } },
            },
            { name: 'summarize' },
          ],
          // Output-only fields are ignored.
          uid: 'ignored',
          etag: 'ignored',
        },
        request_id: randomUUID(),
      },
      metadata({ 'x-user-id': 'contract' }),
    );
    expect(Object.keys(res)).toEqual(['mcp_definition']);
    const d = res.mcp_definition;
    expect(Object.keys(d).filter((k) => k !== 'stdio' && k !== 'streamable_http').sort()).toEqual(MCP_KEYS);
    expect(d.transport).toBe('stdio');
    expect(d.streamable_http ?? null).toBeNull();
    expect(d).toMatchObject({
      name,
      title: 'Weather',
      description: 'Forecasts',
      version: '2026.11.0-beta.1',
      repository_url: 'https://github.com/acme/weather',
      tags: ['weather'],
      stdio: {
        command: '/usr/bin/node',
        args: ['server.js'],
        env: [
          { name: 'API_KEY', value: '', secret: true },
          { name: 'MODE', value: 'fast', secret: false },
        ],
      },
    });
    expect(d.uid).toMatch(UUID);
    expect(d.etag).toMatch(ETAG);
    expect(expectTimestamp(d.create_time)).toEqual(expectTimestamp(d.update_time));
    expect(d.tools).toEqual([
      {
        name: 'forecast',
        description: 'Forecast',
        input_schema: {
          fields: {
            type: { stringValue: 'object', kind: 'stringValue' },
            properties: {
              structValue: { fields: { city: { structValue: { fields: { type: { stringValue: 'string', kind: 'stringValue' } } }, kind: 'structValue' } } },
              kind: 'structValue',
            },
          },
        },
      },
      { name: 'summarize', description: '', input_schema: null },
    ]);
    expect(JSON.stringify(d)).not.toContain(SECRET);
    created = d;
  });

  it('GetMcpDefinition and ListMcpDefinitions return the same message', async () => {
    const got = await mcp<{ mcp_definition: WireMcpDefinition }>('GetMcpDefinition', { name });
    expect(got.mcp_definition).toEqual(created);
    const list = await mcp<{ mcp_definitions: WireMcpDefinition[]; next_page_token: string }>('ListMcpDefinitions', { filter: `name = "${name}"`, page_size: 10 });
    expect(Object.keys(list).sort()).toEqual(['mcp_definitions', 'next_page_token']);
    expect(list).toEqual({ mcp_definitions: [created], next_page_token: '' });
  });

  it('ListMcpDefinitions: page_size and next_page_token', async () => {
    await mcp('CreateMcpDefinition', {
      mcp_definition: { name: `io.github.contract${suffix}/zz-http`, description: 'HTTP', version: '1.0.0', streamable_http: { url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', value: SECRET, secret: true }] }, tags: ['contract'] },
    });
    const first = await mcp<{ mcp_definitions: WireMcpDefinition[]; next_page_token: string }>('ListMcpDefinitions', { page_size: 1 });
    expect(first.mcp_definitions).toHaveLength(1);
    expect(first.next_page_token).toMatch(/^[A-Za-z0-9_-]+$/);
    const http = await mcp<{ mcp_definitions: WireMcpDefinition[] }>('ListMcpDefinitions', { filter: 'transport = STREAMABLE_HTTP AND tag = "contract"' });
    expect(http.mcp_definitions).toHaveLength(1);
    const h = http.mcp_definitions[0]!;
    expect(h.transport).toBe('streamable_http');
    expect(h.stdio ?? null).toBeNull();
    expect(h.streamable_http).toEqual({ url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', value: '', secret: true }] });
  });

  it('UpdateMcpDefinition: google.protobuf.FieldMask as { paths }', async () => {
    const res = await mcp<{ mcp_definition: WireMcpDefinition }>('UpdateMcpDefinition', {
      mcp_definition: { name, description: 'Forecasts, v2', title: 'not masked', etag: created.etag },
      update_mask: { paths: ['description'] },
    });
    expect(res.mcp_definition).toMatchObject({ description: 'Forecasts, v2', title: 'Weather', uid: created.uid });
    expect(res.mcp_definition.etag).not.toBe(created.etag);
    created = res.mcp_definition;
  });

  it('DeleteMcpDefinition: an empty response message', async () => {
    const victim = `io.github.contract${suffix}/victim`;
    const made = await mcp<{ mcp_definition: WireMcpDefinition }>('CreateMcpDefinition', { mcp_definition: { name: victim, description: 'x', version: '1.0.0', stdio: { command: 'x' } } });
    expect(await mcp('DeleteMcpDefinition', { name: victim, etag: made.mcp_definition.etag, force: false })).toEqual({});
  });

  it('errors: status codes with google.rpc.Status (ErrorInfo, BadRequest) in grpc-status-details-bin', async () => {
    const bad = await callError(mcpClient, 'CreateMcpDefinition', { mcp_definition: { name: 'weather', description: 'x', version: 'latest', stdio: { command: 'node server.js' } } });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    const status = statusOf(bad);
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details.map((d) => d.type_url)).toEqual([ERROR_INFO_URL, BAD_REQUEST_URL]);
    expect(detail(status, ERROR_INFO_URL, ErrorInfoType)).toMatchObject({ reason: 'INVALID_ARGUMENT', domain: 'mcpbackend.dev' });
    expect(violations(bad).sort()).toEqual(['mcp_definition.name', 'mcp_definition.transport.stdio.command', 'mcp_definition.version']);
    // grpc-message is percent-encoded and only partly decoded by grpc-js; the Status message is the reliable copy.
    expect(decodeURIComponent(bad.details)).toBe(status.message);

    const dup = await callError(mcpClient, 'CreateMcpDefinition', { mcp_definition: { name, description: 'x', version: '1.0.0', stdio: { command: 'node' } } });
    expect(dup.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(detail(statusOf(dup), ERROR_INFO_URL, ErrorInfoType)).toMatchObject({ reason: 'RESOURCE_ALREADY_EXISTS', metadata: { resource_type: 'McpDefinition', resource_name: name } });

    const missing = await callError(mcpClient, 'GetMcpDefinition', { name: `io.github.contract${suffix}/none` });
    expect(missing.code).toBe(grpc.status.NOT_FOUND);

    const stale = await callError(mcpClient, 'UpdateMcpDefinition', { mcp_definition: { name, title: 'x', etag: 'AAAAAAAAAAAAAAAAAAAAAA' }, update_mask: { paths: ['title'] } });
    expect(stale.code).toBe(grpc.status.ABORTED);
    expect(detail(statusOf(stale), ERROR_INFO_URL, ErrorInfoType)).toMatchObject({ reason: 'ETAG_MISMATCH' });

    const token = await callError(mcpClient, 'ListMcpDefinitions', { page_token: '!!' });
    expect(token.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violations(token)).toEqual(['page_token']);
  });
});

// --- WorkflowService -----------------------------------------------------------------------------

describe('WorkflowService over @grpc/grpc-js, from the .proto files', () => {
  const server = `io.github.contract${suffix}/tools`;
  const wfName = `contract-${suffix}`;
  let definition: WireWorkflowDefinition;
  let run: WireRun;

  beforeAll(async () => {
    await mcp('CreateMcpDefinition', { mcp_definition: { name: server, description: 'Tools', version: '1.0.0', stdio: { command: 'node' }, tools: [{ name: 'forecast' }, { name: 'summarize' }] } });
  });

  it('CreateWorkflowDefinition: int64 revision as a string, Duration and Struct shapes, defaults filled in', async () => {
    const res = await wf<{ workflow_definition: WireWorkflowDefinition }>('CreateWorkflowDefinition', {
      workflow_definition: {
        name: wfName,
        description: 'Contract',
        parameters_schema: {
          fields: {
            type: str('object'),
            properties: { structValue: { fields: { city: { structValue: { fields: { type: str('string') } } }, days: { structValue: { fields: { type: str('integer') } } } } } },
            required: { listValue: { values: [str('city')] } },
          },
        },
        steps: [
          { id: 'fetch', mcp_definition: server, tool: 'forecast', arguments: { fields: { city: str('${params.city}'), days: num(3) } } },
          {
            id: 'summarize',
            mcp_definition: server,
            tool: 'summarize',
            arguments: { fields: { text: str('${steps.fetch.output}') } },
            depends_on: ['fetch'],
            retry_policy: { max_attempts: 5, initial_backoff: { seconds: '1', nanos: 500_000_000 }, backoff_multiplier: 1.5, max_backoff: { seconds: '10' } },
            timeout: { seconds: '45' },
          },
        ],
        run_timeout: { seconds: '900' },
      },
      request_id: randomUUID(),
    });
    const d = res.workflow_definition;
    expect(Object.keys(d).sort()).toEqual(WF_KEYS);
    expect(d).toMatchObject({ name: wfName, description: 'Contract', revision: '1', run_timeout: { seconds: '900', nanos: 0 } });
    expect(d.uid).toMatch(UUID);
    expect(d.etag).toMatch(ETAG);
    expectTimestamp(d.create_time);
    expectTimestamp(d.update_time);
    expect(d.parameters_schema!.fields.required).toEqual({ listValue: { values: [{ stringValue: 'city', kind: 'stringValue' }] }, kind: 'listValue' });
    expect(d.steps.map((s) => Object.keys(s).sort())).toEqual([STEP_KEYS, STEP_KEYS]);
    const [fetchStep, summarizeStep] = d.steps;
    expect(fetchStep).toEqual({
      id: 'fetch',
      mcp_definition: server,
      tool: 'forecast',
      arguments: { fields: { city: { stringValue: '${params.city}', kind: 'stringValue' }, days: { numberValue: 3, kind: 'numberValue' } } },
      depends_on: [],
      retry_policy: { max_attempts: 3, initial_backoff: { seconds: '1', nanos: 0 }, backoff_multiplier: 2, max_backoff: { seconds: '30', nanos: 0 } },
      timeout: { seconds: '60', nanos: 0 },
    });
    expect(summarizeStep).toMatchObject({
      depends_on: ['fetch'],
      retry_policy: { max_attempts: 5, initial_backoff: { seconds: '1', nanos: 500_000_000 }, backoff_multiplier: 1.5, max_backoff: { seconds: '10', nanos: 0 } },
      timeout: { seconds: '45', nanos: 0 },
    });
    definition = d;
  });

  it('Get, List and Update (revision "2")', async () => {
    expect((await wf<{ workflow_definition: WireWorkflowDefinition }>('GetWorkflowDefinition', { name: wfName })).workflow_definition).toEqual(definition);
    const list = await wf<{ workflow_definitions: WireWorkflowDefinition[]; next_page_token: string }>('ListWorkflowDefinitions', { filter: `mcp_definition = "${server}"` });
    expect(list).toEqual({ workflow_definitions: [definition], next_page_token: '' });
    const updated = await wf<{ workflow_definition: WireWorkflowDefinition }>('UpdateWorkflowDefinition', {
      workflow_definition: { name: wfName, description: 'Contract v2', etag: definition.etag },
      update_mask: { paths: ['description'] },
    });
    expect(updated.workflow_definition).toMatchObject({ revision: '2', description: 'Contract v2' });
    definition = updated.workflow_definition;
  });

  it('StartWorkflowRun: enums as names, int64 revision as a string, unset messages as null', async () => {
    const res = await wf<{ workflow_run: WireRun }>(
      'StartWorkflowRun',
      { workflow_definition: wfName, parameters: { fields: { city: str('Oslo'), days: num(2) } }, request_id: randomUUID() },
      metadata({ 'x-user-id': 'contract-runner', traceparent: TRACEPARENT }),
    );
    const r = res.workflow_run;
    expect(Object.keys(r).sort()).toEqual(RUN_KEYS);
    expect(r.name).toMatch(/^workflowRuns\/[0-9a-f-]{36}$/);
    expect(r).toMatchObject({
      workflow_definition: wfName,
      workflow_definition_revision: '2',
      status: 'WORKFLOW_RUN_STATUS_PENDING',
      error: '',
      failed_step: '',
      actor_id: 'contract-runner',
      trace_id: TRACE_ID,
      start_time: null,
      end_time: null,
    });
    expect(r.parameters).toEqual({ fields: { city: { stringValue: 'Oslo', kind: 'stringValue' }, days: { numberValue: 2, kind: 'numberValue' } } });
    expectTimestamp(r.create_time);
    expectTimestamp(r.update_time);
    expect(r.etag).toMatch(ETAG);
    expect(r.steps.map((s) => Object.keys(s).sort())).toEqual([STEP_RUN_KEYS, STEP_RUN_KEYS]);
    expect(r.steps).toEqual([
      { step_id: 'fetch', status: 'STEP_RUN_STATUS_PENDING', attempt: 0, output: null, error: '', start_time: null, end_time: null },
      { step_id: 'summarize', status: 'STEP_RUN_STATUS_PENDING', attempt: 0, output: null, error: '', start_time: null, end_time: null },
    ]);
    run = r;
  });

  it('GetWorkflowRun and ListWorkflowRuns (status filter by enum name)', async () => {
    expect((await wf<{ workflow_run: WireRun }>('GetWorkflowRun', { name: run.name })).workflow_run).toEqual(run);
    const list = await wf<{ workflow_runs: WireRun[]; next_page_token: string }>('ListWorkflowRuns', {
      filter: `workflow_definition = "${wfName}" AND status = WORKFLOW_RUN_STATUS_PENDING AND actor_id = "contract-runner"`,
      page_size: 5,
    });
    expect(list).toEqual({ workflow_runs: [run], next_page_token: '' });
  });

  it('WatchWorkflowRun (server streaming) and CancelWorkflowRun', async () => {
    const watch = (wfClient as unknown as Record<string, StreamMethod>).WatchWorkflowRun!.call(wfClient, { name: run.name }, new grpc.Metadata(), {
      deadline: Date.now() + 10_000,
    });
    const messages: { workflow_run: WireRun }[] = [];
    const ended = new Promise<grpc.StatusObject>((resolve) => watch.on('status', resolve));
    watch.on('error', () => {});
    await new Promise<void>((resolve) =>
      watch.on('data', (m: { workflow_run: WireRun }) => {
        messages.push(m);
        resolve();
      }),
    );
    expect(messages[0]).toEqual({ workflow_run: run });

    const cancelled = await wf<{ workflow_run: WireRun }>('CancelWorkflowRun', { name: run.name, reason: 'contract' });
    expect(cancelled.workflow_run).toMatchObject({ name: run.name, status: 'WORKFLOW_RUN_STATUS_CANCELLED' });
    expect(cancelled.workflow_run.steps.map((s) => s.status)).toEqual(['STEP_RUN_STATUS_CANCELLED', 'STEP_RUN_STATUS_CANCELLED']);
    expectTimestamp(cancelled.workflow_run.end_time);

    const status = await ended;
    expect(status.code).toBe(grpc.status.OK);
    expect(messages.map((m) => m.workflow_run.status)).toEqual(['WORKFLOW_RUN_STATUS_PENDING', 'WORKFLOW_RUN_STATUS_CANCELLED']);
    expect(messages[1]).toEqual(cancelled);
  });

  it('WatchWorkflowRun errors end the stream with the status code', async () => {
    const watch = (wfClient as unknown as Record<string, StreamMethod>).WatchWorkflowRun!.call(wfClient, { name: 'workflowRuns/nope' }, new grpc.Metadata(), {
      deadline: Date.now() + 10_000,
    });
    const err = await new Promise<grpc.ServiceError>((resolve) => watch.on('error', resolve));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violations(err)).toEqual(['name']);
  });

  it('DeleteWorkflowDefinition: an empty response; the run stays readable', async () => {
    expect(await wf('DeleteWorkflowDefinition', { name: wfName, etag: definition.etag })).toEqual({});
    expect((await wf<{ workflow_run: WireRun }>('GetWorkflowRun', { name: run.name })).workflow_run.workflow_definition_revision).toBe('2');
  });

  it('errors: INVALID_ARGUMENT with field violations, NOT_FOUND, FAILED_PRECONDITION, ABORTED', async () => {
    const again = await callError(wfClient, 'CancelWorkflowRun', { name: run.name });
    expect(again.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(detail(statusOf(again), ERROR_INFO_URL, ErrorInfoType)).toMatchObject({ reason: 'RUN_ALREADY_ENDED', metadata: { status: 'CANCELLED' } });

    const gone = await callError(wfClient, 'StartWorkflowRun', { workflow_definition: wfName, parameters: { fields: {} } });
    expect(gone.code).toBe(grpc.status.NOT_FOUND);

    await wf('CreateWorkflowDefinition', {
      workflow_definition: { name: `${wfName}-b`, parameters_schema: { fields: { type: str('object'), required: { listValue: { values: [str('city')] } } } }, steps: [{ id: 'a', mcp_definition: server, tool: 'forecast' }] },
    });
    const params = await callError(wfClient, 'StartWorkflowRun', { workflow_definition: `${wfName}-b`, parameters: { fields: { days: num(1) } } });
    expect(params.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violations(params)).toEqual(['parameters.city']);

    const cycle = await callError(wfClient, 'CreateWorkflowDefinition', {
      workflow_definition: { name: `${wfName}-c`, steps: [{ id: 'a', mcp_definition: server, tool: 'forecast', depends_on: ['b'] }, { id: 'b', mcp_definition: server, tool: 'forecast', depends_on: ['a'] }] },
    });
    expect(cycle.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violations(cycle)).toEqual(['workflow_definition.steps[0].depends_on[0]']);

    const stale = await callError(wfClient, 'DeleteWorkflowDefinition', { name: `${wfName}-b`, etag: 'AAAAAAAAAAAAAAAAAAAAAA' });
    expect(stale.code).toBe(grpc.status.ABORTED);

    const runName = await callError(wfClient, 'GetWorkflowRun', { name: 'runs/1' });
    expect(runName.code).toBe(grpc.status.INVALID_ARGUMENT);

    const filter = await callError(wfClient, 'ListWorkflowRuns', { filter: 'status = DONE' });
    expect(filter.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violations(filter)).toEqual(['filter']);
  });

  it('UNIMPLEMENTED for a method the service does not have', async () => {
    const err = await rawUnaryError(wfClient, '/mcpbackend.workflow.v1.WorkflowService/DeleteWorkflowRun');
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});
