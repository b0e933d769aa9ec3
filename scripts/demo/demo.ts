/**
 * `npm run demo`: the tour a new user takes, against running services (`npm start`).
 * Registers the demo MCP server shipped in this folder, defines a two-step workflow,
 * starts a run with a fresh trace id, follows it to the end, and prints the run and
 * everything the audit log recorded for that trace.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { toJson } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { ActionLogEntrySchema } from '../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { AuditService } from '../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { McpDefinitionService } from '../../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { WorkflowRunSchema, WorkflowRunStatus } from '../../shared/gen/mcpbackend/workflow/v1/workflow_run_pb';
import { WorkflowService } from '../../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import { createRpcClientTransport } from '../../shared/rpc/client-transport';

const DOMAIN_URL = process.env.DOMAIN_URL ?? 'http://127.0.0.1:50051';
const AUDIT_URL = process.env.AUDIT_URL ?? 'http://127.0.0.1:50052';
const SERVER = 'io.github.mcp-backend/demo-weather';
const WORKFLOW = 'weather-report';

const transport = (baseUrl: string) => createRpcClientTransport({ baseUrl, protocol: 'grpc' });
const mcp = createClient(McpDefinitionService, transport(DOMAIN_URL));
const workflows = createClient(WorkflowService, transport(DOMAIN_URL));
const audit = createClient(AuditService, transport(AUDIT_URL));

/** The demo can be run again and again: what already exists is reused. */
async function ensure(what: string, create: () => Promise<unknown>) {
  try {
    await create();
    console.log(`✓ created ${what}`);
  } catch (err) {
    if (ConnectError.from(err).code !== Code.AlreadyExists) throw err;
    console.log(`✓ ${what} already exists`);
  }
}

async function main() {
  const headers = { 'x-user-id': 'demo-user' };
  await ensure(`MCP definition ${SERVER}`, () =>
    mcp.createMcpDefinition(
      {
        mcpDefinition: {
          name: SERVER,
          title: 'Demo weather',
          description: 'A tiny MCP server shipped with the repository for the demo',
          version: '1.0.0',
          transport: {
            case: 'stdio',
            value: { command: process.execPath, args: ['--import', 'tsx', path.join(__dirname, 'demo-mcp-server.ts')] },
          },
          tags: ['demo'],
        },
      },
      { headers },
    ),
  );
  await ensure(`workflow definition ${WORKFLOW}`, () =>
    workflows.createWorkflowDefinition(
      {
        workflowDefinition: {
          name: WORKFLOW,
          description: 'Fetch a forecast, then format it as a report',
          parametersSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          steps: [
            { id: 'forecast', mcpDefinition: SERVER, tool: 'get_forecast', arguments: { city: '${params.city}' } },
            {
              id: 'report',
              mcpDefinition: SERVER,
              tool: 'format_report',
              arguments: {
                city: '${steps.forecast.output.city}',
                temperatureC: '${steps.forecast.output.temperatureC}',
                conditions: '${steps.forecast.output.conditions}',
              },
              dependsOn: ['forecast'],
            },
          ],
        },
      },
      { headers },
    ),
  );

  const traceId = randomBytes(16).toString('hex');
  const started = await workflows.startWorkflowRun(
    { workflowDefinition: WORKFLOW, parameters: { city: process.argv[2] ?? 'Lisbon' } },
    { headers: { ...headers, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
  );
  const name = started.workflowRun!.name;
  console.log(`✓ started ${name} (trace id ${traceId})`);

  let last = started.workflowRun!;
  for await (const { workflowRun } of workflows.watchWorkflowRun({ name }, { timeoutMs: 60_000 })) {
    last = workflowRun!;
    const steps = last.steps.map((s) => `${s.stepId}:${s.status === 0 ? '?' : ['', 'pending', 'running', 'ok', 'failed', 'cancelled'][s.status]}`);
    console.log(`  … ${WorkflowRunStatus[last.status]}  ${steps.join('  ')}`);
  }
  console.log('\nThe run:');
  console.log(JSON.stringify(toJson(WorkflowRunSchema, last), null, 2));

  // Delivery to the audit log is asynchronous: wait for the run's last transition to arrive.
  const deadline = Date.now() + 10_000;
  let entries = (await audit.listActionLogEntries({ filter: `trace_id = "${traceId}"` })).actionLogEntries;
  while (Date.now() < deadline && !entries.some((e) => e.details?.status === WorkflowRunStatus[last.status])) {
    await new Promise((r) => setTimeout(r, 200));
    entries = (await audit.listActionLogEntries({ filter: `trace_id = "${traceId}"` })).actionLogEntries;
  }
  console.log(`\nThe audit trail of trace ${traceId} (${entries.length} entries):`);
  for (const e of entries) {
    const json = toJson(ActionLogEntrySchema, e) as Record<string, unknown>;
    console.log(`  #${e.seq} ${json.actionType} by ${e.actorId}: ${JSON.stringify(e.details)}`);
  }
  if (last.status !== WorkflowRunStatus.SUCCEEDED) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  console.error('Are the services running? Start them with `npm start` in another terminal.');
  process.exit(1);
});
