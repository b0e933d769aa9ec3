import type { JsonObject } from '@bufbuild/protobuf';
import { filterToSql, parseFilter, type FilterFieldSpec } from '../../../../shared/api/filter';
import { jsonValueViolations } from '../../../../shared/api/json-values';
import { decodePageToken, keysetPage, queryFingerprint, resolvePageSize } from '../../../../shared/api/page-token';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../../../shared/errors/app-error';
import { currentRequestContext, SYSTEM_ACTOR } from '../../../../shared/interceptors/request-context';
import { currentAuditOrigin } from '../audit-outbox/audit-origin';
import type { DomainDeps } from '../domain-deps';
import { createIdempotently } from '../shared-repositories/create-idempotently';
import { validateRunParameters } from './parameters';
import { assertValidWorkflowName } from './workflow-definition-use-cases';
import { ACTIVE_RUN_STATUSES, parseRunName, RUN_STATUSES, runName, type WorkflowRun } from './workflow-run';

const RESOURCE = 'WorkflowRun';
const START_OPERATION = 'StartWorkflowRun';
export const MAX_CANCEL_REASON_LENGTH = 500;

function parseName(name: string, field = 'name'): string {
  if (!name) throw InvalidArgumentError.field(field, 'is required');
  const uid = parseRunName(name);
  if (!uid) throw InvalidArgumentError.field(field, `"${name}" is not of the form workflowRuns/{uuid}`);
  return uid;
}

/**
 * Starts a run as PENDING against the definition's current revision (kept as a snapshot),
 * with the caller's identity and trace context so later work joins the same trace.
 */
export async function startWorkflowRun(
  deps: DomainDeps,
  req: { workflowDefinition: string; parameters: JsonObject; requestId: string },
): Promise<WorkflowRun> {
  assertValidWorkflowName(req.workflowDefinition, 'workflow_definition');
  const unstorable = jsonValueViolations(req.parameters, 'parameters');
  if (unstorable.length) throw new InvalidArgumentError(unstorable);
  return createIdempotently(deps, {
    operation: START_OPERATION,
    rawRequestId: req.requestId,
    load: (uid) => deps.workflowRuns.findByUid(uid),
    create: async (tx, uid) => {
      const definition = await deps.workflowDefinitions.findByName(req.workflowDefinition, { tx, lock: 'share' });
      if (!definition) throw new NotFoundError('WorkflowDefinition', req.workflowDefinition);
      const violations = validateRunParameters(definition.parametersSchema, req.parameters, 'parameters');
      if (violations.length) throw new InvalidArgumentError(violations);
      const ctx = currentRequestContext();
      const now = new Date();
      const run: WorkflowRun = {
        uid,
        workflowDefinition: definition.name,
        workflowDefinitionRevision: definition.revision,
        definition: { steps: definition.steps, parametersSchema: definition.parametersSchema, runTimeoutMs: definition.runTimeoutMs },
        parameters: req.parameters,
        status: 'PENDING',
        error: '',
        failedStep: '',
        actorId: ctx?.actorId ?? SYSTEM_ACTOR,
        traceId: ctx?.traceId ?? '',
        traceparent: currentAuditOrigin().traceparent,
        revision: 1,
        createTime: now,
        startTime: undefined,
        endTime: undefined,
        updateTime: now,
        steps: definition.steps.map((s) => ({
          stepId: s.id,
          status: 'PENDING',
          attempt: 0,
          output: undefined,
          error: '',
          startTime: undefined,
          endTime: undefined,
          retryDueInMs: undefined,
        })),
      };
      await deps.workflowRuns.insert(tx, run);
      await deps.audit.record(tx, {
        actionType: 'CREATE',
        entityType: 'WORKFLOW_RUN',
        entityId: runName(run.uid),
        details: {
          status: run.status,
          parameters: run.parameters,
          workflowDefinition: run.workflowDefinition,
          workflowDefinitionRevision: String(run.workflowDefinitionRevision),
        },
      });
      return run;
    },
  });
}

export async function getWorkflowRun(deps: DomainDeps, name: string): Promise<WorkflowRun> {
  const run = await deps.workflowRuns.findByUid(parseName(name));
  if (!run) throw new NotFoundError(RESOURCE, name);
  return run;
}

const FILTER_FIELDS: Record<string, FilterFieldSpec> = {
  workflow_definition: { type: 'string', column: 'workflow_definition_name', ops: ['='] },
  status: {
    type: 'enum',
    column: 'status',
    values: Object.fromEntries(RUN_STATUSES.map((s, i) => [s, i + 1])),
    prefix: 'WORKFLOW_RUN_STATUS_',
    ops: ['=', '!='],
  },
  actor_id: { type: 'string', column: 'actor_id', ops: ['='] },
  trace_id: { type: 'string', column: 'trace_id', ops: ['='] },
  create_time: { type: 'timestamp', column: 'create_time', ops: ['<', '<=', '>', '>='] },
};

