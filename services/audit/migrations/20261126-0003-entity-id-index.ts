import type { Migration } from '../../../shared/db/migrator';

/**
 * `entity_id = "…"` without `entity_type` (the natural query for "everything about
 * workflowRuns/abc") could not use (entity_type, entity_id, seq) and scanned the whole table
 * (72 ms at 500,000 rows, growing with the log). This index serves it in seq order. The
 * typed index stays: for an entity with many entries it still reads a page in order.
 *
 * Not CONCURRENTLY: migrations run while the migrator holds its lock in an open transaction,
 * which a concurrent build would wait for. Appends wait while it builds (seconds per million
 * rows); an operator with a large log can build it first by hand, and this then does nothing:
 *   CREATE INDEX CONCURRENTLY action_log_entries_entity_id_idx ON action_log_entries (entity_id, seq);
 */
export const entityIdIndex: Migration = {
  name: '20261126-0003-entity-id-index',
  async up(qi) {
    await qi.sequelize.query(`CREATE INDEX IF NOT EXISTS action_log_entries_entity_id_idx ON action_log_entries (entity_id, seq)`);
  },
  async down(qi) {
    await qi.sequelize.query(`DROP INDEX IF EXISTS action_log_entries_entity_id_idx`);
  },
};
