import { isDatabaseUnavailable } from './pg-errors';

/** A sequelize error as the pg dialect builds it: its class name, and the driver error as `parent`. */
const sequelizeError = (name: string, parent: { code?: string; message?: string } = {}) => Object.assign(new Error(parent.message ?? name), { name, parent });

describe('isDatabaseUnavailable: a transient outage (UNAVAILABLE), not a fault of the request or the setup', () => {
  it.each([
    ['a refused connection', sequelizeError('SequelizeConnectionRefusedError', { code: 'ECONNREFUSED' })],
    ['a connect timeout', sequelizeError('SequelizeConnectionTimedOutError')],
    ['no connection free in the pool in time', sequelizeError('SequelizeConnectionAcquireTimeoutError')],
    ['an unknown or unreachable host', sequelizeError('SequelizeHostNotFoundError', { code: 'ENOTFOUND' })],
    ['a connection that dropped mid-query', sequelizeError('SequelizeDatabaseError', { message: 'Connection terminated unexpectedly' })],
    ['a server shutting down', sequelizeError('SequelizeDatabaseError', { code: '57P01' })],
    ['a server starting up', sequelizeError('SequelizeConnectionError', { code: '57P03' })],
    ['too many connections', sequelizeError('SequelizeConnectionError', { code: '53300' })],
    ['a connection exception (class 08)', sequelizeError('SequelizeDatabaseError', { code: '08006' })],
    ['a reset socket', sequelizeError('SequelizeDatabaseError', { code: 'ECONNRESET' })],
  ])('%s is unavailable', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it.each([
    ['a wrong password', sequelizeError('SequelizeConnectionError', { code: '28P01' })],
    ['no pg_hba entry', sequelizeError('SequelizeConnectionError', { code: '28000' })],
    ['a database that does not exist', sequelizeError('SequelizeConnectionError', { code: '3D000' })],
    ['a missing privilege', sequelizeError('SequelizeDatabaseError', { code: '42501' })],
    ['a unique violation', sequelizeError('SequelizeUniqueConstraintError', { code: '23505' })],
    ['a syntax error (a bug)', sequelizeError('SequelizeDatabaseError', { code: '42601' })],
    ['a plain error', new Error('boom')],
    ['not an error at all', 'boom'],
  ])('%s is not', (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});
