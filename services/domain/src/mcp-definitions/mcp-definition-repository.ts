import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { McpDefinition, McpTransport, ToolDeclaration } from './mcp-definition';
import { budgetedPageSql, PAGE_MAX_BYTES, wasCutShort, type BudgetColumns } from '../../../../shared/db/budgeted-page';
import type { NameKeysetQuery } from '../shared-repositories/name-keyset-query';

interface Row {
  uid: string;
  name: string;
  title: string;
  description: string;
  version: string;
  transport: McpTransport;
  repository_url: string;
  tags: string[];
  tools: ToolDeclaration[];
  revision: number;
  create_time: Date;
  update_time: Date;
}

const toDefinition = (r: Row): McpDefinition => ({
  uid: r.uid,
  name: r.name,
  title: r.title,
  description: r.description,
  version: r.version,
  transport: r.transport,
  repositoryUrl: r.repository_url,
  tags: r.tags,
  tools: r.tools,
  revision: r.revision,
  createTime: r.create_time,
  updateTime: r.update_time,
});

const COLUMNS = 'uid, name, title, description, version, transport, repository_url, tags, tools, revision, create_time, update_time';

/** SQL for MCP definitions (secrets are stored; redaction happens on the way out). */
export function createMcpDefinitionRepository(sequelize: Sequelize) {
  const select = (sql: string, bind: readonly unknown[], tx?: Transaction) =>
    sequelize.query<Row>(sql, { bind: bind as unknown[], type: QueryTypes.SELECT, transaction: tx });

  return {
    async insert(tx: Transaction, d: McpDefinition): Promise<void> {
      await sequelize.query(
        `INSERT INTO mcp_definitions (uid, name, title, description, version, transport_kind, transport, repository_url,
           tags, tools, revision, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        {
          bind: [d.uid, d.name, d.title, d.description, d.version, d.transport.kind, JSON.stringify(d.transport),
            d.repositoryUrl, d.tags, JSON.stringify(d.tools), d.revision, d.createTime, d.updateTime],
          transaction: tx,
        },
      );
    },

    async update(tx: Transaction, d: McpDefinition): Promise<void> {
      await sequelize.query(
        `UPDATE mcp_definitions SET title = $2, description = $3, version = $4, transport_kind = $5, transport = $6,
           repository_url = $7, tags = $8, tools = $9, revision = $10, update_time = $11 WHERE uid = $1`,
        {
          bind: [d.uid, d.title, d.description, d.version, d.transport.kind, JSON.stringify(d.transport), d.repositoryUrl,
            d.tags, JSON.stringify(d.tools), d.revision, d.updateTime],
          transaction: tx,
        },
      );
    },

    async delete(tx: Transaction, uid: string): Promise<void> {
      await sequelize.query('DELETE FROM mcp_definitions WHERE uid = $1', { bind: [uid], transaction: tx });
    },

    /** `lock` takes a row lock in `tx`: 'update' to change it, 'share' to keep it from being deleted. */
    async findByName(name: string, opts: { tx?: Transaction; lock?: 'update' | 'share' } = {}): Promise<McpDefinition | undefined> {
      const lock = opts.lock === 'update' ? ' FOR UPDATE' : opts.lock === 'share' ? ' FOR SHARE' : '';
      const rows = await select(`SELECT ${COLUMNS} FROM mcp_definitions WHERE name = $1${lock}`, [name], opts.tx);
      return rows[0] && toDefinition(rows[0]);
    },

    /** Looks up several names at once, share-locking them for the rest of `tx`. */
    async findManyByName(names: readonly string[], tx: Transaction): Promise<McpDefinition[]> {
      if (names.length === 0) return [];
      const rows = await select(`SELECT ${COLUMNS} FROM mcp_definitions WHERE name = ANY($1::text[]) ORDER BY name FOR SHARE`, [names], tx);
      return rows.map(toDefinition);
    },

    async findByUid(uid: string, tx?: Transaction): Promise<McpDefinition | undefined> {
      const rows = await select(`SELECT ${COLUMNS} FROM mcp_definitions WHERE uid = $1`, [uid], tx);
      return rows[0] && toDefinition(rows[0]);
    },

    /** A keyset page by name, cut short at PAGE_MAX_BYTES (see budgeted-page.ts). */
    async list(q: NameKeysetQuery): Promise<{ items: McpDefinition[]; cutShort: boolean }> {
      const bind = [...q.bind];
      const conditions = q.where ? [`(${q.where})`] : [];
      if (q.afterName !== undefined) conditions.push(`name > $${bind.push(q.afterName)}`);
      const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
      const pageSql = `SELECT ${COLUMNS} FROM mcp_definitions ${where} ORDER BY name LIMIT $${bind.push(q.limit)}`;
      const rows = (await select(budgetedPageSql({ pageSql, orderBy: 'name', budgetParam: `$${bind.push(PAGE_MAX_BYTES)}` }), bind)) as Array<Row & BudgetColumns>;
      return { items: rows.map(toDefinition), cutShort: wasCutShort(rows) };
    },

    /** Names of workflow definitions whose steps call this MCP definition (at most `limit`). */
    async referencingWorkflows(tx: Transaction, name: string, limit = 5): Promise<string[]> {
      const rows = await sequelize.query<{ name: string }>(
        `SELECT w.name FROM workflow_definition_mcp_refs r JOIN workflow_definitions w ON w.uid = r.workflow_definition_uid
         WHERE r.mcp_definition_name = $1 ORDER BY w.name LIMIT $2`,
        { bind: [name, limit], type: QueryTypes.SELECT, transaction: tx },
      );
      return rows.map((r) => r.name);
    },
  };
}

export type McpDefinitionRepository = ReturnType<typeof createMcpDefinitionRepository>;
