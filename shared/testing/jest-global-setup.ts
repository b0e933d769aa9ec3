import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { isPostgresReachable } from '../db/admin';
import { findFreePort, startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres';
import { isEmbeddedForced, LOCAL_TEST_SERVER_URL } from './test-database';

/**
 * jest globalSetup: decides once per run which PostgreSQL the integration tests use and
 * exports it as TEST_DATABASE_URL (workers inherit the environment; createTestDatabase reads
 * it). Order: an explicit TEST_DATABASE_URL; the local server on 5432; else one embedded
 * PostgreSQL for the whole run, stopped by jest-global-teardown.ts.
 */

/** Shared with the teardown: jest runs both in its main process, where globalThis is common. */
export const GLOBAL_STATE_KEY = '__mcpTestDatabaseServer';

export interface GlobalState {
  /** TEST_DATABASE_URL before setup, restored by teardown (watch mode re-runs setup). */
  previousUrl: string | undefined;
  embedded?: EmbeddedPostgres;
}

/**
 * Embedded clusters live in numbered slots under the temp dir and are reused across runs: a
 * restart takes ~0.1 s where initdb takes 0.5-3 s. Each slot's lock lets concurrent jest runs
 * take different slots, and one killed run's server is reclaimed by the next run of that slot.
 */
const SLOT_PREFIX = 'mcp-test-pg-slot-';
const SLOTS = 8;
const KEEP = new Set(['postgres', 'template0', 'template1']);

export default async function globalSetup(): Promise<void> {
  const state: GlobalState = { previousUrl: process.env.TEST_DATABASE_URL };
  (globalThis as Record<string, unknown>)[GLOBAL_STATE_KEY] = state;
  if (process.env.TEST_DATABASE_URL) return;
  if (!isEmbeddedForced() && (await isPostgresReachable(LOCAL_TEST_SERVER_URL, 1_000))) {
    process.env.TEST_DATABASE_URL = LOCAL_TEST_SERVER_URL;
    return;
  }
  const started = Date.now();
  const pg = await startInFreeSlot();
  state.embedded = pg;
  process.env.TEST_DATABASE_URL = pg.url('postgres');
  process.stderr.write(`\n[test-db] embedded PostgreSQL 15 on 127.0.0.1:${pg.port}, ready in ${Date.now() - started} ms (${pg.dataDir})\n`);
}

async function startInFreeSlot(): Promise<EmbeddedPostgres> {
  for (let slot = 0; slot < SLOTS; slot++) {
    const dataDir = path.join(os.tmpdir(), `${SLOT_PREFIX}${slot}`);
    try {
      const pg = await start(dataDir);
      await dropLeftoverDatabases(pg);
      return pg;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EMBEDDED_PG_DATA_DIR_IN_USE') continue; // another run has it
      // Anything else (a cluster broken by a crash with fsync off, ...): it is disposable.
      process.stderr.write(`[test-db] ${dataDir} unusable, re-creating it: ${(err as Error).message}\n`);
      await fs.rm(dataDir, { recursive: true, force: true });
      return start(dataDir);
    }
  }
  throw new Error(`all ${SLOTS} embedded PostgreSQL slots in ${os.tmpdir()} are in use by other test runs`);
}

async function start(dataDir: string): Promise<EmbeddedPostgres> {
  return startEmbeddedPostgres({
    dataDir,
    port: await findFreePort(),
    // Throw-away data: durability only costs time.
    noFsync: true,
    // Postgres' own WARNING/FATAL lines (e.g. sessions ended by DROP DATABASE ... FORCE) are test noise.
    logger: { debug() {}, info() {}, warn() {}, error: (m) => process.stderr.write(`[test-db] ${m}\n`) },
  });
}

/** Databases a crashed or interrupted earlier run did not drop; this run holds the slot, so none is in use. */
async function dropLeftoverDatabases(pg: EmbeddedPostgres): Promise<void> {
  const client = new Client({ connectionString: pg.url('postgres') });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database');
    for (const { datname } of rows) {
      if (!KEEP.has(datname)) await client.query(`DROP DATABASE ${escapeIdentifier(datname)} WITH (FORCE)`);
    }
  } finally {
    await client.end();
  }
}
