import { Sequelize } from 'sequelize';

/**
 * One connection pool per service. Repositories use it for transactions and parameterised
 * SQL; no ORM type crosses a repository's boundary.
 */
export function createSequelize(opts: { url: string; poolMax: number; applicationName: string }): Sequelize {
  return new Sequelize(opts.url, {
    dialect: 'postgres',
    logging: false,
    pool: { max: opts.poolMax, min: 0, idle: 10_000, acquire: 30_000 },
    dialectOptions: { application_name: opts.applicationName },
  });
}
