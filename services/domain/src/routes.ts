import type { ConnectRouter } from '@connectrpc/connect';
import { McpDefinitionService } from '../../../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { WorkflowService } from '../../../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import type { Requirement } from '../../../shared/auth/permissions';
import type { DomainDeps } from './domain-deps';
import { createMcpDefinitionHandler } from './mcp-definitions/mcp-definition-handler';
import { createWorkflowHandler } from './workflows/workflow-handler';

export const DOMAIN_SERVICES = [McpDefinitionService.typeName, WorkflowService.typeName];

const rule = (service: { typeName: string }, method: string, requirement: Requirement): [string, Requirement] => [`${service.typeName}/${method}`, requirement];

/** What each RPC needs in jwt mode (README: Security, roles). */
export const DOMAIN_REQUIREMENTS: ReadonlyMap<string, Requirement> = new Map([
  rule(McpDefinitionService, 'GetMcpDefinition', 'mcp_definitions.read'),
  rule(McpDefinitionService, 'ListMcpDefinitions', 'mcp_definitions.read'),
  rule(McpDefinitionService, 'CreateMcpDefinition', 'mcp_definitions.write'),
  rule(McpDefinitionService, 'UpdateMcpDefinition', 'mcp_definitions.write'),
  rule(McpDefinitionService, 'DeleteMcpDefinition', 'mcp_definitions.write'),
  rule(WorkflowService, 'GetWorkflowDefinition', 'workflow_definitions.read'),
  rule(WorkflowService, 'ListWorkflowDefinitions', 'workflow_definitions.read'),
  rule(WorkflowService, 'CreateWorkflowDefinition', 'workflow_definitions.write'),
  rule(WorkflowService, 'UpdateWorkflowDefinition', 'workflow_definitions.write'),
  rule(WorkflowService, 'DeleteWorkflowDefinition', 'workflow_definitions.write'),
  rule(WorkflowService, 'GetWorkflowRun', 'workflow_runs.read'),
  rule(WorkflowService, 'ListWorkflowRuns', 'workflow_runs.read'),
  rule(WorkflowService, 'StartWorkflowRun', 'workflow_runs.execute'),
  rule(WorkflowService, 'CancelWorkflowRun', 'workflow_runs.execute'),
  rule(WorkflowService, 'WatchWorkflowRun', 'workflow_runs.execute'),
]);

export function createRoutes(deps: DomainDeps) {
  return (router: ConnectRouter) => {
    router.service(McpDefinitionService, createMcpDefinitionHandler(deps));
    router.service(WorkflowService, createWorkflowHandler(deps));
  };
}
