import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import type { DefinitionSnapshot, RunStatus, StepRun, StepStatus, WorkflowRun } from './workflow-run';
import { budgetedPageSql, PAGE_MAX_BYTES, wasCutShort, type BudgetColumns } from '../../../../shared/db/budgeted-page';

/** A workflow_runs row as the driver returns it (other columns, e.g. the lease, may come along). */
export interface RunRow {
  uid: string;
  workflow_definition_name: string;
  workflow_definition_revision: number;
  definition_snapshot: DefinitionSnapshot;
  parameters: JsonObject;
  status: RunStatus;
  error: string;
  failed_step: string;
  actor_id: string;
  trace_id: string;
  traceparent: string;
  revision: number;
  create_time: Date;
  start_time: Date | null;
  end_time: Date | null;
  update_time: Date;
}

interface StepRow {
  run_uid: string;
  step_id: string;
  status: StepStatus;
  attempt: number;
  output: JsonValue | null;
  error: string;
  start_time: Date | null;
  end_time: Date | null;
  retry_due_in_ms: number | null;
}

const RUN_COLUMNS =
  'uid, workflow_definition_name, workflow_definition_revision, definition_snapshot, parameters, status, error, failed_step, ' +
  'actor_id, trace_id, traceparent, revision, create_time, start_time, end_time, update_time';

const toStep = (s: StepRow): StepRun => ({
  stepId: s.step_id,
  status: s.status,
  attempt: s.attempt,
  output: s.output ?? undefined,
  error: s.error,
  startTime: s.start_time ?? undefined,
  endTime: s.end_time ?? undefined,
  retryDueInMs: s.retry_due_in_ms ?? undefined,
});

const toRun = (r: RunRow, steps: readonly StepRow[]): WorkflowRun => ({
  uid: r.uid,
  workflowDefinition: r.workflow_definition_name,
  workflowDefinitionRevision: r.workflow_definition_revision,
  definition: r.definition_snapshot,
  parameters: r.parameters,
  status: r.status,
  error: r.error,
  failedStep: r.failed_step,
  actorId: r.actor_id,
  traceId: r.trace_id,
  traceparent: r.traceparent,
  revision: r.revision,
  createTime: r.create_time,
  startTime: r.start_time ?? undefined,
  endTime: r.end_time ?? undefined,
  updateTime: r.update_time,
  steps: steps.map(toStep),
});

/**
 * PostgreSQL notification channels (payload: the run uid), delivered when the transaction
 * commits: `pending` wakes engines at once, `changed` wakes watchers, `cancelled` tells the
 * engine that owns the run to stop it. Triggers on workflow_runs and workflow_step_runs send
 * them (migration 20261126-0004), so every write of a run or step notifies without asking.
 */
export const RUN_CHANNELS = { pending: 'workflow_run_pending', changed: 'workflow_run_changed', cancelled: 'workflow_run_cancelled' } as const;

export interface RunListQuery {
  readonly where: string;
  readonly bind: readonly unknown[];
  /** Keyset cursor: runs strictly older than this (create_time, uid) pair. */
  readonly before: { createTime: Date; uid: string } | undefined;
  readonly limit: number;
}

