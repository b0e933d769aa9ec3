import type { Migration } from '../../../shared/db/migrator';

/**
 * The action log, its chain head and the least-privilege writer role.
 *
 * Append-only is enforced twice: triggers reject UPDATE, DELETE and TRUNCATE for everyone
 * (even the owner, unless a superuser disables them), and the `mcp_audit_writer` role the
 * service should run as is granted only SELECT and INSERT on the log.
 */
export const createActionLog: Migration = {
  name: '20261126-0001-create-action-log',
  async up(qi) {
    const q = (sql: string) => qi.sequelize.query(sql);
    await q(`
      CREATE TABLE action_log_entries (
        seq           bigint      PRIMARY KEY CHECK (seq > 0),
        event_id      uuid        NOT NULL UNIQUE,
        occur_time    timestamptz NOT NULL,
        record_time   timestamptz NOT NULL,
        actor_id      text        NOT NULL,
        action_type   text        NOT NULL,
        entity_type   text        NOT NULL,
        entity_id     text        NOT NULL,
        details       jsonb       NOT NULL,
        trace_id      text        NOT NULL,
        span_id       text        NOT NULL,
        trace_state   text        NOT NULL,
        service_name  text        NOT NULL,
        client_ip     text        NOT NULL,
        user_agent    text        NOT NULL,
        prev_hash     char(64)    NOT NULL,
        hash          char(64)    NOT NULL
      )`);
    // Every list query filters on one of these and pages by seq: (key, seq) serves both the
    // equality and the keyset order from one index scan, at any table size.
    await q(`CREATE INDEX action_log_entries_entity_idx ON action_log_entries (entity_type, entity_id, seq)`);
    await q(`CREATE INDEX action_log_entries_actor_idx ON action_log_entries (actor_id, seq)`);
    await q(`CREATE INDEX action_log_entries_trace_idx ON action_log_entries (trace_id, seq)`);
    await q(`CREATE INDEX action_log_entries_action_idx ON action_log_entries (action_type, seq)`);
    await q(`CREATE INDEX action_log_entries_occur_time_idx ON action_log_entries (occur_time)`);

    // A single row that serialises appends: whoever holds its row lock assigns the next seq
    // and links to the current hash, so concurrent writers (and replicas) form one chain.
    await q(`
      CREATE TABLE audit_chain_head (
        id    smallint PRIMARY KEY CHECK (id = 1),
        seq   bigint   NOT NULL,
        hash  char(64) NOT NULL
      )`);
    await q(`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, repeat('0', 64))`);

    await q(`
      CREATE FUNCTION action_log_entries_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'action_log_entries is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q(`
      CREATE TRIGGER action_log_entries_append_only
        BEFORE UPDATE OR DELETE ON action_log_entries
        FOR EACH ROW EXECUTE FUNCTION action_log_entries_reject_change()`);
    await q(`
      CREATE TRIGGER action_log_entries_no_truncate
        BEFORE TRUNCATE ON action_log_entries
        FOR EACH STATEMENT EXECUTE FUNCTION action_log_entries_reject_change()`);

    // Roles are cluster-wide: create once, tolerate a concurrent creator.
    await q(`
      DO $$ BEGIN
        CREATE ROLE mcp_audit_writer NOLOGIN;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
    await q(`GRANT SELECT, INSERT ON action_log_entries TO mcp_audit_writer`);
    await q(`GRANT SELECT, UPDATE ON audit_chain_head TO mcp_audit_writer`);
    await q(`GRANT SELECT ON "SequelizeMeta" TO mcp_audit_writer`);
  },
  async down(qi) {
    const q = (sql: string) => qi.sequelize.query(sql);
    await q(`DROP TABLE action_log_entries`);
    await q(`DROP TABLE audit_chain_head`);
    await q(`DROP FUNCTION action_log_entries_reject_change()`);
  },
};
