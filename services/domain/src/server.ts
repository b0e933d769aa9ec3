import type { Logger } from '../../../shared/logging/logger';
import { startRpcService, type RunningService } from '../../../shared/runtime/start-rpc-service';
import { domainMigrations } from '../migrations';
import { startAuditRelay, type AuditRelay } from './audit-outbox/audit-relay';
import { createAuditRecorder } from './audit-outbox/audit-recorder';
import { createGrpcAuditSink } from './audit-outbox/audit-sink';
import { startBacklogMonitor } from './audit-outbox/backlog-monitor';
import { createOutboxRepository } from './audit-outbox/outbox-repository';
import type { DomainConfig } from './config';
import type { DomainDeps } from './domain-deps';
import { createMcpDefinitionRepository } from './mcp-definitions/mcp-definition-repository';
import { createRoutes, DOMAIN_SERVICES } from './routes';
import { createIdempotencyRepository } from './shared-repositories/idempotency-repository';
import { createWorkflowDefinitionRepository } from './workflows/workflow-definition-repository';
import { createWorkflowRunRepository } from './workflows/workflow-run-repository';

export type RunningDomainService = RunningService;

/**
 * Starts the domain service: the registry RPCs, and the relay that carries audit entries
 * from the outbox to the audit service once the database is ready.
 */
export async function startDomainService(config: DomainConfig, logger: Logger): Promise<RunningDomainService> {
  let relay: AuditRelay | undefined;
  let monitor: ReturnType<typeof startBacklogMonitor> | undefined;
  return startRpcService({
    config,
    logger,
    migrations: domainMigrations,
    build: ({ sequelize, health, metrics }) => {
      const outbox = createOutboxRepository(sequelize);
      const deps: DomainDeps = {
        sequelize,
        mcpDefinitions: createMcpDefinitionRepository(sequelize),
        workflowDefinitions: createWorkflowDefinitionRepository(sequelize),
        workflowRuns: createWorkflowRunRepository(sequelize),
        idempotency: createIdempotencyRepository(sequelize),
        audit: createAuditRecorder({ outbox, enabled: config.audit.enabled, onCommitted: () => relay?.kick() }),
      };
      return {
        routes: createRoutes(deps),
        healthServices: DOMAIN_SERVICES,
        httpRoutes: {
          // gRPC health says serving or not; this adds why, and how far audit delivery is behind.
          '/healthz': async () => {
            const backlog = monitor?.latest();
            const serving = health.getStatus('') === 'SERVING';
            return {
              status: serving ? 200 : 503,
              contentType: 'application/json',
              body: JSON.stringify({
                status: serving ? 'SERVING' : 'NOT_SERVING',
                audit: { enabled: config.audit.enabled, backlog: backlog?.count ?? null, oldestAgeSeconds: backlog?.oldestAgeSeconds ?? null },
              }),
            };
          },
        },
        onReady() {
          if (!config.audit.enabled) return;
          relay = startAuditRelay({
            sequelize,
            outbox,
            sink: createGrpcAuditSink({ auditUrl: config.audit.url, serviceName: config.serviceName, timeoutMs: config.audit.timeoutMs }),
            logger,
            batchSize: config.audit.batchSize,
            concurrency: config.audit.concurrency,
            pollIntervalMs: config.audit.pollIntervalMs,
            minBackoffMs: config.audit.minBackoffMs,
            maxBackoffMs: config.audit.maxBackoffMs,
          });
          monitor = startBacklogMonitor({ outbox, registry: metrics, logger, intervalMs: 5_000, warnAfterSeconds: config.audit.backlogWarnAfterSeconds });
        },
        async stop() {
          monitor?.stop();
          await relay?.stop();
        },
      };
    },
  });
}
