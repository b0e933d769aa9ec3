import type { QueryInterface, Sequelize } from 'sequelize';
import { QueryTypes } from 'sequelize';
import { SequelizeStorage, Umzug } from 'umzug';

export interface Migration {
  readonly name: string;
  up(queryInterface: QueryInterface): Promise<void>;
  down(queryInterface: QueryInterface): Promise<void>;
}

const META_TABLE = 'SequelizeMeta';

/**
 * Migrations are listed explicitly (not globbed) so they load the same way under tsx, jest
 * and a compiled build, and so the health check can tell whether the schema is current.
 */
export function createMigrator(sequelize: Sequelize, migrations: readonly Migration[]) {
  return new Umzug({
    migrations: migrations.map((m) => ({
      name: m.name,
      up: ({ context }: { context: QueryInterface }) => m.up(context),
      down: ({ context }: { context: QueryInterface }) => m.down(context),
    })),
    context: sequelize.getQueryInterface(),
    storage: new SequelizeStorage({ sequelize, tableName: META_TABLE }),
    logger: undefined,
  });
}

/**
 * True when every migration has been applied. Reads the meta table directly, because
 * umzug's own check creates the table, which a least-privilege runtime role may not do.
 */
export async function isSchemaCurrent(sequelize: Sequelize, migrations: readonly Migration[]): Promise<boolean> {
  try {
    const [rows] = await sequelize.query(`SELECT name FROM "${META_TABLE}"`);
    const applied = new Set((rows as { name: string }[]).map((r) => r.name));
    return migrations.every((m) => applied.has(m.name));
  } catch {
    return false;
  }
}

/** Any constant shared by every replica: whoever holds it migrates, the others wait. */
const MIGRATION_LOCK_KEY = 724_0001;

/**
 * Applies pending migrations under a PostgreSQL advisory lock, so replicas starting together
 * do not race. The lock and the migrations share one transaction-free session: the lock is
 * session-level and released explicitly (or by the server if this process dies).
 */
export async function runMigrations(sequelize: Sequelize, migrations: readonly Migration[]): Promise<string[]> {
  return sequelize.transaction(async (transaction) => {
    await sequelize.query('SELECT pg_advisory_xact_lock($1)', { bind: [MIGRATION_LOCK_KEY], transaction, type: QueryTypes.SELECT });
    const applied = await createMigrator(sequelize, migrations).up();
    return applied.map((m) => m.name);
  });
}
