import type { Logger } from '../../../shared/logging/logger';
import { startRpcService, type RunningService } from '../../../shared/runtime/start-rpc-service';
import { AuditService } from '../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { auditMigrations } from '../migrations';
import type { AuditConfig } from './config';
import { createActionLogRepository } from './repositories/action-log-repository';
import { createGroupCommitter } from './entries/group-commit';
import { recordLogAccess } from './entries/record-access';
import { callerProvenance } from './handlers/provenance';
import { AUDIT_REQUIREMENTS, createRoutes } from './routes';
import { anonymous } from '../../../shared/auth/identity';

export type RunningAuditService = RunningService;

/** Starts the audit service (used by `main.ts` and by tests with port 0). */
export async function startAuditService(config: AuditConfig, logger: Logger): Promise<RunningAuditService> {
  return startRpcService({
    config,
    logger,
    migrations: auditMigrations,
    build: ({ sequelize }) => {
      const repo = createActionLogRepository(sequelize);
      // One transaction may hold a full batch request (1,000 entries) plus whatever queued beside it.
      const committer = createGroupCommitter(repo, { maxEntries: 2_000 });
      return {
        routes: createRoutes({ repo, committer, auditReads: config.auditReads }),
        healthServices: [AuditService.typeName],
        requirements: AUDIT_REQUIREMENTS,
        // A refused write is itself an entry: who tried, from where, and why it was refused.
        async onDenied(attempt) {
          if (attempt.requirement !== 'audit_log.write') return;
          await recordLogAccess(
            committer,
            { kind: 'denied_write', entityId: 'actionLogEntries', details: { procedure: attempt.procedure, code: attempt.kind, reason: attempt.reason } },
            callerProvenance({ ...attempt.context, identity: attempt.identity ?? anonymous(attempt.context.forwarded.actorId) }),
          );
        },
      };
    },
  });
}
