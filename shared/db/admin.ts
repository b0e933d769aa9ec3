import { Client, escapeIdentifier } from 'pg';

/**
 * Server-level chores (is it up, create/drop a database) with a plain `pg` client: they run
 * before any service pool exists, from the launcher and the test harness, and must not pull
 * in sequelize.
 */

/** PostgreSQL truncates longer identifiers silently, which would make the existence check lie. */
const MAX_IDENTIFIER_BYTES = 63;

function assertDatabaseName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw new Error(`invalid database name ${JSON.stringify(name)}: must be 1-${MAX_IDENTIFIER_BYTES} bytes`);
  }
}

/** Runs `fn` with a connected client and always closes it, so a failed query leaks no connection. */
async function withClient<T>(url: string, fn: (client: Client) => Promise<T>, connectTimeoutMs = 10_000): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  // An idle client whose server goes away emits 'error'; unhandled, that would crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * True when a session can be opened and a query answered within `timeoutMs` (server up,
 * credentials accepted). Never throws: callers use it to choose between servers.
 */
export async function isPostgresReachable(url: string, timeoutMs = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  // connectionTimeoutMillis covers the TCP connect and start-up; the race also bounds a server
  // that accepts the connection but never answers (e.g. stuck in recovery).
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const probe = withClient(url, async (client) => (await client.query('SELECT 1')).rowCount === 1, timeoutMs).catch(
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Creates database `name` unless it exists. Safe to call concurrently and repeatedly. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  await withClient(adminUrl, async (client) => {
    // CREATE DATABASE has no IF NOT EXISTS; checking first keeps the server log free of errors.
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (existing.rowCount) return;
    try {
      await client.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
    } catch (err) {
      // Lost a race with a concurrent creator: 42P04 duplicate_database, or 23505 when both
      // got past the catalog check and collided on pg_database's unique index.
      const code = (err as { code?: unknown }).code;
      if (code !== '42P04' && code !== '23505') throw err;
    }
  });
}

/** Drops database `name` if it exists, disconnecting any sessions still using it (PostgreSQL 13+). */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  assertDatabaseName(name);
  await withClient(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
  });
}

/**
 * The same server, user and options as `baseUrl`, but database `name`:
 * `databaseUrl('postgres://u:p@h:5432/postgres?sslmode=require', 'x')` →
 * `postgres://u:p@h:5432/x?sslmode=require`.
 */
export function databaseUrl(baseUrl: string, name: string): string {
  const url = new URL(baseUrl);
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`not a postgres:// URL: ${redactUrl(baseUrl)}`);
  }
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/** The URL with its password replaced by `***`, for logs and banners. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '<unparseable database URL>';
  }
}
