import type { JsonObject } from '@bufbuild/protobuf';
import type { Transaction } from 'sequelize';
import { canonicalJson } from '../../../../shared/api/canonical-json';
import { checkEtag } from '../../../../shared/api/etag';
import { jsonValueViolations } from '../../../../shared/api/json-values';
import { resolveUpdateMask } from '../../../../shared/api/field-mask';
import { filterToSql, parseFilter, type FilterFieldSpec } from '../../../../shared/api/filter';
import { decodePageToken, keysetPage, queryFingerprint, resolvePageSize } from '../../../../shared/api/page-token';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from '../../../../shared/errors/app-error';
import type { DomainDeps } from '../domain-deps';
import { createIdempotently } from '../shared-repositories/create-idempotently';
import { isDuplicateName } from '../shared-repositories/request-id';
import {
  WORKFLOW_DEFINITION_MUTABLE_FIELDS,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
  type WorkflowDefinitionMutableField,
} from './workflow-definition';
import { workflowDefinitionEtag, workflowDefinitionJson, workflowFieldJson } from './workflow-json';
import { validateWorkflowDefinitionInput, WORKFLOW_NAME_PATTERN } from './workflow-rules';

const RESOURCE = 'WorkflowDefinition';
const CREATE_OPERATION = 'CreateWorkflowDefinition';
const PREFIX = 'workflow_definition';

/**
 * Validates a whole definition against the MCP definitions its steps name, share-locking
 * those rows so they cannot be deleted before this transaction commits.
 */
async function assertValid(deps: DomainDeps, tx: Transaction, input: WorkflowDefinitionInput, fields?: readonly string[]) {
  const names = [...new Set(input.steps.map((s) => s.mcpDefinition).filter(Boolean))];
  const known = new Map((await deps.mcpDefinitions.findManyByName(names, tx)).map((d) => [d.name, { tools: d.tools }]));
  const violations = [
    ...validateWorkflowDefinitionInput(input, { prefix: PREFIX, fields, knownMcpDefinitions: known }),
    ...jsonValueViolations(input.description, `${PREFIX}.description`),
    ...jsonValueViolations(input.parametersSchema, `${PREFIX}.parameters_schema`),
    ...input.steps.flatMap((s, i) => jsonValueViolations(s.arguments, `${PREFIX}.steps[${i}].arguments`)),
  ];
  if (violations.length) throw new InvalidArgumentError(violations);
}

/** Get, update, delete and start name a definition that must at least be well-formed. */
export function assertValidWorkflowName(name: string, field: string): void {
  if (!WORKFLOW_NAME_PATTERN.test(name)) {
    throw InvalidArgumentError.field(field, name ? `"${name}" is not a workflow definition name ([a-z][a-z0-9-]{0,62})` : 'is required');
  }
}

export async function createWorkflowDefinition(deps: DomainDeps, input: WorkflowDefinitionInput, rawRequestId: string): Promise<WorkflowDefinition> {
  try {
    return await createIdempotently(deps, {
      operation: CREATE_OPERATION,
      rawRequestId,
      load: (uid) => deps.workflowDefinitions.findByUid(uid),
      create: async (tx, uid) => {
        await assertValid(deps, tx, input);
        const now = new Date();
        const definition: WorkflowDefinition = { ...input, uid, revision: 1, createTime: now, updateTime: now };
        await deps.workflowDefinitions.insert(tx, definition);
        await deps.audit.record(tx, {
          actionType: 'CREATE',
          entityType: 'WORKFLOW_DEFINITION',
          entityId: definition.name,
          details: { workflowDefinition: workflowDefinitionJson(definition) },
        });
        return definition;
      },
    });
  } catch (err) {
    if (isDuplicateName(err, 'workflow_definitions')) throw new AlreadyExistsError(RESOURCE, input.name);
    throw err;
  }
}

export async function getWorkflowDefinition(deps: DomainDeps, name: string): Promise<WorkflowDefinition> {
  assertValidWorkflowName(name, 'name');
  const definition = await deps.workflowDefinitions.findByName(name);
  if (!definition) throw new NotFoundError(RESOURCE, name);
  return definition;
}

const FILTER_FIELDS: Record<string, FilterFieldSpec> = {
  name: { type: 'string', column: 'name', ops: ['='] },
  mcp_definition: { type: 'string', column: 'mcp_definition_name', ops: ['='] },
  create_time: { type: 'timestamp', column: 'create_time', ops: ['<', '<=', '>', '>='] },
  update_time: { type: 'timestamp', column: 'update_time', ops: ['<', '<=', '>', '>='] },
};

