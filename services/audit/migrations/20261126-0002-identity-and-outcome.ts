import type { Migration } from '../../../shared/db/migrator';

/**
 * Who acted, as verified (actor type, subject, issuer, verified flag, an unverified header
 * actor), and whether the action happened (outcome). Entries written before this migration
 * keep hash version 1, whose canonical content does not include these fields, so the chain
 * still verifies; new entries use version 2, which does.
 */
export const identityAndOutcome: Migration = {
  name: '20261126-0002-identity-and-outcome',
  async up(qi) {
    await qi.sequelize.query(`
      ALTER TABLE action_log_entries
        ADD COLUMN hash_version        smallint NOT NULL DEFAULT 1,
        ADD COLUMN actor_type          text     NOT NULL DEFAULT '',
        ADD COLUMN actor_subject       text     NOT NULL DEFAULT '',
        ADD COLUMN actor_issuer        text     NOT NULL DEFAULT '',
        ADD COLUMN actor_verified      boolean  NOT NULL DEFAULT false,
        ADD COLUMN unverified_actor_id text     NOT NULL DEFAULT '',
        ADD COLUMN outcome             text     NOT NULL DEFAULT 'SUCCEEDED'`);
    await qi.sequelize.query(`CREATE INDEX action_log_entries_outcome_idx ON action_log_entries (outcome, seq) WHERE outcome <> 'SUCCEEDED'`);
  },
  async down(qi) {
    await qi.sequelize.query(`DROP INDEX action_log_entries_outcome_idx`);
    await qi.sequelize.query(`
      ALTER TABLE action_log_entries DROP COLUMN hash_version, DROP COLUMN actor_type, DROP COLUMN actor_subject,
        DROP COLUMN actor_issuer, DROP COLUMN actor_verified, DROP COLUMN unverified_actor_id, DROP COLUMN outcome`);
  },
};
