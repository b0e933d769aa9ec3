import type { Migration } from '../../../shared/db/migrator';

/**
 * MCP definitions, workflow definitions, runs with per-step state, request-id idempotency
 * keys, and the audit outbox that is written in the same transaction as every mutation.
 */
export const createDomainSchema: Migration = {
  name: '20261126-0001-create-domain-schema',
  async up(qi) {
    const q = (sql: string) => qi.sequelize.query(sql);
    await q(`
      CREATE TABLE mcp_definitions (
        uid            uuid        PRIMARY KEY,
        name           text        NOT NULL UNIQUE,
        title          text        NOT NULL,
        description    text        NOT NULL,
        version        text        NOT NULL,
        transport_kind text        NOT NULL,
        transport      jsonb       NOT NULL,
        repository_url text        NOT NULL,
        tags           text[]      NOT NULL,
        tools          jsonb       NOT NULL,
        revision       integer     NOT NULL,
        create_time    timestamptz NOT NULL,
        update_time    timestamptz NOT NULL
      )`);
    await q(`CREATE INDEX mcp_definitions_tags_idx ON mcp_definitions USING gin (tags)`);

    await q(`
      CREATE TABLE workflow_definitions (
        uid               uuid        PRIMARY KEY,
        name              text        NOT NULL UNIQUE,
        description       text        NOT NULL,
        parameters_schema jsonb       NOT NULL,
        steps             jsonb       NOT NULL,
        run_timeout_ms    bigint      NOT NULL,
        revision          integer     NOT NULL,
        create_time       timestamptz NOT NULL,
        update_time       timestamptz NOT NULL
      )`);
    // Which MCP definitions a workflow uses: answers "is this server still referenced?"
    // through an index instead of scanning every workflow's steps.
    await q(`
      CREATE TABLE workflow_definition_mcp_refs (
        workflow_definition_uid uuid NOT NULL REFERENCES workflow_definitions (uid) ON DELETE CASCADE,
        mcp_definition_name     text NOT NULL,
        PRIMARY KEY (mcp_definition_name, workflow_definition_uid)
      )`);

    await q(`
      CREATE TABLE workflow_runs (
        uid                          uuid        PRIMARY KEY,
        workflow_definition_name     text        NOT NULL,
        workflow_definition_revision integer     NOT NULL,
        definition_snapshot          jsonb       NOT NULL,
        parameters                   jsonb       NOT NULL,
        status                       text        NOT NULL,
        error                        text        NOT NULL DEFAULT '',
        failed_step                  text        NOT NULL DEFAULT '',
        actor_id                     text        NOT NULL,
        trace_id                     text        NOT NULL,
        traceparent                  text        NOT NULL,
        revision                     integer     NOT NULL,
        create_time                  timestamptz NOT NULL,
        start_time                   timestamptz,
        end_time                     timestamptz,
        update_time                  timestamptz NOT NULL
      )`);
    await q(`CREATE INDEX workflow_runs_create_idx ON workflow_runs (create_time DESC, uid DESC)`);
    await q(`CREATE INDEX workflow_runs_definition_idx ON workflow_runs (workflow_definition_name, create_time DESC)`);
    await q(`CREATE INDEX workflow_runs_active_idx ON workflow_runs (status) WHERE status IN ('PENDING', 'RUNNING')`);

    await q(`
      CREATE TABLE workflow_step_runs (
        run_uid     uuid        NOT NULL REFERENCES workflow_runs (uid) ON DELETE CASCADE,
        step_id     text        NOT NULL,
        position    integer     NOT NULL,
        status      text        NOT NULL,
        attempt     integer     NOT NULL DEFAULT 0,
        output      jsonb,
        error       text        NOT NULL DEFAULT '',
        start_time  timestamptz,
        end_time    timestamptz,
        PRIMARY KEY (run_uid, step_id)
      )`);

    // AIP-155: a retried create/start with the same request_id returns what the first made.
    await q(`
      CREATE TABLE idempotency_keys (
        request_id    uuid        NOT NULL,
        operation     text        NOT NULL,
        resource_uid  uuid        NOT NULL,
        create_time   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (operation, request_id)
      )`);

    // Transactional outbox: one row per audit entry, inserted with the change it describes
    // and deleted once the audit service has acknowledged it.
    await q(`
      CREATE TABLE audit_outbox (
        id              bigserial   PRIMARY KEY,
        event_id        uuid        NOT NULL UNIQUE,
        occur_time      timestamptz NOT NULL,
        actor_id        text        NOT NULL,
        traceparent     text        NOT NULL,
        tracestate      text        NOT NULL,
        client_ip       text        NOT NULL,
        user_agent      text        NOT NULL,
        action_type     text        NOT NULL,
        entity_type     text        NOT NULL,
        entity_id       text        NOT NULL,
        details         jsonb       NOT NULL,
        attempts        integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error      text        NOT NULL DEFAULT ''
      )`);
    await q(`CREATE INDEX audit_outbox_due_idx ON audit_outbox (next_attempt_at, id)`);
    // Per-entity order: the relay holds back an entry while an older one of the same entity waits.
    await q(`CREATE INDEX audit_outbox_entity_idx ON audit_outbox (entity_type, entity_id, id)`);
  },
  async down(qi) {
    for (const t of ['audit_outbox', 'idempotency_keys', 'workflow_step_runs', 'workflow_runs', 'workflow_definition_mcp_refs', 'workflow_definitions', 'mcp_definitions']) {
      await qi.sequelize.query(`DROP TABLE ${t}`);
    }
  },
};
