import { createPgListener } from '../../../shared/db/pg-listener';
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
import { createEngineStore } from './engine/engine-store';
import { createMcpClientPool } from './engine/mcp-client-pool';
import { defaultEngineId, startWorkflowEngine, type WorkflowEngine } from './engine/workflow-engine';
import { createMcpDefinitionRepository } from './mcp-definitions/mcp-definition-repository';
import { createRoutes, DOMAIN_REQUIREMENTS, DOMAIN_SERVICES } from './routes';
import { deniedEvent, deniedIdentity } from './denied-attempts';
import { currentAuditOrigin } from './audit-outbox/audit-origin';
import { serviceTokenSource } from './audit-outbox/service-token';
import { createIdempotencyRepository } from './shared-repositories/idempotency-repository';
import { createRunEvents } from './workflows/run-events';
import { createWorkflowDefinitionRepository } from './workflows/workflow-definition-repository';
import { createWorkflowRunRepository } from './workflows/workflow-run-repository';

export type RunningDomainService = RunningService;

/**
 * Starts the domain service: the registry RPCs (role all/api), the workflow engine (role
 * all/engine), and in every role the relay that carries audit entries from the outbox to
 * the audit service, once the database is ready.
 */
export async function startDomainService(config: DomainConfig, logger: Logger): Promise<RunningDomainService> {
  const serveApi = config.role !== 'engine';
  const runEngine = config.role !== 'api';
  let relay: AuditRelay | undefined;
  let engine: WorkflowEngine | undefined;
  let monitor: ReturnType<typeof startBacklogMonitor> | undefined;
  const listener = createPgListener({ url: config.databaseUrl, logger });
  const pool = createMcpClientPool({
    idleMs: config.engine.mcpClientIdleMs,
    connectTimeoutMs: config.engine.mcpConnectTimeoutMs,
    logger,
    clientInfo: { name: config.serviceName, version: '0.1.0' },
  });
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
        runEvents: createRunEvents(listener),
      };
      return {
        routes: serveApi ? createRoutes(deps) : () => {},
        healthServices: serveApi ? DOMAIN_SERVICES : [],
        requirements: DOMAIN_REQUIREMENTS,
        // A refused mutation is audited like any other: through the outbox, never lost.
        async onDenied(attempt) {
          const event = deniedEvent(attempt);
          if (!event) return;
          const origin = currentAuditOrigin({ ...attempt.context, identity: deniedIdentity(attempt) });
          await sequelize.transaction((tx) => deps.audit.record(tx, event, origin));
        },
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
                role: config.role,
                engine: engine ? { activeRuns: engine.activeRuns(), mcpClients: pool.size() } : null,
                audit: { enabled: config.audit.enabled, backlog: backlog?.count ?? null, oldestAgeSeconds: backlog?.oldestAgeSeconds ?? null },
              }),
            };
          },
        },
        onReady() {
          void listener.start();
          if (config.audit.enabled) {
            relay = startAuditRelay({
              outbox,
              sink: createGrpcAuditSink({
                auditUrl: config.audit.url,
                serviceName: config.serviceName,
                timeoutMs: config.audit.timeoutMs,
                serviceToken: serviceTokenSource({ token: config.audit.serviceToken, file: config.audit.serviceTokenFile }),
              }),
              logger,
              batchSize: config.audit.batchSize,
              concurrency: config.audit.concurrency,
              pollIntervalMs: config.audit.pollIntervalMs,
              minBackoffMs: config.audit.minBackoffMs,
              maxBackoffMs: config.audit.maxBackoffMs,
              leaseMs: config.audit.leaseMs,
              callTimeoutMs: config.audit.timeoutMs,
            });
            monitor = startBacklogMonitor({
              outbox,
              registry: metrics,
              logger,
              intervalMs: config.audit.backlogCheckIntervalMs,
              warnAfterSeconds: config.audit.backlogWarnAfterSeconds,
            });
          }
          if (runEngine) {
            engine = startWorkflowEngine(
              {
                sequelize,
                store: createEngineStore(sequelize),
                runs: deps.workflowRuns,
                mcpDefinitions: deps.mcpDefinitions,
                audit: deps.audit,
                pool,
                logger,
                listener,
                maxStepOutputBytes: config.engine.maxStepOutputBytes,
              },
              {
                engineId: config.engine.id ?? defaultEngineId(),
                concurrency: config.engine.concurrency,
                leaseMs: config.engine.leaseMs,
                heartbeatMs: config.engine.heartbeatMs,
                pollIntervalMs: config.engine.pollIntervalMs,
              },
            );
          }
        },
        async stop() {
          // Engine first: its last transitions go through the outbox the relay then drains.
          await engine?.stop();
          await pool.close();
          monitor?.stop();
          await relay?.stop();
          await listener.stop();
        },
      };
    },
  });
}
