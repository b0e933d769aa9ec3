import { randomBytes } from 'node:crypto';
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { Client as PgClient } from 'pg';
import { BadRequestSchema, ErrorInfoSchema } from '../../../shared/gen/google/rpc/error_details_pb';
import { Health, HealthCheckResponse_ServingStatus } from '../../../shared/gen/grpc/health/v1/health_pb';
import type { McpDefinitionSchema } from '../../../shared/gen/mcpbackend/mcp/v1/mcp_definition_pb';
import { McpDefinitionService } from '../../../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import type { WorkflowDefinitionSchema, WorkflowStepSchema } from '../../../shared/gen/mcpbackend/workflow/v1/workflow_definition_pb';
import { WorkflowService } from '../../../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import { createLogger } from '../../../shared/logging/logger';
import { createRpcClientTransport, type RpcProtocol } from '../../../shared/rpc/client-transport';
import { createTestDatabase } from '../../../shared/testing/test-database';
import { loadDomainConfig } from '../src/config';
import { startDomainService, type RunningDomainService } from '../src/server';

/**
 * A real domain service, in this process, on an ephemeral port, over its own throw-away
 * database. AUDIT_URL points at a closed port (discard, 9), so the relay can never deliver:
 * every audit entry a mutation writes stays in `audit_outbox`, where tests count it.
 *
 * The workflow engine is off (DOMAIN_ROLE=api): runs stay as the API left them.
 *
 * Every log line the service writes (level trace and up) is captured in `logs`, so tests can
 * prove that a secret never reaches the logs. Set TEST_LOG_LEVEL to also see them on stderr.
 */

export const MCP_SERVICE = 'mcpbackend.mcp.v1.McpDefinitionService';
export const WORKFLOW_SERVICE = 'mcpbackend.workflow.v1.WorkflowService';

/** The tables the use cases write; `audit_outbox` is compared by row count only (the relay updates its attempts). */
const RESOURCE_TABLES = ['mcp_definitions', 'workflow_definitions', 'workflow_definition_mcp_refs', 'workflow_runs', 'workflow_step_runs', 'idempotency_keys'] as const;

export interface DbSnapshot {
  /** Per resource table: row count and a digest of every row's content. */
  readonly tables: Record<string, { count: number; digest: string }>;
  readonly outbox: number;
}

export interface DomainFixture {
  readonly baseUrl: string;
  readonly databaseUrl: string;
  readonly service: RunningDomainService;
  /** McpDefinitionService over gRPC (HTTP/2). */
  readonly mcp: Client<typeof McpDefinitionService>;
  /** WorkflowService over gRPC (HTTP/2). */
  readonly workflows: Client<typeof WorkflowService>;
  /** Every log line the service wrote, as raw JSON text. */
  readonly logs: string[];
  mcpClientFor(protocol: RpcProtocol): Client<typeof McpDefinitionService>;
  workflowClientFor(protocol: RpcProtocol): Client<typeof WorkflowService>;
  /** Runs SQL on the domain database as the superuser. */
  sql<T = Record<string, unknown>>(text: string, bind?: unknown[]): Promise<T[]>;
  /** Rows in `audit_outbox`. */
  outboxCount(): Promise<number>;
  /** The outbox rows, oldest first (details as stored). */
  outboxRows(): Promise<OutboxRow[]>;
  /** Counts and content digests of every resource table, plus the outbox count. */
  snapshot(): Promise<DbSnapshot>;
  /** grpc.health.v1 Check for '' and both domain services. */
  isServing(): Promise<boolean>;
  close(): Promise<void>;
}

export interface OutboxRow {
  id: string;
  event_id: string;
  actor_id: string;
  action_type: string;
  entity_type: string;
  entity_id: string;
  details: Record<string, unknown>;
  traceparent: string;
  client_ip: string;
  user_agent: string;
}

