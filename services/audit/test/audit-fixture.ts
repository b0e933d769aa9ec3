import { randomUUID } from 'node:crypto';
import { createClient, type Client } from '@connectrpc/connect';
import { Client as PgClient } from 'pg';
import { HealthCheckResponse_ServingStatus, Health } from '../../../shared/gen/grpc/health/v1/health_pb';
import { ActionType, EntityType } from '../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { AuditService } from '../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { createLogger } from '../../../shared/logging/logger';
import { createRpcClientTransport, type RpcProtocol } from '../../../shared/rpc/client-transport';
import { createTestDatabase } from '../../../shared/testing/test-database';
import { loadAuditConfig } from '../src/config';
import { startAuditService, type RunningAuditService } from '../src/server';

export interface AuditInstance {
  readonly baseUrl: string;
  readonly client: Client<typeof AuditService>;
  readonly service: RunningAuditService;
  clientFor(protocol: RpcProtocol): Client<typeof AuditService>;
  waitUntilServing(): Promise<void>;
}

export interface AuditFixture extends AuditInstance {
  readonly databaseUrl: string;
  /** Runs SQL as the database superuser (to tamper, inspect, or prove grants). */
  sql<T = Record<string, unknown>>(text: string, bind?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A real audit service, in this process, listening on an ephemeral port. */
export async function startAuditInstance(databaseUrl: string, env: Record<string, string> = {}): Promise<AuditInstance> {
  const config = loadAuditConfig({
    AUDIT_DATABASE_URL: databaseUrl,
    AUDIT_PORT: '0',
    AUDIT_HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    HEALTH_CHECK_INTERVAL_MS: '200',
    SHUTDOWN_GRACE_MS: '2000',
    ...env,
  });
  const logger = createLogger({ service: 'audit-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const service = await startAuditService(config, logger);
  const baseUrl = `http://127.0.0.1:${service.port}`;
  const clientFor = (protocol: RpcProtocol) => createClient(AuditService, createRpcClientTransport({ baseUrl, protocol }));
  const health = createClient(Health, createRpcClientTransport({ baseUrl, protocol: 'grpc' }));
  const instance: AuditInstance = {
    baseUrl,
    client: clientFor('grpc'),
    service,
    clientFor,
    async waitUntilServing() {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const res = await health.check({ service: '' }).catch(() => undefined);
        if (res?.status === HealthCheckResponse_ServingStatus.SERVING) return;
        if (Date.now() > deadline) throw new Error('audit service did not become SERVING');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  await instance.waitUntilServing();
  return instance;
}

/** An audit service over its own throw-away database. */
export async function startAuditFixture(env: Record<string, string> = {}): Promise<AuditFixture> {
  const db = await createTestDatabase('audit');
  const instance = await startAuditInstance(db.url, env);
  const pg = new PgClient({ connectionString: db.url });
  await pg.connect();
  return {
    ...instance,
    databaseUrl: db.url,
    async sql<T>(text: string, bind: unknown[] = []) {
      return (await pg.query(text, bind)).rows as T[];
    },
    async close() {
      await instance.service.close();
      await pg.end();
      await db.drop();
    },
  };
}

/** A valid entry input; override any field. */
export function entryInput(overrides: Record<string, unknown> = {}) {
  return {
    eventId: randomUUID(),
    actionType: ActionType.CREATE,
    entityType: EntityType.MCP_DEFINITION,
    entityId: 'io.github.acme/weather',
    details: { title: 'Weather' },
    ...overrides,
  };
}

/** An entry as Connect JSON (and `buf curl`) prints it: int64 as strings, enums by name. */
export interface JsonEntry {
  name: string;
  seq: string;
  eventId: string;
  actorId: string;
  actionType: string;
  entityType: string;
  entityId: string;
  details?: Record<string, unknown>;
  occurTime: string;
  recordTime: string;
  traceId?: string;
  spanId?: string;
  traceState?: string;
  serviceName: string;
  clientIp: string;
  userAgent: string;
  hash: string;
  prevHash: string;
}
