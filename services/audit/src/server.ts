import { createSequelize } from '../../../shared/db/create-sequelize';
import { runMigrations } from '../../../shared/db/migrator';
import { startReadinessProbe } from '../../../shared/db/readiness-probe';
import { createStandardInterceptors } from '../../../shared/interceptors/standard-interceptors';
import type { Logger } from '../../../shared/logging/logger';
import { createHealthRegistry } from '../../../shared/rpc/health-service';
import { createRpcServer } from '../../../shared/rpc/rpc-server';
import { AuditService } from '../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import type { AuditConfig } from './config';
import { auditMigrations } from '../migrations';
import { createActionLogRepository } from './repositories/action-log-repository';
import { createRoutes } from './routes';

export interface RunningAuditService {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * Starts the audit service: listens at once (health NOT_SERVING), then becomes SERVING when
 * its database is reachable and migrated, and goes back to NOT_SERVING if it is lost.
 * Used by `main.ts` and by tests (port 0).
 */
export async function startAuditService(config: AuditConfig, logger: Logger): Promise<RunningAuditService> {
  const sequelize = createSequelize({ url: config.databaseUrl, poolMax: config.dbPoolMax, applicationName: config.serviceName });
  const repo = createActionLogRepository(sequelize);
  const health = createHealthRegistry();
  const server = createRpcServer({
    routes: createRoutes({ repo }),
    interceptors: createStandardInterceptors({ logger, serviceName: config.serviceName }),
    health,
    reflection: config.reflection,
    readMaxBytes: config.maxRequestBytes,
    logger,
  });
  const address = await server.listen(config.port, config.host);
  const probe = startReadinessProbe({
    sequelize,
    migrations: auditMigrations,
    migrate: config.migrateOnStart ? async () => void (await runMigrations(sequelize, auditMigrations)) : undefined,
    intervalMs: config.healthCheckIntervalMs,
    logger,
    onChange: (ready) => {
      const status = ready ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(AuditService.typeName, status);
    },
  });
  return {
    ...address,
    async close() {
      probe.stop();
      health.shutdown();
      await server.close(config.shutdownGraceMs);
      await sequelize.close();
    },
  };
}
