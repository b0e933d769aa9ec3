import { resolveUpdateMask } from '../../../../shared/api/field-mask';
import { filterToSql, type FilterFieldSpec } from '../../../../shared/api/filter';
import { jsonValueViolations } from '../../../../shared/api/json-values';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../../../shared/errors/app-error';
import type { DomainDeps } from '../domain-deps';
import { createVersioned, deleteVersioned, listVersioned, updateVersioned, type ResourceKind } from '../shared-repositories/versioned-resource';
import { MCP_DEFINITION_MUTABLE_FIELDS, type McpDefinition, type McpDefinitionInput, type McpDefinitionMutableField } from './mcp-definition';
import { diffMcpDefinitions } from './mcp-definition-diff';
import { mcpDefinitionEtag, mcpDefinitionJson } from './mcp-definition-json';
import { assertValidMcpDefinitionName, validateMcpDefinitionInput } from './mcp-definition-rules';
import { mergeSecrets } from './redact';

const RESOURCE = 'McpDefinition';
const CREATE_OPERATION = 'CreateMcpDefinition';

/** The rules, plus what JSON-typed fields cannot carry into storage. */
function assertValidInput(input: McpDefinitionInput, fields?: readonly McpDefinitionMutableField[]): void {
  const violations = validateMcpDefinitionInput(input, { prefix: 'mcp_definition', fields });
  if (!fields || fields.includes('tools')) {
    input.tools.forEach((t, i) => violations.push(...jsonValueViolations(t.inputSchema, `mcp_definition.tools[${i}].input_schema`)));
  }
  if (violations.length) throw new InvalidArgumentError(violations);
}

const mcpDefinitionKind = (deps: DomainDeps): ResourceKind<McpDefinition> => ({
  resource: RESOURCE,
  table: 'mcp_definitions',
  entityType: 'MCP_DEFINITION',
  createOperation: CREATE_OPERATION,
  store: deps.mcpDefinitions,
  etag: mcpDefinitionEtag,
});

export async function createMcpDefinition(deps: DomainDeps, input: McpDefinitionInput, rawRequestId: string): Promise<McpDefinition> {
  assertValidInput(input);
  return createVersioned(deps, mcpDefinitionKind(deps), {
    name: input.name,
    rawRequestId,
    build: async (_tx, fields) => ({ ...input, transport: input.transport!, ...fields }),
    details: (created) => ({ mcpDefinition: mcpDefinitionJson(created) }),
  });
}

export async function getMcpDefinition(deps: DomainDeps, name: string): Promise<McpDefinition> {
  assertValidMcpDefinitionName(name);
  const definition = await deps.mcpDefinitions.findByName(name);
  if (!definition) throw new NotFoundError(RESOURCE, name);
  return definition;
}

const FILTER_FIELDS: Record<string, FilterFieldSpec> = {
  name: { type: 'string', column: 'name', ops: ['='] },
  version: { type: 'string', column: 'version', ops: ['='] },
  transport: { type: 'enum', column: 'transport_kind', values: { STDIO: 1, STREAMABLE_HTTP: 2 }, prefix: '', ops: ['='] },
  tag: { type: 'string', column: 'tags', ops: ['='] },
  create_time: { type: 'timestamp', column: 'create_time', ops: ['<', '<=', '>', '>='] },
  update_time: { type: 'timestamp', column: 'update_time', ops: ['<', '<=', '>', '>='] },
};
const TRANSPORT_KINDS = ['stdio', 'streamable_http'];

export async function listMcpDefinitions(
  deps: DomainDeps,
  req: { filter: string; pageSize: number; pageToken: string },
): Promise<{ definitions: McpDefinition[]; nextPageToken: string }> {
  const { items, nextPageToken } = await listVersioned(mcpDefinitionKind(deps), req, {
    fields: FILTER_FIELDS,
    toSql: (comparisons) => {
      // `tag = "x"` means "has tag x": an array membership test the generic filter SQL cannot express.
      const plain = comparisons
        .filter((c) => c.field !== 'tag')
        .map((c) => (c.field === 'transport' ? { ...c, value: TRANSPORT_KINDS[Number(c.value) - 1]! } : c));
      const { sql, bind } = filterToSql(plain, 1);
      const conditions = sql ? [sql] : [];
      for (const c of comparisons.filter((c) => c.field === 'tag')) conditions.push(`$${bind.push(c.value)} = ANY(tags)`);
      return { sql: conditions.join(' AND '), bind };
    },
  });
  return { definitions: items, nextPageToken };
}

export async function updateMcpDefinition(
  deps: DomainDeps,
  req: { patch: McpDefinitionInput; updateMask: readonly string[]; etag: string },
): Promise<McpDefinition> {
  const fields = resolveUpdateMask(req.updateMask, MCP_DEFINITION_MUTABLE_FIELDS) as McpDefinitionMutableField[];
  assertValidMcpDefinitionName(req.patch.name, 'mcp_definition');
  assertValidInput(req.patch, fields);
  return updateVersioned(deps, mcpDefinitionKind(deps), {
    name: req.patch.name,
    etag: req.etag,
    change: async (_tx, current) => {
      const next = applyPatch(current, req.patch, fields);
      return { next, changes: diffMcpDefinitions(current, next, fields) };
    },
  });
}

function applyPatch(current: McpDefinition, patch: McpDefinitionInput, fields: readonly McpDefinitionMutableField[]): McpDefinition {
  const has = (f: McpDefinitionMutableField) => fields.includes(f);
  return {
    ...current,
    title: has('title') ? patch.title : current.title,
    description: has('description') ? patch.description : current.description,
    version: has('version') ? patch.version : current.version,
    transport: has('transport') ? mergeSecrets(patch.transport!, current.transport) : current.transport,
    repositoryUrl: has('repository_url') ? patch.repositoryUrl : current.repositoryUrl,
    tags: has('tags') ? patch.tags : current.tags,
    tools: has('tools') ? patch.tools : current.tools,
  };
}

export async function deleteMcpDefinition(deps: DomainDeps, req: { name: string; etag: string; force: boolean }): Promise<void> {
  assertValidMcpDefinitionName(req.name);
  await deleteVersioned(deps, mcpDefinitionKind(deps), {
    name: req.name,
    etag: req.etag,
    // The row lock taken before this waits for workflow writes that share-locked this
    // definition, so the reference check sees them.
    details: async (tx, current) => {
      const users = await deps.mcpDefinitions.referencingWorkflows(tx, current.name);
      if (users.length && !req.force) {
        throw new FailedPreconditionError(
          'MCP_DEFINITION_IN_USE',
          `MCP definition "${current.name}" is used by workflow definitions ${users.map((u) => `"${u}"`).join(', ')}; delete or change them first, or set force`,
          { workflow_definitions: users.join(',') },
        );
      }
      return { mcpDefinition: mcpDefinitionJson(current), force: req.force, usedBy: users };
    },
  });
}
