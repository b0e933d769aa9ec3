import { randomBytes } from 'node:crypto';
import { databaseUrl, dropDatabase, ensureDatabase, isPostgresReachable } from '../db/admin';

/**
 * Throw-away databases for integration tests: each test file gets its own database, so files
 * can run in parallel and leave nothing behind.
 *
 * Which server: `TEST_DATABASE_URL` when set (the jest globalSetup sets it after deciding once
 * per run, starting an embedded PostgreSQL if needed); otherwise the local server on 5432 if
 * it answers. `TEST_FORCE_EMBEDDED_PG=1` skips the local server, to exercise the embedded path
 * on a machine that has one.
 */

/** The PostgreSQL 15 this machine kind runs (trust auth); CI machines may have none. */
export const LOCAL_TEST_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  readonly url: string;
  readonly name: string;
  /** Drops the database, disconnecting sessions still open on it. Idempotent. */
  drop(): Promise<void>;
}

export function isEmbeddedForced(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['1', 'true', 'yes'].includes((env.TEST_FORCE_EMBEDDED_PG ?? '').toLowerCase());
}

let serverUrl: Promise<string> | undefined;

/** The admin URL of the server tests create their databases on. Decided once per process. */
export function testServerUrl(): Promise<string> {
  serverUrl ??= (async () => {
    const fromEnv = process.env.TEST_DATABASE_URL;
    if (fromEnv) return fromEnv;
    if (isEmbeddedForced()) {
      throw new Error(
        'TEST_FORCE_EMBEDDED_PG is set but TEST_DATABASE_URL is not: the embedded server is started by the jest ' +
          'globalSetup shared/testing/jest-global-setup.ts, which this jest config does not run',
      );
    }
    if (await isPostgresReachable(LOCAL_TEST_SERVER_URL, 1_000)) return LOCAL_TEST_SERVER_URL;
    throw new Error(
      `no PostgreSQL for tests: ${LOCAL_TEST_SERVER_URL} does not answer and TEST_DATABASE_URL is not set. ` +
        'Run jest with the globalSetup shared/testing/jest-global-setup.ts (starts an embedded server), or set TEST_DATABASE_URL.',
    );
  })();
  // A failed decision is not cached: the next caller gets a fresh attempt and a fresh error.
  serverUrl.catch(() => (serverUrl = undefined));
  return serverUrl;
}

/** PostgreSQL's identifier limit; longer names are silently truncated. */
const MAX_NAME_BYTES = 63;

/**
 * Creates an empty database named `<prefix>_<random>` (lower-case; other characters become
 * `_`). Call `drop()` in afterAll.
 */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const adminUrl = await testServerUrl();
  const suffix = randomBytes(6).toString('hex');
  const cleanPrefix =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^[^a-z_]+/, '')
      .slice(0, MAX_NAME_BYTES - suffix.length - 1) || 'test';
  const name = `${cleanPrefix}_${suffix}`;
  await ensureDatabase(adminUrl, name);
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: databaseUrl(adminUrl, name),
    drop: () => (dropped ??= dropDatabase(adminUrl, name)),
  };
}
