/**
 * `npm run db:migrate [audit|domain ...]`: applies pending migrations with the URL from the
 * environment (AUDIT_DATABASE_URL / DOMAIN_DATABASE_URL, else DATABASE_URL). Run it with an
 * owner role in production, where the services themselves run with least-privilege roles.
 */
import { createSequelize } from '../shared/db/create-sequelize';
import { runMigrations, type Migration } from '../shared/db/migrator';
import { auditMigrations } from '../services/audit/migrations';
import { domainMigrations } from '../services/domain/migrations';

const TARGETS: Record<string, { urlVar: string; migrations: readonly Migration[] }> = {
  audit: { urlVar: 'AUDIT_DATABASE_URL', migrations: auditMigrations },
  domain: { urlVar: 'DOMAIN_DATABASE_URL', migrations: domainMigrations },
};

async function main() {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(TARGETS);
  for (const name of names) {
    const target = TARGETS[name];
    if (!target) throw new Error(`unknown service "${name}"; known: ${Object.keys(TARGETS).join(', ')}`);
    const url = process.env[target.urlVar] || process.env.DATABASE_URL;
    if (!url) throw new Error(`set ${target.urlVar} or DATABASE_URL`);
    const sequelize = createSequelize({ url, poolMax: 2, applicationName: `db-migrate-${name}` });
    try {
      const applied = await runMigrations(sequelize, target.migrations);
      console.log(`${name}: ${applied.length ? `applied ${applied.join(', ')}` : 'already up to date'}`);
    } finally {
      await sequelize.close();
    }
  }
}

main().catch((err) => {
  console.error(`db:migrate failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
