import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema } from '@bufbuild/protobuf/wkt';
import { ActionType, EntityType, type ActionLogEntry } from '../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { WorkflowRunStatus } from '../shared/gen/mcpbackend/workflow/v1/workflow_run_pb';
import { startStack, type Stack } from './support/stack';

/**
 * The original design's four tests, end to end across both services as real processes,
 * plus delivery while the audit service is down and trace linking.
 */
let stack: Stack;
beforeAll(async () => {
  // API only: these tests follow what users do; test/engine.int.test.ts covers the engine's entries.
  stack = await startStack({ domain: { DOMAIN_ROLE: 'api', AUDIT_BACKLOG_CHECK_INTERVAL_MS: '200', AUDIT_BACKLOG_WARN_AFTER_S: '1' } });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

const SECRET = `sk-${randomBytes(8).toString('hex')}`;
let counter = 0;
const uniqueName = () => `io.github.test${++counter}/server-${randomBytes(3).toString('hex')}`;

function mcpDefinition(name: string) {
  return {
    name,
    title: 'Weather',
    description: 'Forecasts',
    version: '1.0.0',
    transport: {
      case: 'stdio' as const,
      value: { command: 'node', args: ['server.js'], env: [{ name: 'API_KEY', value: SECRET, secret: true }] },
    },
  };
}

/** Polls the audit log until `filter` matches `count` entries (delivery is asynchronous by design). */
async function entriesEventually(filter: string, count: number, timeoutMs = 20_000): Promise<ActionLogEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await stack.auditClient.listActionLogEntries({ filter, pageSize: 1000 });
    if (res.actionLogEntries.length >= count || Date.now() > deadline) return res.actionLogEntries;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('mcp definition CRUD logging', async () => {
  const name = uniqueName();
  const headers = { 'x-user-id': 'alice' };
  const created = (await stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(name) }, { headers })).mcpDefinition!;
  await stack.mcp.updateMcpDefinition(
    { mcpDefinition: { name, description: 'Forecasts v2', etag: created.etag }, updateMask: create(FieldMaskSchema, { paths: ['description'] }) },
    { headers },
  );
  await stack.mcp.deleteMcpDefinition({ name }, { headers });

  const entries = await entriesEventually(`entity_type = MCP_DEFINITION AND entity_id = "${name}"`, 3);
  expect(entries.map((e) => e.actionType)).toEqual([ActionType.CREATE, ActionType.UPDATE, ActionType.DELETE]);
  expect(entries.every((e) => e.actorId === 'alice' && e.serviceName === 'mcp-domain')).toBe(true);
  expect(entries[0]!.details).toMatchObject({ mcpDefinition: { name, description: 'Forecasts', version: '1.0.0' } });
  expect(entries[1]!.details).toEqual({ changes: { description: { before: 'Forecasts', after: 'Forecasts v2' } } });
  expect(entries[2]!.details).toMatchObject({ mcpDefinition: { name, description: 'Forecasts v2' }, force: false });
  // The secret is stored by the domain service but appears in no audit entry.
  expect(JSON.stringify(entries.map((e) => e.details))).not.toContain(SECRET);
  expect(entries[0]!.details).toMatchObject({ mcpDefinition: { stdio: { env: [{ name: 'API_KEY', value: '', secret: true }] } } });
});

test('workflow run logging', async () => {
  const server = uniqueName();
  await stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(server) });
  await stack.workflows.createWorkflowDefinition({
    workflowDefinition: {
      name: 'report',
      parametersSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      steps: [{ id: 'fetch', mcpDefinition: server, tool: 'forecast', arguments: { city: '${params.city}' } }],
    },
  });
  const headers = { 'x-user-id': 'operator-1' };
  const run = (await stack.workflows.startWorkflowRun({ workflowDefinition: 'report', parameters: { city: 'Oslo' } }, { headers })).workflowRun!;
  expect(run.status).toBe(WorkflowRunStatus.PENDING);
  const cancelled = (await stack.workflows.cancelWorkflowRun({ name: run.name, reason: 'wrong city' }, { headers })).workflowRun!;
  expect(cancelled.status).toBe(WorkflowRunStatus.CANCELLED);

  const entries = await entriesEventually(`entity_type = WORKFLOW_RUN AND entity_id = "${run.name}"`, 2);
  expect(entries).toHaveLength(2);
  expect(entries[0]).toMatchObject({ actionType: ActionType.CREATE, actorId: 'operator-1' });
  expect(entries[0]!.details).toMatchObject({ status: 'PENDING', parameters: { city: 'Oslo' } });
  expect(entries[1]).toMatchObject({ actionType: ActionType.UPDATE, actorId: 'operator-1' });
  expect(entries[1]!.details).toEqual({ status: 'CANCELLED', previousStatus: 'PENDING', reason: 'wrong city' });
});

