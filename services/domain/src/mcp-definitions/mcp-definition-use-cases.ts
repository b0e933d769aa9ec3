import { checkEtag } from '../../../../shared/api/etag';
import { resolveUpdateMask } from '../../../../shared/api/field-mask';
import { filterToSql, parseFilter, type FilterFieldSpec } from '../../../../shared/api/filter';
import { decodePageToken, keysetPage, queryFingerprint, resolvePageSize } from '../../../../shared/api/page-token';
import { jsonValueViolations } from '../../../../shared/api/json-values';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../../../shared/errors/app-error';
import type { DomainDeps } from '../domain-deps';
import { createIdempotently } from '../shared-repositories/create-idempotently';
import { isDuplicateName } from '../shared-repositories/request-id';
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

export async function createMcpDefinition(deps: DomainDeps, input: McpDefinitionInput, rawRequestId: string): Promise<McpDefinition> {
  assertValidInput(input);
  try {
    return await createIdempotently(deps, {
      operation: CREATE_OPERATION,
      rawRequestId,
      load: (uid) => deps.mcpDefinitions.findByUid(uid),
      create: async (tx, uid) => {
        const now = new Date();
        const definition: McpDefinition = { ...input, transport: input.transport!, uid, revision: 1, createTime: now, updateTime: now };
        await deps.mcpDefinitions.insert(tx, definition);
        await deps.audit.record(tx, {
          actionType: 'CREATE',
          entityType: 'MCP_DEFINITION',
          entityId: definition.name,
          details: { mcpDefinition: mcpDefinitionJson(definition) },
        });
        return definition;
      },
    });
  } catch (err) {
    if (isDuplicateName(err, 'mcp_definitions')) throw new AlreadyExistsError(RESOURCE, input.name);
    throw err;
  }
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
  const limit = resolvePageSize(req.pageSize);
  const comparisons = parseFilter(req.filter, FILTER_FIELDS);
  const fingerprint = queryFingerprint({ resource: RESOURCE, filter: req.filter.trim() });
  const cursor = req.pageToken ? decodePageToken(req.pageToken, fingerprint) : undefined;
  // `tag = "x"` means "has tag x": an array membership test the generic filter SQL cannot express.
  const plain = comparisons
    .filter((c) => c.field !== 'tag')
    .map((c) => (c.field === 'transport' ? { ...c, value: TRANSPORT_KINDS[Number(c.value) - 1]! } : c));
  const { sql, bind } = filterToSql(plain, 1);
  const conditions = sql ? [sql] : [];
  for (const c of comparisons.filter((c) => c.field === 'tag')) conditions.push(`$${bind.push(c.value)} = ANY(tags)`);
  const { items, cutShort } = await deps.mcpDefinitions.list({
    where: conditions.join(' AND '),
    bind,
    afterName: typeof cursor?.name === 'string' ? cursor.name : undefined,
    limit: limit + 1,
  });
  const page = keysetPage(items, limit, fingerprint, (last) => ({ name: last.name }), cutShort);
  return { definitions: page.items, nextPageToken: page.nextPageToken };
}

export async function updateMcpDefinition(
  deps: DomainDeps,
  req: { patch: McpDefinitionInput; updateMask: readonly string[]; etag: string },
): Promise<McpDefinition> {
  const fields = resolveUpdateMask(req.updateMask, MCP_DEFINITION_MUTABLE_FIELDS) as McpDefinitionMutableField[];
  assertValidMcpDefinitionName(req.patch.name, 'mcp_definition');
  assertValidInput(req.patch, fields);
  return deps.sequelize.transaction(async (tx) => {
    const current = await deps.mcpDefinitions.findByName(req.patch.name, { tx, lock: 'update' });
    if (!current) throw new NotFoundError(RESOURCE, req.patch.name);
    checkEtag(req.etag, mcpDefinitionEtag(current), current.name);
    const next = applyPatch(current, req.patch, fields);
    const changes = diffMcpDefinitions(current, next, fields);
    // Nothing changed: nothing to write and nothing to audit.
    if (Object.keys(changes).length === 0) return current;
    const updated: McpDefinition = { ...next, revision: current.revision + 1, updateTime: new Date() };
    await deps.mcpDefinitions.update(tx, updated);
    await deps.audit.record(tx, { actionType: 'UPDATE', entityType: 'MCP_DEFINITION', entityId: current.name, details: { changes } });
    return updated;
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
  await deps.sequelize.transaction(async (tx) => {
    // The row lock waits for workflow writes that share-locked this definition, so the
    // reference check below sees them.
    const current = await deps.mcpDefinitions.findByName(req.name, { tx, lock: 'update' });
    if (!current) throw new NotFoundError(RESOURCE, req.name);
    checkEtag(req.etag, mcpDefinitionEtag(current), current.name);
    const users = await deps.mcpDefinitions.referencingWorkflows(tx, current.name);
    if (users.length && !req.force) {
      throw new FailedPreconditionError(
        'MCP_DEFINITION_IN_USE',
        `MCP definition "${current.name}" is used by workflow definitions ${users.map((u) => `"${u}"`).join(', ')}; delete or change them first, or set force`,
        { workflow_definitions: users.join(',') },
      );
    }
    await deps.mcpDefinitions.delete(tx, current.uid);
    await deps.audit.record(tx, {
      actionType: 'DELETE',
      entityType: 'MCP_DEFINITION',
      entityId: current.name,
      details: { mcpDefinition: mcpDefinitionJson(current), force: req.force, usedBy: users },
    });
  });
}