export async function listWorkflowDefinitions(
  deps: DomainDeps,
  req: { filter: string; pageSize: number; pageToken: string },
): Promise<{ definitions: WorkflowDefinition[]; nextPageToken: string }> {
  const limit = resolvePageSize(req.pageSize);
  const comparisons = parseFilter(req.filter, FILTER_FIELDS);
  const fingerprint = queryFingerprint({ resource: RESOURCE, filter: req.filter.trim() });
  const cursor = req.pageToken ? decodePageToken(req.pageToken, fingerprint) : undefined;
  // "uses this MCP server" goes through the reference index rather than the steps JSON.
  const { sql, bind } = filterToSql(comparisons.filter((c) => c.field !== 'mcp_definition'), 1);
  const conditions = sql ? [sql] : [];
  for (const c of comparisons.filter((c) => c.field === 'mcp_definition')) {
    conditions.push(`uid IN (SELECT workflow_definition_uid FROM workflow_definition_mcp_refs WHERE mcp_definition_name = $${bind.push(c.value)})`);
  }
  const { items, cutShort } = await deps.workflowDefinitions.list({
    where: conditions.join(' AND '),
    bind,
    afterName: typeof cursor?.name === 'string' ? cursor.name : undefined,
    limit: limit + 1,
  });
  const page = keysetPage(items, limit, fingerprint, (last) => ({ name: last.name }), cutShort);
  return { definitions: page.items, nextPageToken: page.nextPageToken };
}

export async function updateWorkflowDefinition(
  deps: DomainDeps,
  req: { patch: WorkflowDefinitionInput; updateMask: readonly string[]; etag: string },
): Promise<WorkflowDefinition> {
  const fields = resolveUpdateMask(req.updateMask, WORKFLOW_DEFINITION_MUTABLE_FIELDS) as WorkflowDefinitionMutableField[];
  assertValidWorkflowName(req.patch.name, `${PREFIX}.name`);
  return deps.sequelize.transaction(async (tx) => {
    const current = await deps.workflowDefinitions.findByName(req.patch.name, { tx, lock: 'update' });
    if (!current) throw new NotFoundError(RESOURCE, req.patch.name);
    checkEtag(req.etag, workflowDefinitionEtag(current), current.name);
    const has = (f: WorkflowDefinitionMutableField) => fields.includes(f);
    const next: WorkflowDefinition = {
      ...current,
      description: has('description') ? req.patch.description : current.description,
      parametersSchema: has('parameters_schema') ? req.patch.parametersSchema : current.parametersSchema,
      steps: has('steps') ? req.patch.steps : current.steps,
      runTimeoutMs: has('run_timeout') ? req.patch.runTimeoutMs : current.runTimeoutMs,
    };
    // The merged result is validated whole: a new schema can invalidate unchanged templates.
    await assertValid(deps, tx, next, fields);
    const before = workflowFieldJson(current);
    const after = workflowFieldJson(next);
    const changes: JsonObject = {};
    for (const f of fields) {
      if (canonicalJson(before[f]) !== canonicalJson(after[f])) changes[f] = { before: before[f]!, after: after[f]! };
    }
    if (Object.keys(changes).length === 0) return current;
    const updated: WorkflowDefinition = { ...next, revision: current.revision + 1, updateTime: new Date() };
    await deps.workflowDefinitions.update(tx, updated);
    await deps.audit.record(tx, { actionType: 'UPDATE', entityType: 'WORKFLOW_DEFINITION', entityId: current.name, details: { changes } });
    return updated;
  });
}

export async function deleteWorkflowDefinition(deps: DomainDeps, req: { name: string; etag: string }): Promise<void> {
  assertValidWorkflowName(req.name, 'name');
  await deps.sequelize.transaction(async (tx) => {
    const current = await deps.workflowDefinitions.findByName(req.name, { tx, lock: 'update' });
    if (!current) throw new NotFoundError(RESOURCE, req.name);
    checkEtag(req.etag, workflowDefinitionEtag(current), current.name);
    await deps.workflowDefinitions.delete(tx, current.uid);
    await deps.audit.record(tx, {
      actionType: 'DELETE',
      entityType: 'WORKFLOW_DEFINITION',
      entityId: current.name,
      details: { workflowDefinition: workflowDefinitionJson(current) },
    });
  });
}