test('actor id capture', async () => {
  const withActor = uniqueName();
  const withoutActor = uniqueName();
  await stack.mcp.createMcpDefinition(
    { mcpDefinition: mcpDefinition(withActor) },
    { headers: { 'x-user-id': 'dora', 'user-agent': 'audit-test/1.0' } },
  );
  await stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(withoutActor) });
  const [a] = await entriesEventually(`entity_id = "${withActor}"`, 1);
  const [b] = await entriesEventually(`entity_id = "${withoutActor}"`, 1);
  expect(a).toMatchObject({ actorId: 'dora', clientIp: '127.0.0.1' });
  expect(a!.userAgent).toContain('audit-test/1.0');
  expect(b!.actorId).toBe('system');
});

test('log entry ordering', async () => {
  const name = uniqueName();
  await stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(name) });
  // 30 concurrent updates of one entity: the row lock decides their commit order.
  await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      stack.mcp.updateMcpDefinition({
        mcpDefinition: { name, description: `rev ${i}` },
        updateMask: create(FieldMaskSchema, { paths: ['description'] }),
      }),
    ),
  );
  const entries = await entriesEventually(`entity_id = "${name}"`, 31);
  expect(entries).toHaveLength(31);
  const updates = entries.slice(1).map((e) => (e.details as { changes: { description: { before: string; after: string } } }).changes.description);
  // In commit order, each update starts from the state the previous one left.
  expect(updates[0]!.before).toBe('Forecasts');
  for (let i = 1; i < updates.length; i++) expect(updates[i]!.before).toBe(updates[i - 1]!.after);
  const final = (await stack.mcp.getMcpDefinition({ name })).mcpDefinition!;
  expect(updates[updates.length - 1]!.after).toBe(final.description);
  // seq order agrees with the producer's clock for one entity.
  const times = entries.map((e) => Number(e.occurTime!.seconds) * 1e3 + e.occurTime!.nanos / 1e6);
  expect([...times].sort((x, y) => x - y)).toEqual(times);
});

test('trace linking: the entries of one request carry its trace id', async () => {
  const traceId = randomBytes(16).toString('hex');
  const name = uniqueName();
  await stack.mcp.createMcpDefinition(
    { mcpDefinition: mcpDefinition(name) },
    { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
  );
  const entries = await entriesEventually(`trace_id = "${traceId}"`, 1);
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ entityId: name, traceId });
});

/** The domain's /healthz document. */
async function healthz(): Promise<{ status: string; audit: { enabled: boolean; backlog: number | null; oldestAgeSeconds: number | null } }> {
  return (await fetch(`${stack.domain.url}/healthz`)).json() as never;
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('audit service down: mutations succeed, the backlog shows in /healthz, /metrics and the log, and every entry arrives exactly once after it returns', async () => {
  const before = await stack.auditClient.verifyActionLog({});
  await stack.audit.kill();
  const names = Array.from({ length: 200 }, uniqueName);
  for (let i = 0; i < names.length; i += 20) {
    await Promise.all(names.slice(i, i + 20).map((name) => stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(name) }, { timeoutMs: 5_000 })));
  }
  const waiting = await stack.domainSql<{ n: string }>('SELECT count(*) AS n FROM audit_outbox');
  expect(Number(waiting[0]!.n)).toBeGreaterThanOrEqual(200);

  // The backlog is visible while the audit service is away: /healthz, /metrics, and a warning in the log.
  await eventually(async () => {
    const { audit } = await healthz();
    return (audit.backlog ?? 0) >= 200 && (audit.oldestAgeSeconds ?? 0) > 1;
  });
  const metrics = await (await fetch(`${stack.domain.url}/metrics`)).text();
  expect(Number(/^audit_outbox_backlog\{[^}]*\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(200);
  expect(Number(/^audit_outbox_oldest_age_seconds\{[^}]*\} ([\d.e+-]+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  await eventually(() => stack.domain.output.some((l) => l.includes('"level":"warn"') && l.includes('"msg":"audit outbox backlog"') && /"backlog":2\d\d/.test(l)));

  await stack.audit.start();
  const deadline = Date.now() + 30_000;
  let verify = await stack.auditClient.verifyActionLog({});
  while (verify.headSeq < before.headSeq + 200n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    verify = await stack.auditClient.verifyActionLog({});
  }
  expect(verify.valid).toBe(true);
  expect(verify.headSeq).toBe(before.headSeq + 200n);
  const created = await stack.auditClient.listActionLogEntries({ filter: `seq > ${before.headSeq}`, pageSize: 1000 });
  expect(created.actionLogEntries).toHaveLength(200);
  expect(new Set(created.actionLogEntries.map((e) => e.entityId))).toEqual(new Set(names));
  expect(new Set(created.actionLogEntries.map((e) => e.eventId)).size).toBe(200);
  expect(created.actionLogEntries.every((e) => e.entityType === EntityType.MCP_DEFINITION)).toBe(true);
  // Nothing left behind, and nothing more arrives.
  expect((await stack.domainSql<{ n: string }>('SELECT count(*) AS n FROM audit_outbox'))[0]!.n).toBe('0');
  await eventually(async () => (await healthz()).audit.backlog === 0);
  await new Promise((r) => setTimeout(r, 500));
  expect((await stack.auditClient.verifyActionLog({})).headSeq).toBe(before.headSeq + 200n);
}, 90_000);
