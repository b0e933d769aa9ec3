import http from 'node:http';
import { createClient } from '@connectrpc/connect';
import { AuditService } from '../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { McpDefinitionService } from '../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { WorkflowRunStatus } from '../shared/gen/mcpbackend/workflow/v1/workflow_run_pb';
import { WorkflowService } from '../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import { findFreePort } from '../shared/db/embedded-postgres';
import { createRpcClientTransport } from '../shared/rpc/client-transport';
import { createTestDatabase, type TestDatabase } from '../shared/testing/test-database';
import { entryInput } from '../services/audit/test/audit-fixture';
import { startFixtureHttpServer, type FixtureHttpServer } from './fixtures/mcp-fixture-server';
import { serviceProcess, type ServiceProcess } from './support/service-process';

/**
 * OpenTelemetry end to end: the services as real processes with OTEL_EXPORTER_OTLP_ENDPOINT set
 * export their spans over OTLP/HTTP to a collector (here a tiny one in the test): server spans
 * as children of the caller's `traceparent`, the engine's run and step spans as children of the
 * request that started the run; log lines written for a call carry its trace id.
 */
const TRACE_ID = '5c1d7a3f9e8b4a6d8f0e2b4c6a8d0f12';
const PARENT_SPAN = '1a2b3c4d5e6f7081';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

let db: TestDatabase;
let domainDb: TestDatabase;
let fixture: FixtureHttpServer;
let collector: http.Server;
let audit: ServiceProcess;
const exported: Array<{ contentType: string | undefined; body: { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> } }> = [];

beforeAll(async () => {
  db = await createTestDatabase('telemetry');
  domainDb = await createTestDatabase('telemetry_domain');
  fixture = await startFixtureHttpServer();
  collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') exported.push({ contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = await findFreePort();
  audit = serviceProcess({
    entry: 'services/audit/src/main.ts',
    port,
    env: {
      AUDIT_DATABASE_URL: db.url,
      AUDIT_PORT: String(port),
      AUDIT_HOST: '127.0.0.1',
      HEALTH_CHECK_INTERVAL_MS: '200',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as { port: number }).port}`,
      OTEL_SERVICE_NAME: 'audit-under-test',
    },
  });
  await audit.start();
}, 60_000);

afterAll(async () => {
  await audit?.kill();
  await new Promise((r) => collector?.close(r));
  await fixture?.close();
  await db?.drop();
  await domainDb?.drop();
});

const allSpans = () => exported.flatMap((e) => e.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));

test('server spans are exported over OTLP/HTTP as children of the caller, and the logs carry the trace id', async () => {
  const client = createClient(AuditService, createRpcClientTransport({ baseUrl: audit.url, protocol: 'grpc' }));
  const res = await client.createActionLogEntry({ actionLogEntry: entryInput() }, { headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
  expect(res.actionLogEntry!.traceId).toBe(TRACE_ID);
  // A graceful stop flushes the batch of spans not yet exported.
  await audit.stop();

  expect(exported.length).toBeGreaterThan(0);
  expect(exported[0]!.contentType).toBe('application/json');
  const resources = exported.flatMap((e) => e.body.resourceSpans);
  expect(resources[0]!.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'audit-under-test' } });
  const spans = resources.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  const call = spans.find((s) => s.name === 'mcpbackend.audit.v1.AuditService/CreateActionLogEntry');
  expect(call).toMatchObject({ traceId: TRACE_ID, parentSpanId: PARENT_SPAN, kind: 2 /* SERVER */ });
  expect(call!.attributes).toContainEqual({ key: 'rpc.grpc.status_code', value: { intValue: 0 } });
  // The entry names the caller's span (from its traceparent): the one that did the recorded action.
  expect(res.actionLogEntry!.spanId).toBe(PARENT_SPAN);

  const traced = audit.output.filter((l) => l.includes(`"trace_id":"${TRACE_ID}"`));
  expect(traced.length).toBeGreaterThan(0);
  expect(traced.every((l) => l.includes(`"span_id":"${call!.spanId}"`))).toBe(true);
});

test("the engine's run and step spans are children of the request that started the run", async () => {
  const port = await findFreePort();
  const domain = serviceProcess({
    entry: 'services/domain/src/main.ts',
    port,
    env: {
      DOMAIN_DATABASE_URL: domainDb.url,
      DOMAIN_PORT: String(port),
      DOMAIN_HOST: '127.0.0.1',
      HEALTH_CHECK_INTERVAL_MS: '200',
      AUDIT_ENABLED: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as { port: number }).port}`,
    },
  });
  await domain.start();
  try {
    const transport = createRpcClientTransport({ baseUrl: domain.url, protocol: 'grpc' });
    await createClient(McpDefinitionService, transport).createMcpDefinition({
      mcpDefinition: { name: 'io.github.fixture/traced', description: 'fixture', version: '1.0.0', transport: { case: 'streamableHttp', value: { url: fixture.url } } },
    });
    const workflows = createClient(WorkflowService, transport);
    await workflows.createWorkflowDefinition({
      workflowDefinition: { name: 'traced', steps: [{ id: 'hello', mcpDefinition: 'io.github.fixture/traced', tool: 'echo', arguments: { text: 'hi' } }] },
    });
    const traceId = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
    const run = (await workflows.startWorkflowRun({ workflowDefinition: 'traced' }, { headers: { traceparent: `00-${traceId}-${PARENT_SPAN}-01` } })).workflowRun!;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { status } = (await workflows.getWorkflowRun({ name: run.name })).workflowRun!;
      if (status === WorkflowRunStatus.SUCCEEDED) break;
      if (status !== WorkflowRunStatus.PENDING && status !== WorkflowRunStatus.RUNNING) throw new Error(`the run ended ${WorkflowRunStatus[status]}`);
      if (Date.now() > deadline) throw new Error('the run did not finish in 20 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await domain.stop(); // flushes the spans
  }
  const spans = allSpans().filter((s) => s.traceId === '9f8e7d6c5b4a39281706f5e4d3c2b1a0');
  const start = spans.find((s) => s.name === 'mcpbackend.workflow.v1.WorkflowService/StartWorkflowRun');
  const runSpan = spans.find((s) => s.name === 'workflow.run');
  const stepSpan = spans.find((s) => s.name === 'workflow.step hello');
  expect(start?.parentSpanId).toBe(PARENT_SPAN);
  expect(runSpan?.parentSpanId).toBe(start!.spanId);
  expect(stepSpan?.parentSpanId).toBe(runSpan!.spanId);
  expect(stepSpan!.attributes).toContainEqual({ key: 'mcp.tool', value: { stringValue: 'echo' } });
}, 60_000);
