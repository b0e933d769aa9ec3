import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { findFreePort } from '../../../shared/db/embedded-postgres';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../../shared/gen/grpc/health/v1/health_pb';
import { createLogger } from '../../../shared/logging/logger';
import { createRpcClientTransport } from '../../../shared/rpc/client-transport';
import { startTcpProxy } from '../../../shared/testing/tcp-proxy';
import { createTestDatabase, type TestDatabase } from '../../../shared/testing/test-database';
import { AuditService } from '../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { entryInput } from './audit-fixture';
import { loadAuditConfig } from '../src/config';
import { startAuditService, type RunningAuditService } from '../src/server';

/**
 * grpc.health.v1 says NOT_SERVING — for the server ('') and for AuditService — until the
 * database is reachable and migrated, from the very first Check; and `npm run db:migrate`
 * (scripts/db-migrate.ts) is what an operator runs when the service may not migrate itself.
 */

const ROOT = path.resolve(__dirname, '../../..');
const AUDIT_SERVICE = 'mcpbackend.audit.v1.AuditService';
const running: RunningAuditService[] = [];

afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
});

async function startUnready(databaseUrl: string, env: Record<string, string> = {}) {
  const config = loadAuditConfig({
    AUDIT_DATABASE_URL: databaseUrl,
    AUDIT_PORT: '0',
    AUDIT_HOST: '127.0.0.1',
    HEALTH_CHECK_INTERVAL_MS: '100',
    SHUTDOWN_GRACE_MS: '1000',
    ...env,
  });
  const service = await startAuditService(config, createLogger({ service: 'readiness-test', level: 'silent' }));
  running.push(service);
  const transport = createRpcClientTransport({ baseUrl: `http://127.0.0.1:${service.port}`, protocol: 'grpc' });
  const health = createClient(Health, transport);
  /** The status of '' and of AuditService, by name. */
  const statuses = async () => Promise.all(['', AUDIT_SERVICE].map(async (service) => Status[(await health.check({ service })).status]));
  /** Polls until both statuses are `want`. */
  const until = async (want: string) => {
    const deadline = Date.now() + 10_000;
    while ((await statuses()).some((s) => s !== want)) {
      if (Date.now() > deadline) throw new Error(`still ${(await statuses()).join(', ')}, not ${want}`);
      await sleep(50);
    }
  };
  return { statuses, until, client: createClient(AuditService, transport) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function migrate(databaseUrl: string) {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/db-migrate.ts', 'audit'], {
    cwd: ROOT,
    env: { ...process.env, AUDIT_DATABASE_URL: databaseUrl },
    timeout: 60_000,
  });
}

describe('readiness', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('audit_ready');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('NOT_SERVING while the schema is not migrated; SERVING once npm run db:migrate has run it', async () => {
    const { statuses, until } = await startUnready(db.url, { AUDIT_MIGRATE_ON_START: 'false' });
    expect(await statuses()).toEqual(['NOT_SERVING', 'NOT_SERVING']);
    await sleep(400); // several readiness checks
    expect(await statuses()).toEqual(['NOT_SERVING', 'NOT_SERVING']);

    const first = await migrate(db.url);
    expect(first.stdout).toMatch(/^audit: applied \d{8}-\d{4}-/);
    await until('SERVING');
    expect((await migrate(db.url)).stdout).toBe('audit: already up to date\n');
  });

  it('NOT_SERVING while the database is unreachable, the server still answering', async () => {
    const nothingThere = `postgres://postgres@127.0.0.1:${await findFreePort()}/audit`;
    const { statuses } = await startUnready(nothingThere);
    expect(await statuses()).toEqual(['NOT_SERVING', 'NOT_SERVING']);
    await sleep(400);
    expect(await statuses()).toEqual(['NOT_SERVING', 'NOT_SERVING']);
  });

  it('a database outage: calls fail UNAVAILABLE (retryable, not INTERNAL), health goes NOT_SERVING, and both recover', async () => {
    const outageDb = await createTestDatabase('audit_outage');
    const target = new URL(outageDb.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    try {
      target.port = String(proxy.port);
      const { until, client } = await startUnready(target.toString());
      await until('SERVING');
      await client.createActionLogEntry({ actionLogEntry: entryInput() });

      await proxy.cut();
      // Every call during the outage, whether its pooled connection died or a new one is refused.
      for (let i = 0; i < 3; i++) {
        const err = await client.createActionLogEntry({ actionLogEntry: entryInput() }).then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
        expect({ code: Code[err!.code], message: err!.rawMessage }).toEqual({ code: 'Unavailable', message: 'the database is unavailable; retry later' });
      }
      await until('NOT_SERVING');

      await proxy.restore();
      await until('SERVING');
      const res = await client.createActionLogEntry({ actionLogEntry: entryInput() });
      expect(res.actionLogEntry!.seq).toBe(2n);
    } finally {
      await proxy.close();
      await outageDb.drop();
    }
  });
});