export async function listWorkflowRuns(
  deps: DomainDeps,
  req: { filter: string; pageSize: number; pageToken: string },
): Promise<{ runs: WorkflowRun[]; nextPageToken: string }> {
  const limit = resolvePageSize(req.pageSize);
  const comparisons = parseFilter(req.filter, FILTER_FIELDS).map((c) =>
    c.field === 'status' ? { ...c, value: RUN_STATUSES[Number(c.value) - 1]! } : c,
  );
  const fingerprint = queryFingerprint({ resource: RESOURCE, filter: req.filter.trim() });
  const cursor = req.pageToken ? decodePageToken(req.pageToken, fingerprint) : undefined;
  const { sql, bind } = filterToSql(comparisons, 1);
  const before =
    cursor && typeof cursor.t === 'string' && typeof cursor.u === 'string' && !Number.isNaN(Date.parse(cursor.t))
      ? { createTime: new Date(cursor.t), uid: cursor.u }
      : undefined;
  if (cursor && !before) throw InvalidArgumentError.field('page_token', 'is malformed');
  const { items, cutShort } = await deps.workflowRuns.list({ where: sql, bind, before, limit: limit + 1 });
  const page = keysetPage(items, limit, fingerprint, (last) => ({ t: last.createTime.toISOString(), u: last.uid }), cutShort);
  return { runs: page.items, nextPageToken: page.nextPageToken };
}

/**
 * PENDING or RUNNING → CANCELLED, compare-and-set on the run row; the audit entry carries the
 * status the run really had. An engine executing it sees the status and stops (later issue).
 */
export async function cancelWorkflowRun(deps: DomainDeps, req: { name: string; reason: string }): Promise<WorkflowRun> {
  const uid = parseName(req.name);
  if (req.reason.length > MAX_CANCEL_REASON_LENGTH) {
    throw InvalidArgumentError.field('reason', `must be at most ${MAX_CANCEL_REASON_LENGTH} characters`);
  }
  return deps.sequelize.transaction(async (tx) => {
    const actor = currentRequestContext()?.actorId ?? SYSTEM_ACTOR;
    const error = req.reason ? `cancelled by ${actor}: ${req.reason}` : `cancelled by ${actor}`;
    const previous = await deps.workflowRuns.transition(tx, uid, ACTIVE_RUN_STATUSES, 'CANCELLED', { error, endTime: new Date() });
    if (!previous) {
      const run = await deps.workflowRuns.findByUid(uid, { tx });
      if (!run) throw new NotFoundError(RESOURCE, req.name);
      throw new FailedPreconditionError('RUN_ALREADY_ENDED', `workflow run "${req.name}" already ended as ${run.status}`, {
        status: run.status,
      });
    }
    await deps.workflowRuns.cancelOpenSteps(tx, uid);
    await deps.audit.record(tx, {
      actionType: 'UPDATE',
      entityType: 'WORKFLOW_RUN',
      entityId: runName(uid),
      details: { status: 'CANCELLED', previousStatus: previous, reason: req.reason },
    });
    return (await deps.workflowRuns.findByUid(uid, { tx }))!;
  });
}

/** How often a watch re-reads the run even without a notification (a safety net, not the mechanism). */
const WATCH_POLL_MS = 2_000;

/**
 * The run now, then again after every change of its status or steps, until it ends or the
 * caller goes away. Notifications wake it; a slow poll covers any that were missed.
 */
export async function* watchWorkflowRun(deps: DomainDeps, name: string, signal: AbortSignal): AsyncGenerator<WorkflowRun> {
  const uid = parseName(name);
  let wake: (() => void) | undefined;
  let changed = true;
  const unsubscribe = deps.runEvents.subscribe(uid, () => {
    changed = true;
    wake?.();
  });
  try {
    let last = '';
    while (!signal.aborted) {
      changed = false;
      const run = await deps.workflowRuns.findByUid(uid);
      if (!run) throw new NotFoundError(RESOURCE, name);
      const fingerprint = JSON.stringify([run.status, run.revision, run.steps.map((s) => [s.status, s.attempt, s.error])]);
      if (fingerprint !== last) {
        last = fingerprint;
        yield run;
      }
      if (!ACTIVE_RUN_STATUSES.includes(run.status)) return;
      if (changed) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, WATCH_POLL_MS);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        }
        wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    unsubscribe();
  }
}
