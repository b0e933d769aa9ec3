import type { ConnectRouter } from '@connectrpc/connect';
import { McpDefinitionService } from '../../../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { WorkflowService } from '../../../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import type { DomainDeps } from './domain-deps';
import { createMcpDefinitionHandler } from './mcp-definitions/mcp-definition-handler';
import { createWorkflowHandler } from './workflows/workflow-handler';

export const DOMAIN_SERVICES = [McpDefinitionService.typeName, WorkflowService.typeName];

export function createRoutes(deps: DomainDeps) {
  return (router: ConnectRouter) => {
    router.service(McpDefinitionService, createMcpDefinitionHandler(deps));
    router.service(WorkflowService, createWorkflowHandler(deps));
  };
}
