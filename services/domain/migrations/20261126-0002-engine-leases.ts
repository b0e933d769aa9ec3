import type { Migration } from '../../../shared/db/migrator';

/**
 * What the engine needs: a lease per run (owner + expiry, renewed by heartbeat, taken over
 * when it lapses) and, per step, when its next attempt is due.
 */
export const engineLeases: Migration = {
  name: '20261126-0002-engine-leases',
  async up(qi) {
    const q = (sql: string) => qi.sequelize.query(sql);
    await q(`ALTER TABLE workflow_runs ADD COLUMN lease_owner text, ADD COLUMN lease_expires_at timestamptz`);
    await q(`ALTER TABLE workflow_step_runs ADD COLUMN next_attempt_at timestamptz`);
    // The engine's claim: PENDING runs by age, and RUNNING runs whose lease lapsed.
    await q(`CREATE INDEX workflow_runs_claim_idx ON workflow_runs (create_time) WHERE status IN ('PENDING', 'RUNNING')`);
  },
  async down(qi) {
    const q = (sql: string) => qi.sequelize.query(sql);
    await q(`DROP INDEX workflow_runs_claim_idx`);
    await q(`ALTER TABLE workflow_step_runs DROP COLUMN next_attempt_at`);
    await q(`ALTER TABLE workflow_runs DROP COLUMN lease_owner, DROP COLUMN lease_expires_at`);
  },
};
