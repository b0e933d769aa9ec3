import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  CreateMcpDefinitionResponseSchema,
  DeleteMcpDefinitionResponseSchema,
  GetMcpDefinitionResponseSchema,
  ListMcpDefinitionsResponseSchema,
  McpDefinitionService,
  UpdateMcpDefinitionResponseSchema,
} from '../../../../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { InvalidArgumentError } from '../../../../shared/errors/app-error';
import type { DomainDeps } from '../domain-deps';
import { fromMcpDefinitionMessage, toMcpDefinitionMessage } from './mcp-definition-mapper';
import {
  createMcpDefinition,
  deleteMcpDefinition,
  getMcpDefinition,
  listMcpDefinitions,
  updateMcpDefinition,
} from './mcp-definition-use-cases';

/** Proto in, proto out; the use cases tell the story. */
export function createMcpDefinitionHandler(deps: DomainDeps): ServiceImpl<typeof McpDefinitionService> {
  return {
    async createMcpDefinition(req) {
      if (!req.mcpDefinition) throw InvalidArgumentError.field('mcp_definition', 'is required');
      const created = await createMcpDefinition(deps, fromMcpDefinitionMessage(req.mcpDefinition), req.requestId);
      return create(CreateMcpDefinitionResponseSchema, { mcpDefinition: toMcpDefinitionMessage(created) });
    },
    async getMcpDefinition(req) {
      if (!req.name) throw InvalidArgumentError.field('name', 'is required');
      return create(GetMcpDefinitionResponseSchema, { mcpDefinition: toMcpDefinitionMessage(await getMcpDefinition(deps, req.name)) });
    },
    async listMcpDefinitions(req) {
      const page = await listMcpDefinitions(deps, { filter: req.filter, pageSize: req.pageSize, pageToken: req.pageToken });
      return create(ListMcpDefinitionsResponseSchema, {
        mcpDefinitions: page.definitions.map(toMcpDefinitionMessage),
        nextPageToken: page.nextPageToken,
      });
    },
    async updateMcpDefinition(req) {
      if (!req.mcpDefinition) throw InvalidArgumentError.field('mcp_definition', 'is required');
      if (!req.mcpDefinition.name) throw InvalidArgumentError.field('mcp_definition.name', 'is required');
      const updated = await updateMcpDefinition(deps, {
        patch: fromMcpDefinitionMessage(req.mcpDefinition),
        updateMask: req.updateMask?.paths ?? [],
        etag: req.mcpDefinition.etag,
      });
      return create(UpdateMcpDefinitionResponseSchema, { mcpDefinition: toMcpDefinitionMessage(updated) });
    },
    async deleteMcpDefinition(req) {
      if (!req.name) throw InvalidArgumentError.field('name', 'is required');
      await deleteMcpDefinition(deps, { name: req.name, etag: req.etag, force: req.force });
      return create(DeleteMcpDefinitionResponseSchema, {});
    },
  };
}
