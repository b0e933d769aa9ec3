/**
 * PostgreSQL error classification by SQLSTATE, read from the driver error sequelize wraps.
 * By code, not `instanceof`: classes differ across module realms (e.g. under jest).
 */
export function pgErrorCode(err: unknown): string | undefined {
  const e = err as { parent?: { code?: string }; original?: { code?: string }; code?: string } | undefined;
  return e?.parent?.code ?? e?.original?.code ?? (typeof e?.code === 'string' ? e.code : undefined);
}

/** The constraint a unique violation hit, e.g. `mcp_definitions_name_key`. */
export function violatedConstraint(err: unknown): string | undefined {
  const e = err as { parent?: { constraint?: string }; original?: { constraint?: string } } | undefined;
  return e?.parent?.constraint ?? e?.original?.constraint;
}

export const UNIQUE_VIOLATION = '23505';

/** sequelize's errors for a database it cannot reach (names, not classes: see pgErrorCode). */
const UNREACHABLE_NAMES = new Set([
  'SequelizeConnectionError',
  'SequelizeConnectionRefusedError',
  'SequelizeConnectionTimedOutError',
  'SequelizeConnectionAcquireTimeoutError',
  'SequelizeHostNotFoundError',
  'SequelizeHostNotReachableError',
]);
/** Authentication (class 28), a database that does not exist (3D000), a privilege missing (42501). */
const NOT_TRANSIENT_STATES = /^(28|3D000$|42501$)/;
/** SQLSTATEs of a server that is shutting down, starting up or full (class 08 is handled apart). */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Socket-level failures the driver passes through as they are. */
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);

/**
 * The database is down, unreachable, restarting or out of connections: a transient condition
 * the caller may retry (UNAVAILABLE), not a fault of the request or of this code (INTERNAL).
 * Authentication and configuration failures are not included: retrying them cannot help.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; parent?: { message?: string }; original?: { message?: string } } | undefined;
  const code = pgErrorCode(err);
  // SequelizeConnectionError also wraps a refused login or a missing database: configuration, not an outage.
  if (code && NOT_TRANSIENT_STATES.test(code)) return false;
  if (e?.name && UNREACHABLE_NAMES.has(e.name)) return true;
  if (code && (code.startsWith('08') || UNAVAILABLE_STATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code))) return true;
  // pg ends the queries of a connection whose socket closed with this message, and no code.
  const message = e?.parent?.message ?? e?.original?.message ?? e?.message ?? '';
  return /^Connection terminated/.test(message);
}
