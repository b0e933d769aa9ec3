import type { JsonObject } from '@bufbuild/protobuf';
import type { Transaction } from 'sequelize';
import { canonicalJson } from '../../../../shared/api/canonical-json';
import { jsonValueViolations } from '../../../../shared/api/json-values';
import { resolveUpdateMask } from '../../../../shared/api/field-mask';
import { filterToSql, type FilterFieldSpec } from '../../../../shared/api/filter';
import { InvalidArgumentError, NotFoundError } from '../../../../shared/errors/app-error';
import type { DomainDeps } from '../domain-deps';
import { createVersioned, deleteVersioned, listVersioned, updateVersioned, type ResourceKind } from '../shared-repositories/versioned-resource';
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

const workflowDefinitionKind = (deps: DomainDeps): ResourceKind<WorkflowDefinition> => ({
  resource: RESOURCE,
  table: 'workflow_definitions',
  entityType: 'WORKFLOW_DEFINITION',
  createOperation: CREATE_OPERATION,
  store: deps.workflowDefinitions,
  etag: workflowDefinitionEtag,
});

export async function createWorkflowDefinition(deps: DomainDeps, input: WorkflowDefinitionInput, rawRequestId: string): Promise<WorkflowDefinition> {
  return createVersioned(deps, workflowDefinitionKind(deps), {
    name: input.name,
    rawRequestId,
    build: async (tx, fields) => {
      await assertValid(deps, tx, input);
      return { ...input, ...fields };
    },
    details: (created) => ({ workflowDefinition: workflowDefinitionJson(created) }),
  });
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
  const { items, nextPageToken } = await listVersioned(workflowDefinitionKind(deps), req, {
    fields: FILTER_FIELDS,
    toSql: (comparisons) => {
      // "uses this MCP server" goes through the reference index rather than the steps JSON.
      const { sql, bind } = filterToSql(comparisons.filter((c) => c.field !== 'mcp_definition'), 1);
      const conditions = sql ? [sql] : [];
      for (const c of comparisons.filter((c) => c.field === 'mcp_definition')) {
        conditions.push(`uid IN (SELECT workflow_definition_uid FROM workflow_definition_mcp_refs WHERE mcp_definition_name = $${bind.push(c.value)})`);
      }
      return { sql: conditions.join(' AND '), bind };
    },
  });
  return { definitions: items, nextPageToken };
}

export async function updateWorkflowDefinition(
  deps: DomainDeps,
  req: { patch: WorkflowDefinitionInput; updateMask: readonly string[]; etag: string },
): Promise<WorkflowDefinition> {
  const fields = resolveUpdateMask(req.updateMask, WORKFLOW_DEFINITION_MUTABLE_FIELDS) as WorkflowDefinitionMutableField[];
  assertValidWorkflowName(req.patch.name, `${PREFIX}.name`);
  return updateVersioned(deps, workflowDefinitionKind(deps), {
    name: req.patch.name,
    etag: req.etag,
    change: async (tx, current) => {
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
      return { next, changes };
    },
  });
}

export async function deleteWorkflowDefinition(deps: DomainDeps, req: { name: string; etag: string }): Promise<void> {
  assertValidWorkflowName(req.name, 'name');
  await deleteVersioned(deps, workflowDefinitionKind(deps), {
    name: req.name,
    etag: req.etag,
    details: async (_tx, current) => ({ workflowDefinition: workflowDefinitionJson(current) }),
  });
}
