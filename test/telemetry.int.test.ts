import http from 'node:http';
import { createClient } from '@connectrpc/connect';
import { AuditService } from '../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { findFreePort } from '../shared/db/embedded-postgres';
import { createRpcClientTransport } from '../shared/rpc/client-transport';
import { createTestDatabase, type TestDatabase } from '../shared/testing/test-database';
import { entryInput } from '../services/audit/test/audit-fixture';
import { serviceProcess, type ServiceProcess } from './support/service-process';

/**
 * OpenTelemetry end to end: the audit service as a real process with OTEL_EXPORTER_OTLP_ENDPOINT
 * set exports its server spans over OTLP/HTTP to a collector (here a tiny one in the test), as
 * children of the caller's `traceparent`; its log lines for the call carry the same trace id.
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
let collector: http.Server;
let audit: ServiceProcess;
const exported: Array<{ contentType: string | undefined; body: { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> } }> = [];

beforeAll(async () => {
  db = await createTestDatabase('telemetry');
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
  await db?.drop();
});

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
