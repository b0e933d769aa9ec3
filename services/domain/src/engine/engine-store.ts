import type { JsonValue } from '@bufbuild/protobuf';
import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { RunStatus } from '../workflows/workflow-run';
import { RUN_CHANNELS, type RunRow } from '../workflows/workflow-run-repository';

/** A run this engine now owns (its row as updated), and the status it had before the claim. */
export interface ClaimedRun extends RunRow {
  readonly previous_status: RunStatus;
}

/** A run as held by one engine: its writes to the run are fenced by `owner`. */
export interface RunLease {
  readonly uid: string;
  /** The engine id recorded as `lease_owner` by the claim. */
  readonly owner: string;
}

/**
 * SQL condition on a workflow_step_runs row: its run is still RUNNING and leased to the engine
 * bound at `param`. A claim by another engine moves `lease_owner`, so this fences off an engine
 * that lost its lease (a stall past the lease) before its heartbeat tells it so. FOR SHARE makes
 * the check wait for a takeover in progress (the claim holds the run row until it commits) and
 * then read the row as that claim left it; without it, a stalled engine could still start a step
 * between the new owner's claim and its commit.
 */
const ownedBy = (param: string) =>
  `EXISTS (SELECT 1 FROM workflow_runs r WHERE r.uid = run_uid AND r.status = 'RUNNING' AND r.lease_owner = ${param} FOR SHARE)`;

