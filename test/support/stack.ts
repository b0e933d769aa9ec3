import { createClient, type Client } from '@connectrpc/connect';
import { Client as PgClient } from 'pg';
import { AuditService } from '../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { McpDefinitionService } from '../../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { WorkflowService } from '../../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import { createRpcClientTransport } from '../../shared/rpc/client-transport';
import { findFreePort } from '../../shared/db/embedded-postgres';
import { createTestDatabase, type TestDatabase } from '../../shared/testing/test-database';
import { serviceProcess, type ServiceProcess } from './service-process';

export interface Stack {
  readonly audit: ServiceProcess;
  readonly domain: ServiceProcess;
  readonly auditClient: Client<typeof AuditService>;
  readonly mcp: Client<typeof McpDefinitionService>;
  readonly workflows: Client<typeof WorkflowService>;
  /** Starts one more engine process (DOMAIN_ROLE=engine) on the domain database. */
  addEngine(env?: Record<string, string>): Promise<ServiceProcess>;
  /** SQL on the domain database (outbox, resources) as the superuser. */
  domainSql<T = Record<string, unknown>>(text: string, bind?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

/**
 * Both services as real processes on real sockets, each with its own throw-away database,
 * the domain relaying audit entries to the audit service exactly as in production.
 */
export async function startStack(
  env: { audit?: Record<string, string>; domain?: Record<string, string>; engine?: Record<string, string> } = {},
  /** `build`: the compiled services (`npm run build` → dist/), as the images run them. */
  from: 'source' | 'build' = 'source',
): Promise<Stack> {
  const entry = (service: 'audit' | 'domain') =>
    from === 'build' ? `dist/services/${service}/src/main.js` : `services/${service}/src/main.ts`;
  const dbs: TestDatabase[] = [await createTestDatabase('stack_audit'), await createTestDatabase('stack_domain')];
  const [auditDb, domainDb] = dbs as [TestDatabase, TestDatabase];
  const auditPort = await findFreePort();
  const audit = serviceProcess({
    entry: entry('audit'),
    port: auditPort,
    env: { AUDIT_DATABASE_URL: auditDb.url, AUDIT_PORT: String(auditPort), AUDIT_HOST: '127.0.0.1', HEALTH_CHECK_INTERVAL_MS: '200', ...env.audit },
  });
  const domainProcess = async (extra: Record<string, string> = {}) => {
    const port = await findFreePort();
    return serviceProcess({
      entry: entry('domain'),
      port,
      env: {
        DOMAIN_DATABASE_URL: domainDb.url,
        DOMAIN_PORT: String(port),
        DOMAIN_HOST: '127.0.0.1',
        AUDIT_URL: audit.url,
        HEALTH_CHECK_INTERVAL_MS: '200',
        AUDIT_RELAY_POLL_INTERVAL_MS: '200',
        AUDIT_RELAY_MAX_BACKOFF_MS: '1000',
        ...extra,
      },
    });
  };
  const domain = await domainProcess(env.domain);
  const engines: ServiceProcess[] = [];
  await Promise.all([audit.start(), domain.start()]);
  const pg = new PgClient({ connectionString: domainDb.url });
  await pg.connect();
  return {
    audit,
    domain,
    auditClient: createClient(AuditService, createRpcClientTransport({ baseUrl: audit.url, protocol: 'grpc' })),
    mcp: createClient(McpDefinitionService, createRpcClientTransport({ baseUrl: domain.url, protocol: 'grpc' })),
    workflows: createClient(WorkflowService, createRpcClientTransport({ baseUrl: domain.url, protocol: 'grpc' })),
    async addEngine(extra = {}) {
      const engine = await domainProcess({ DOMAIN_ROLE: 'engine', ...env.engine, ...extra });
      engines.push(engine);
      await engine.start();
      return engine;
    },
    async domainSql<T>(text: string, bind: unknown[] = []) {
      return (await pg.query(text, bind)).rows as T[];
    },
    async stop() {
      await pg.end();
      await Promise.all([...engines.map((e) => e.stop()), domain.stop(), audit.stop()]);
      for (const db of dbs) await db.drop();
    },
  };
}