export function createWorkflowRunRepository(sequelize: Sequelize) {
  const q = <T extends object>(sql: string, bind: readonly unknown[], tx?: Transaction) =>
    sequelize.query<T>(sql, { bind: bind as unknown[], type: QueryTypes.SELECT, transaction: tx });

  /** The runs of these rows, in the same order, with their steps (read in one query). */
  async function withSteps(rows: readonly RunRow[], tx?: Transaction): Promise<WorkflowRun[]> {
    if (rows.length === 0) return [];
    const steps = await q<StepRow>(
      // greatest() skips NULLs: the CASE keeps "no backoff" NULL rather than 0.
      `SELECT *, CASE WHEN next_attempt_at IS NOT NULL
           THEN greatest(0, ceil(extract(epoch FROM next_attempt_at - clock_timestamp()) * 1000))::int END AS retry_due_in_ms
       FROM workflow_step_runs WHERE run_uid = ANY($1::uuid[]) ORDER BY run_uid, position`,
      [rows.map((r) => r.uid)],
      tx,
    );
    const byRun = new Map<string, StepRow[]>();
    for (const s of steps) {
      const list = byRun.get(s.run_uid);
      if (list) list.push(s);
      else byRun.set(s.run_uid, [s]);
    }
    return rows.map((r) => toRun(r, byRun.get(r.uid) ?? []));
  }

  return {
    withSteps,

    async insert(tx: Transaction, run: WorkflowRun): Promise<void> {
      // One statement for the run and its step rows: the steps' foreign key is checked at its end.
      await sequelize.query(
        `WITH run AS (
           INSERT INTO workflow_runs (uid, workflow_definition_name, workflow_definition_revision, definition_snapshot, parameters,
             status, actor_id, trace_id, traceparent, revision, create_time, update_time)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING uid
         )
         INSERT INTO workflow_step_runs (run_uid, step_id, position, status)
         SELECT run.uid, step_id, position, 'PENDING' FROM run, unnest($13::text[]) WITH ORDINALITY AS s(step_id, position)`,
        {
          bind: [run.uid, run.workflowDefinition, run.workflowDefinitionRevision, JSON.stringify(run.definition),
            JSON.stringify(run.parameters), run.status, run.actorId, run.traceId, run.traceparent, run.revision, run.createTime, run.updateTime,
            run.steps.map((s) => s.stepId)],
          transaction: tx,
        },
      );
    },

    /** `lock: 'update'` holds the run row for the rest of `tx` (status changes are serialised on it). */
    async findByUid(uid: string, opts: { tx?: Transaction; lock?: 'update' } = {}): Promise<WorkflowRun | undefined> {
      const rows = await q<RunRow>(`SELECT ${RUN_COLUMNS} FROM workflow_runs WHERE uid = $1${opts.lock ? ' FOR UPDATE' : ''}`, [uid], opts.tx);
      return (await withSteps(rows, opts.tx))[0];
    },

    /** A keyset page, newest first, cut short at PAGE_MAX_BYTES counting each run's steps too (see budgeted-page.ts). */
    async list(query: RunListQuery): Promise<{ items: WorkflowRun[]; cutShort: boolean }> {
      const bind = [...query.bind];
      const conditions = query.where ? [`(${query.where})`] : [];
      if (query.before) {
        const t = bind.push(query.before.createTime);
        const u = bind.push(query.before.uid);
        conditions.push(`(create_time, uid) < ($${t}::timestamptz, $${u}::uuid)`);
      }
      const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
      const pageSql = `SELECT ${RUN_COLUMNS} FROM workflow_runs ${where} ORDER BY create_time DESC, uid DESC LIMIT $${bind.push(query.limit)}`;
      const rows = await q<RunRow & BudgetColumns>(
        budgetedPageSql({
          pageSql,
          orderBy: 'create_time DESC, uid DESC',
          budgetParam: `$${bind.push(PAGE_MAX_BYTES)}`,
          // The run's row and its steps (outputs, errors) as they will be returned.
          rowBytes: 'octet_length(page::text) + (SELECT coalesce(sum(octet_length(s::text)), 0) FROM workflow_step_runs s WHERE s.run_uid = page.uid)',
        }),
        bind,
      );
      return { items: await withSteps(rows), cutShort: wasCutShort(rows) };
    },

    /**
     * Compare-and-set: moves the run to `next` only from one of `from` (and, given `leaseOwner`,
     * only while that engine holds the run's lease); returns the status it really had before
     * (read under the row lock), or undefined when the move was not allowed.
     */
    async transition(
      tx: Transaction,
      uid: string,
      from: readonly RunStatus[],
      next: RunStatus,
      fields: { error?: string; failedStep?: string; startTime?: Date; endTime?: Date; leaseOwner?: string } = {},
    ): Promise<RunStatus | undefined> {
      const rows = await q<{ previous: RunStatus }>(
        `UPDATE workflow_runs r SET status = $3, error = COALESCE($4, r.error), failed_step = COALESCE($5, r.failed_step),
           start_time = COALESCE($6, r.start_time), end_time = COALESCE($7, r.end_time), revision = r.revision + 1,
           update_time = clock_timestamp()
         FROM (SELECT uid, status, lease_owner FROM workflow_runs WHERE uid = $1 FOR UPDATE) prev
         WHERE r.uid = prev.uid AND prev.status = ANY($2::text[]) AND ($8::text IS NULL OR prev.lease_owner = $8)
         RETURNING prev.status AS previous`,
        [uid, from, next, fields.error ?? null, fields.failedStep ?? null, fields.startTime ?? null, fields.endTime ?? null, fields.leaseOwner ?? null],
        tx,
      );
      return rows[0]?.previous;
    },

    /** Marks every step that has not finished as CANCELLED. */
    async cancelOpenSteps(tx: Transaction, uid: string): Promise<void> {
      await sequelize.query(
        `UPDATE workflow_step_runs SET status = 'CANCELLED', end_time = COALESCE(end_time, clock_timestamp())
         WHERE run_uid = $1 AND status IN ('PENDING', 'RUNNING')`,
        { bind: [uid], transaction: tx },
      );
    },
  };
}

export type WorkflowRunRepository = ReturnType<typeof createWorkflowRunRepository>;
