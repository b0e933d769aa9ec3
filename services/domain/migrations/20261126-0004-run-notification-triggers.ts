import type { Migration } from '../../../shared/db/migrator';

/**
 * The run notifications (RUN_CHANNELS in workflow-run-repository.ts; the names are spelled
 * out here because a migration must not change when the code does) come from triggers
 * instead of a `SELECT pg_notify(…)` after each change: no code path can forget one, and a
 * run costs three fewer round trips. PostgreSQL delivers them at commit, once per channel
 * and payload per transaction, so several step rows changed together wake a watcher once.
 */
export const runNotificationTriggers: Migration = {
  name: '20261126-0004-run-notification-triggers',
  async up(qi) {
    const q = (sql: string) => qi.sequelize.query(sql);
    await q(`
      CREATE FUNCTION workflow_run_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          -- A new run wakes the engines.
          IF NEW.status = 'PENDING' THEN PERFORM pg_notify('workflow_run_pending', NEW.uid::text); END IF;
          RETURN NULL;
        END IF;
        -- Every status change or revision (lease renewals touch neither) wakes the run's watchers.
        PERFORM pg_notify('workflow_run_changed', NEW.uid::text);
        -- A cancellation tells the engine that owns the run to stop it.
        IF NEW.status = 'CANCELLED' AND OLD.status <> 'CANCELLED' THEN
          PERFORM pg_notify('workflow_run_cancelled', NEW.uid::text);
        END IF;
        RETURN NULL;
      END $$`);
    await q(`
      CREATE TRIGGER workflow_runs_notify_insert AFTER INSERT ON workflow_runs
        FOR EACH ROW EXECUTE FUNCTION workflow_run_notify()`);
    await q(`
      CREATE TRIGGER workflow_runs_notify_update AFTER UPDATE ON workflow_runs
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.revision IS DISTINCT FROM NEW.revision)
        EXECUTE FUNCTION workflow_run_notify()`);
    await q(`
      CREATE FUNCTION workflow_step_run_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('workflow_run_changed', NEW.run_uid::text);
        RETURN NULL;
      END $$`);
    // A step's status or attempt changed: its run's watchers hear of it.
    await q(`
      CREATE TRIGGER workflow_step_runs_notify AFTER UPDATE ON workflow_step_runs
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.attempt IS DISTINCT FROM NEW.attempt)
        EXECUTE FUNCTION workflow_step_run_notify()`);
  },
  async down(qi) {
    const q = (sql: string) => qi.sequelize.query(sql);
    await q(`DROP TRIGGER workflow_step_runs_notify ON workflow_step_runs`);
    await q(`DROP TRIGGER workflow_runs_notify_update ON workflow_runs`);
    await q(`DROP TRIGGER workflow_runs_notify_insert ON workflow_runs`);
    await q(`DROP FUNCTION workflow_step_run_notify()`);
    await q(`DROP FUNCTION workflow_run_notify()`);
  },
};
