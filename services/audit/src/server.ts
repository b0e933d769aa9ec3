import type { Logger } from '../../../shared/logging/logger';
import { startRpcService, type RunningService } from '../../../shared/runtime/start-rpc-service';
import { AuditService } from '../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { auditMigrations } from '../migrations';
import type { AuditConfig } from './config';
import { createActionLogRepository } from './repositories/action-log-repository';
import { createRoutes } from './routes';

export type RunningAuditService = RunningService;

/** Starts the audit service (used by `main.ts` and by tests with port 0). */
export async function startAuditService(config: AuditConfig, logger: Logger): Promise<RunningAuditService> {
  return startRpcService({
    config,
    logger,
    migrations: auditMigrations,
    build: ({ sequelize }) => ({
      routes: createRoutes({ repo: createActionLogRepository(sequelize) }),
      healthServices: [AuditService.typeName],
    }),
  });
}