export async function startDomainFixture(env: Record<string, string> = {}): Promise<DomainFixture> {
  const db = await createTestDatabase('domain');
  const config = loadDomainConfig({
    DOMAIN_DATABASE_URL: db.url,
    DOMAIN_PORT: '0',
    DOMAIN_HOST: '127.0.0.1',
    AUDIT_URL: 'http://127.0.0.1:9',
    AUDIT_ENABLED: 'true',
    AUDIT_RELAY_TIMEOUT_MS: '500',
    AUDIT_RELAY_MIN_BACKOFF_MS: '1000',
    AUDIT_RELAY_MAX_BACKOFF_MS: '5000',
    // The API alone: no workflow engine claims runs, so a started run stays PENDING until a test
    // moves it (pass DOMAIN_ROLE: 'all' to run the engine too).
    DOMAIN_ROLE: 'api',
    LOG_LEVEL: 'silent',
    HEALTH_CHECK_INTERVAL_MS: '200',
    SHUTDOWN_GRACE_MS: '2000',
    ...env,
  });
  const logs: string[] = [];
  const echo = process.env.TEST_LOG_LEVEL && process.env.TEST_LOG_LEVEL !== 'silent';
  const logger = createLogger({
    service: 'domain-test',
    level: 'trace',
    destination: {
      write(line: string) {
        logs.push(line);
        if (echo) process.stderr.write(line);
      },
    },
  });
  const service = await startDomainService(config, logger);
  const baseUrl = `http://127.0.0.1:${service.port}`;
  const mcpClientFor = (protocol: RpcProtocol) => createClient(McpDefinitionService, createRpcClientTransport({ baseUrl, protocol }));
  const workflowClientFor = (protocol: RpcProtocol) => createClient(WorkflowService, createRpcClientTransport({ baseUrl, protocol }));
  const health = createClient(Health, createRpcClientTransport({ baseUrl, protocol: 'grpc' }));
  const pg = new PgClient({ connectionString: db.url });
  await pg.connect();

  const isServing = async () => {
    const statuses = await Promise.all(
      ['', MCP_SERVICE, WORKFLOW_SERVICE].map((name) => health.check({ service: name }, { timeoutMs: 2_000 }).then((r) => r.status, () => undefined)),
    );
    return statuses.every((s) => s === HealthCheckResponse_ServingStatus.SERVING);
  };
  const deadline = Date.now() + 15_000;
  while (!(await isServing())) {
    if (Date.now() > deadline) throw new Error('domain service did not become SERVING');
    await new Promise((r) => setTimeout(r, 50));
  }

  const sql = async <T>(text: string, bind: unknown[] = []) => (await pg.query(text, bind)).rows as T[];
  return {
    baseUrl,
    databaseUrl: db.url,
    service,
    mcp: mcpClientFor('grpc'),
    workflows: workflowClientFor('grpc'),
    logs,
    mcpClientFor,
    workflowClientFor,
    sql,
    async outboxCount() {
      return Number((await sql<{ n: string }>('SELECT count(*) AS n FROM audit_outbox'))[0]!.n);
    },
    async outboxRows() {
      return sql<OutboxRow>(
        'SELECT id, event_id, actor_id, action_type, entity_type, entity_id, details, traceparent, client_ip, user_agent FROM audit_outbox ORDER BY id',
      );
    },
    async snapshot() {
      // One statement, so the snapshot is consistent and cheap.
      const parts = RESOURCE_TABLES.map(
        (t) => `(SELECT json_build_array(count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), ''))) FROM ${t} x) AS ${t}`,
      );
      const [row] = await sql<Record<string, [number, string] | number>>(`SELECT ${parts.join(', ')}, (SELECT count(*)::int FROM audit_outbox) AS outbox`);
      const tables: Record<string, { count: number; digest: string }> = {};
      for (const t of RESOURCE_TABLES) {
        const [count, digest] = row![t] as [number, string];
        tables[t] = { count: Number(count), digest };
      }
      return { tables, outbox: Number(row!.outbox) };
    },
    isServing,
    async close() {
      await service.close();
      await pg.end();
      await db.drop();
    },
  };
}

// --- Errors -------------------------------------------------------------------------------------

/** The ConnectError a call failed with; fails the test if it succeeded. */
export async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  return p.then(
    (res) => {
      throw new Error(`expected the call to fail, got ${safeJson(res)}`);
    },
    (e: unknown) => ConnectError.from(e),
  );
}

