import type { Migration } from '../../../shared/db/migrator';

/** The outbox keeps who acted as verified (or not) and whether the action was denied, for the audit entry. */
export const outboxIdentity: Migration = {
  name: '20261126-0003-outbox-identity',
  async up(qi) {
    await qi.sequelize.query(`
      ALTER TABLE audit_outbox
        ADD COLUMN actor_type          text    NOT NULL DEFAULT 'USER',
        ADD COLUMN actor_subject       text    NOT NULL DEFAULT '',
        ADD COLUMN actor_issuer        text    NOT NULL DEFAULT '',
        ADD COLUMN actor_verified      boolean NOT NULL DEFAULT false,
        ADD COLUMN unverified_actor_id text    NOT NULL DEFAULT '',
        ADD COLUMN outcome             text    NOT NULL DEFAULT 'SUCCEEDED'`);
  },
  async down(qi) {
    await qi.sequelize.query(`
      ALTER TABLE audit_outbox DROP COLUMN actor_type, DROP COLUMN actor_subject, DROP COLUMN actor_issuer,
        DROP COLUMN actor_verified, DROP COLUMN unverified_actor_id, DROP COLUMN outcome`);
  },
};
