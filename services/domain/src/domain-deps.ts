import type { Sequelize } from 'sequelize';
import type { AuditRecorder } from './audit-outbox/audit-recorder';
import type { McpDefinitionRepository } from './mcp-definitions/mcp-definition-repository';
import type { IdempotencyRepository } from './shared-repositories/idempotency-repository';
import type { WorkflowDefinitionRepository } from './workflows/workflow-definition-repository';
import type { RunEvents } from './workflows/run-events';
import type { WorkflowRunRepository } from './workflows/workflow-run-repository';

/** What the use cases need: the pool for transactions, repositories, and the audit recorder. */
export interface DomainDeps {
  readonly sequelize: Sequelize;
  readonly mcpDefinitions: McpDefinitionRepository;
  readonly workflowDefinitions: WorkflowDefinitionRepository;
  readonly workflowRuns: WorkflowRunRepository;
  readonly idempotency: IdempotencyRepository;
  readonly audit: AuditRecorder;
  readonly runEvents: RunEvents;
}
