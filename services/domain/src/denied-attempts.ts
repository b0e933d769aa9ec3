import type { DeniedAttempt } from '../../../shared/interceptors/auth-interceptor';
import { anonymous } from '../../../shared/auth/identity';
import type { AuditActionType, AuditEntityType, AuditEvent } from './audit-outbox/audit-event';

type Described = { actionType: AuditActionType; entityType: AuditEntityType; entityId: (message: Record<string, unknown>) => string };

const nameOf = (m: Record<string, unknown>) => String(m.name ?? '');
const nested = (key: string) => (m: Record<string, unknown>) => String((m[key] as Record<string, unknown> | undefined)?.name ?? '');

/** The mutating RPCs: what each attempts, and on which entity (taken from the request). */
const MUTATIONS: Record<string, Described> = {
  'mcpbackend.mcp.v1.McpDefinitionService/CreateMcpDefinition': { actionType: 'CREATE', entityType: 'MCP_DEFINITION', entityId: nested('mcpDefinition') },
  'mcpbackend.mcp.v1.McpDefinitionService/UpdateMcpDefinition': { actionType: 'UPDATE', entityType: 'MCP_DEFINITION', entityId: nested('mcpDefinition') },
  'mcpbackend.mcp.v1.McpDefinitionService/DeleteMcpDefinition': { actionType: 'DELETE', entityType: 'MCP_DEFINITION', entityId: nameOf },
  'mcpbackend.workflow.v1.WorkflowService/CreateWorkflowDefinition': { actionType: 'CREATE', entityType: 'WORKFLOW_DEFINITION', entityId: nested('workflowDefinition') },
  'mcpbackend.workflow.v1.WorkflowService/UpdateWorkflowDefinition': { actionType: 'UPDATE', entityType: 'WORKFLOW_DEFINITION', entityId: nested('workflowDefinition') },
  'mcpbackend.workflow.v1.WorkflowService/DeleteWorkflowDefinition': { actionType: 'DELETE', entityType: 'WORKFLOW_DEFINITION', entityId: nameOf },
  'mcpbackend.workflow.v1.WorkflowService/StartWorkflowRun': { actionType: 'CREATE', entityType: 'WORKFLOW_RUN', entityId: () => '' },
  'mcpbackend.workflow.v1.WorkflowService/CancelWorkflowRun': { actionType: 'UPDATE', entityType: 'WORKFLOW_RUN', entityId: nameOf },
};

/**
 * The audit event for a refused mutation (reads are not recorded), or undefined. The entity
 * id is what the request named; a start has none yet, so its definition goes in the details.
 */
export function deniedEvent(attempt: DeniedAttempt): AuditEvent | undefined {
  const described = MUTATIONS[attempt.procedure];
  if (!described) return undefined;
  const message = (attempt.message ?? {}) as Record<string, unknown>;
  return {
    actionType: described.actionType,
    entityType: described.entityType,
    entityId: described.entityId(message) || '(none)',
    outcome: 'DENIED',
    details: {
      procedure: attempt.procedure,
      code: attempt.kind,
      reason: attempt.reason,
      ...(typeof message.workflowDefinition === 'string' ? { workflowDefinition: message.workflowDefinition } : {}),
    },
  };
}

/** Who to record for a refused call: the verified caller, or an anonymous one with its claim kept. */
export const deniedIdentity = (attempt: DeniedAttempt) => attempt.identity ?? anonymous(attempt.context.forwarded.actorId);
