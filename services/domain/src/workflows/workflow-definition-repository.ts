import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { JsonObject } from '@bufbuild/protobuf';
import type { WorkflowDefinition, WorkflowStep } from './workflow-definition';
import { budgetedPageSql, PAGE_MAX_BYTES, wasCutShort, type BudgetColumns } from '../../../../shared/db/budgeted-page';
import type { NameKeysetQuery } from '../shared-repositories/name-keyset-query';

interface Row {
  uid: string;
  name: string;
  description: string;
  parameters_schema: JsonObject;
  steps: WorkflowStep[];
  run_timeout_ms: string;
  revision: number;
  create_time: Date;
  update_time: Date;
}

const toDefinition = (r: Row): WorkflowDefinition => ({
  uid: r.uid,
  name: r.name,
  description: r.description,
  parametersSchema: r.parameters_schema,
  steps: r.steps,
  runTimeoutMs: Number(r.run_timeout_ms),
  revision: r.revision,
  createTime: r.create_time,
  updateTime: r.update_time,
});

const COLUMNS = 'uid, name, description, parameters_schema, steps, run_timeout_ms, revision, create_time, update_time';

export function createWorkflowDefinitionRepository(sequelize: Sequelize) {
  const select = (sql: string, bind: readonly unknown[], tx?: Transaction) =>
    sequelize.query<Row>(sql, { bind: bind as unknown[], type: QueryTypes.SELECT, transaction: tx });

  /** Keeps the reference index in step with the steps (see workflow_definition_mcp_refs). */
  async function setRefs(tx: Transaction, d: WorkflowDefinition): Promise<void> {
    await sequelize.query('DELETE FROM workflow_definition_mcp_refs WHERE workflow_definition_uid = $1', { bind: [d.uid], transaction: tx });
    const names = [...new Set(d.steps.map((s) => s.mcpDefinition))];
    await sequelize.query(
      `INSERT INTO workflow_definition_mcp_refs (workflow_definition_uid, mcp_definition_name) SELECT $1, unnest($2::text[])`,
      { bind: [d.uid, names], transaction: tx },
    );
  }

  return {
    async insert(tx: Transaction, d: WorkflowDefinition): Promise<void> {
      await sequelize.query(
        `INSERT INTO workflow_definitions (uid, name, description, parameters_schema, steps, run_timeout_ms, revision, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        {
          bind: [d.uid, d.name, d.description, JSON.stringify(d.parametersSchema), JSON.stringify(d.steps), d.runTimeoutMs,
            d.revision, d.createTime, d.updateTime],
          transaction: tx,
        },
      );
      await setRefs(tx, d);
    },

    async update(tx: Transaction, d: WorkflowDefinition): Promise<void> {
      await sequelize.query(
        `UPDATE workflow_definitions SET description = $2, parameters_schema = $3, steps = $4, run_timeout_ms = $5,
           revision = $6, update_time = $7 WHERE uid = $1`,
        {
          bind: [d.uid, d.description, JSON.stringify(d.parametersSchema), JSON.stringify(d.steps), d.runTimeoutMs, d.revision, d.updateTime],
          transaction: tx,
        },
      );
      await setRefs(tx, d);
    },

    async delete(tx: Transaction, uid: string): Promise<void> {
      await sequelize.query('DELETE FROM workflow_definitions WHERE uid = $1', { bind: [uid], transaction: tx });
    },

    async findByName(name: string, opts: { tx?: Transaction; lock?: 'update' | 'share' } = {}): Promise<WorkflowDefinition | undefined> {
      const lock = opts.lock === 'update' ? ' FOR UPDATE' : opts.lock === 'share' ? ' FOR SHARE' : '';
      const rows = await select(`SELECT ${COLUMNS} FROM workflow_definitions WHERE name = $1${lock}`, [name], opts.tx);
      return rows[0] && toDefinition(rows[0]);
    },

    async findByUid(uid: string): Promise<WorkflowDefinition | undefined> {
      const rows = await select(`SELECT ${COLUMNS} FROM workflow_definitions WHERE uid = $1`, [uid]);
      return rows[0] && toDefinition(rows[0]);
    },

    /** A keyset page by name, cut short at PAGE_MAX_BYTES (see budgeted-page.ts). */
    async list(q: NameKeysetQuery): Promise<{ items: WorkflowDefinition[]; cutShort: boolean }> {
      const bind = [...q.bind];
      const conditions = q.where ? [`(${q.where})`] : [];
      if (q.afterName !== undefined) conditions.push(`name > $${bind.push(q.afterName)}`);
      const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
      const pageSql = `SELECT ${COLUMNS} FROM workflow_definitions ${where} ORDER BY name LIMIT $${bind.push(q.limit)}`;
      const rows = (await select(budgetedPageSql({ pageSql, orderBy: 'name', budgetParam: `$${bind.push(PAGE_MAX_BYTES)}` }), bind)) as Array<Row & BudgetColumns>;
      return { items: rows.map(toDefinition), cutShort: wasCutShort(rows) };
    },
  };
}

export type WorkflowDefinitionRepository = ReturnType<typeof createWorkflowDefinitionRepository>;