/** The engine's SQL: claims under leases, lease renewal, and compare-and-set step transitions. */
export function createEngineStore(sequelize: Sequelize) {
  const q = <T extends object>(sql: string, bind: readonly unknown[], tx?: Transaction) =>
    sequelize.query<T>(sql, { bind: bind as unknown[], type: QueryTypes.SELECT, transaction: tx });

  return {
    /**
     * Takes up to `limit` runs: PENDING ones, and RUNNING ones whose owner's lease lapsed
     * (its engine died). SKIP LOCKED lets engines claim side by side without waiting.
     */
    async claimRuns(tx: Transaction, engineId: string, limit: number, leaseMs: number): Promise<ClaimedRun[]> {
      return q<ClaimedRun>(
        `WITH c AS (
           SELECT uid, status FROM workflow_runs
           WHERE status = 'PENDING' OR (status = 'RUNNING' AND lease_expires_at < clock_timestamp())
           ORDER BY create_time LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE workflow_runs r SET status = 'RUNNING', lease_owner = $2,
           lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond',
           start_time = COALESCE(r.start_time, clock_timestamp()), revision = r.revision + 1, update_time = clock_timestamp()
         FROM c WHERE r.uid = c.uid
         RETURNING r.*, c.status AS previous_status`,
        [limit, engineId, leaseMs],
        tx,
      );
    },

    /** Extends the leases this engine still holds on RUNNING runs; returns the uids it still owns. */
    async renewLeases(engineId: string, uids: readonly string[], leaseMs: number): Promise<Set<string>> {
      if (uids.length === 0) return new Set();
      const rows = await q<{ uid: string }>(
        `UPDATE workflow_runs SET lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond'
         WHERE uid = ANY($1::uuid[]) AND lease_owner = $2 AND status = 'RUNNING' RETURNING uid`,
        [uids, engineId, leaseMs],
      );
      return new Set(rows.map((r) => r.uid));
    },

    /**
     * Gives a run back at shutdown so another engine takes it over at once, not after the lease:
     * the lease ends now, and the engines are woken as for a new run (not at their next poll).
     */
    async releaseLease(engineId: string, uid: string): Promise<void> {
      await q(
        `WITH released AS (
           UPDATE workflow_runs SET lease_expires_at = clock_timestamp() WHERE uid = $1 AND lease_owner = $2 AND status = 'RUNNING' RETURNING uid
         )
         SELECT pg_notify('${RUN_CHANNELS.pending}', uid::text) FROM released`,
        [uid, engineId],
      );
    },

    /** Steps left RUNNING by an engine that died: their attempt never finished. */
    async interruptedSteps(tx: Transaction, uid: string): Promise<Array<{ stepId: string; attempt: number }>> {
      return q<{ stepId: string; attempt: number }>(
        `UPDATE workflow_step_runs SET status = 'PENDING', next_attempt_at = NULL
         WHERE run_uid = $1 AND status = 'RUNNING' RETURNING step_id AS "stepId", attempt`,
        [uid],
        tx,
      );
    },

    /**
     * Starts attempt `attempt` of a step only if it is still PENDING at `attempt - 1` and the
     * run is still RUNNING under this engine's lease: two engines can never both start the same
     * attempt, and an engine that lost its lease without noticing yet starts nothing.
     */
    async startAttempt(tx: Transaction, lease: RunLease, stepId: string, attempt: number): Promise<boolean> {
      const rows = await q(
        `UPDATE workflow_step_runs SET status = 'RUNNING', attempt = $3, start_time = clock_timestamp(), end_time = NULL,
           error = '', next_attempt_at = NULL
         WHERE run_uid = $1 AND step_id = $2 AND status = 'PENDING' AND attempt = $3 - 1 AND ${ownedBy('$4')}
         RETURNING step_id`,
        [lease.uid, stepId, attempt, lease.owner],
        tx,
      );
      return rows.length === 1;
    },

    /**
     * Starts the first attempt of the given steps of a run just claimed from PENDING, in the
     * claim's transaction: the first steps begin with the claim's commit, not one more
     * transaction later. Same compare-and-set as startAttempt; returns the steps started.
     */
    async startFirstAttempts(tx: Transaction, uid: string, stepIds: readonly string[]): Promise<string[]> {
      if (stepIds.length === 0) return [];
      const rows = await q<{ stepId: string }>(
        `UPDATE workflow_step_runs SET status = 'RUNNING', attempt = 1, start_time = clock_timestamp(), end_time = NULL,
           error = '', next_attempt_at = NULL
         WHERE run_uid = $1 AND step_id = ANY($2::text[]) AND status = 'PENDING' AND attempt = 0 RETURNING step_id AS "stepId"`,
        [uid, stepIds],
        tx,
      );
      return rows.map((r) => r.stepId);
    },

    /**
     * Ends attempt `attempt` if it is still the step's RUNNING attempt and this engine still
     * holds the run's lease; false (nothing written) when the step was cancelled meanwhile or
     * another engine took the run over and restarted the step (a late worker never overwrites).
     */
    async finishAttempt(
      tx: Transaction,
      lease: RunLease,
      stepId: string,
      attempt: number,
      outcome:
        | { status: 'SUCCEEDED'; output: JsonValue }
        | { status: 'FAILED'; error: string }
        | { status: 'PENDING'; error: string; retryInMs: number },
    ): Promise<boolean> {
      const rows = await q(
        `UPDATE workflow_step_runs SET status = $3, output = $4::jsonb, error = $5,
           next_attempt_at = clock_timestamp() + $6::int * interval '1 millisecond',
           end_time = CASE WHEN $3 = 'PENDING' THEN end_time ELSE clock_timestamp() END
         WHERE run_uid = $1 AND step_id = $2 AND status = 'RUNNING' AND attempt = $8 AND ${ownedBy('$7')}
         RETURNING step_id`,
        [
          lease.uid,
          stepId,
          outcome.status,
          outcome.status === 'SUCCEEDED' ? JSON.stringify(outcome.output) : null,
          outcome.status === 'SUCCEEDED' ? '' : outcome.error,
          // The database's clock: whichever engine runs the retry reads it back relative to that clock.
          outcome.status === 'PENDING' ? Math.round(outcome.retryInMs) : null,
          lease.owner,
          attempt,
        ],
        tx,
      );
      return rows.length === 1;
    },

    /** The run's status right now (e.g. to tell a cancellation from a lost lease). */
    async status(uid: string): Promise<RunStatus | undefined> {
      const rows = await q<{ status: RunStatus }>('SELECT status FROM workflow_runs WHERE uid = $1', [uid]);
      return rows[0]?.status;
    },
  };
}

export type EngineStore = ReturnType<typeof createEngineStore>;