/** The fields named in the error's google.rpc.BadRequest. */
export function violatedFields(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field));
}

export function errorReason(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

export function codeName(code: Code): string {
  return Code[code] ?? String(code);
}

/** Reads a server stream to its end (or its error). */
export async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const message of stream) out.push(message);
  return out;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)).slice(0, 300);
  } catch {
    return String(v);
  }
}

// --- Valid inputs --------------------------------------------------------------------------------

/** The plain-object form of a message init (MessageInitShape also admits a built message). */
type PlainInit<Desc extends DescMessage> = Exclude<MessageInitShape<Desc>, MessageShape<Desc>>;
export type McpDefinitionInit = PlainInit<typeof McpDefinitionSchema>;
export type WorkflowDefinitionInit = PlainInit<typeof WorkflowDefinitionSchema>;
export type WorkflowStepInit = PlainInit<typeof WorkflowStepSchema>;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** A fresh, valid, reverse-DNS MCP definition name. */
export function uniqueMcpName(serverId = 'weather'): string {
  return `io.github.t${hex(4)}/${serverId}`;
}

/** A fresh, valid workflow definition name. */
export function uniqueWorkflowName(prefix = 'wf'): string {
  return `${prefix}-${hex(4)}`;
}

/** A secret value that cannot occur by accident anywhere else. */
export function uniqueSecret(): string {
  return `sk-live-${hex(12)}`;
}

/** The tools the builder's definition declares (so unknown tools are caught on workflow create). */
export const DECLARED_TOOLS = ['forecast', 'summarize'] as const;

/**
 * A valid MCP definition with stdio transport: `node server.js`, one plain env variable and one
 * secret (API_KEY), two declared tools and two tags. Override any field.
 */
export function mcpDefinitionInput(overrides: Partial<McpDefinitionInit> & { secret?: string } = {}): McpDefinitionInit {
  const { secret = uniqueSecret(), ...rest } = overrides;
  return {
    name: uniqueMcpName(),
    title: 'Weather',
    description: 'Weather forecasts',
    version: '1.2.3',
    transport: {
      case: 'stdio',
      value: {
        command: 'node',
        args: ['server.js', '--stdio'],
        env: [
          { name: 'LOG_LEVEL', value: 'info', secret: false },
          { name: 'API_KEY', value: secret, secret: true },
        ],
      },
    },
    repositoryUrl: 'https://github.com/acme/weather',
    tags: ['weather', 'demo'],
    tools: [
      { name: 'forecast', description: 'Forecast for a city', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } },
      { name: 'summarize', description: 'Summarize a text' },
    ],
    ...rest,
  };
}

/** The parameters schema of the builder's workflow: `city` (required string), `days` (1 to 14). */
export const PARAMETERS_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string', minLength: 1 }, days: { type: 'integer', minimum: 1, maximum: 14 } },
  required: ['city'],
  additionalProperties: false,
};

/** The builder's two steps: `fetch` (forecast for ${params.city}), then `summarize` (of fetch's output). */
export function twoSteps(mcpDefinition: string): WorkflowStepInit[] {
  return [
    { id: 'fetch', mcpDefinition, tool: 'forecast', arguments: { city: '${params.city}', days: '${params.days}' } },
    {
      id: 'summarize',
      mcpDefinition,
      tool: 'summarize',
      arguments: { text: 'Forecast: ${steps.fetch.output.summary}', raw: '${steps.fetch.output}' },
      dependsOn: ['fetch'],
      retryPolicy: { maxAttempts: 2, initialBackoff: { seconds: 2n }, backoffMultiplier: 3, maxBackoff: { seconds: 20n } },
      timeout: { seconds: 30n },
    },
  ];
}

/** A valid workflow definition: two steps using `mcpDefinition`, with the builder's parameters schema. */
export function workflowDefinitionInput(mcpDefinition: string, overrides: Partial<WorkflowDefinitionInit> = {}): WorkflowDefinitionInit {
  return {
    name: uniqueWorkflowName(),
    description: 'Forecast and summary',
    parametersSchema: PARAMETERS_SCHEMA,
    steps: twoSteps(mcpDefinition),
    runTimeout: { seconds: 600n },
    ...overrides,
  };
}
