import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isPostgresReachable } from '../db/admin';
import { findFreePort, reclaimDataDir, startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded-postgres';
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
  embedded?: { pg: EmbeddedPostgres; dataDir: string };
}

const DATA_DIR_PREFIX = 'mcp-test-pg-';

export default async function globalSetup(): Promise<void> {
  const state: GlobalState = { previousUrl: process.env.TEST_DATABASE_URL };
  (globalThis as Record<string, unknown>)[GLOBAL_STATE_KEY] = state;
  if (process.env.TEST_DATABASE_URL) return;
  if (!isEmbeddedForced() && (await isPostgresReachable(LOCAL_TEST_SERVER_URL, 1_000))) {
    process.env.TEST_DATABASE_URL = LOCAL_TEST_SERVER_URL;
    return;
  }

  const started = Date.now();
  await removeAbandonedClusters();
  // A fresh cluster per run (initdb ≈ 0.5 s): concurrent jest runs on one machine never share one.
  // The owner pid in the name lets a later run clean up after a run that was killed.
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `${DATA_DIR_PREFIX}${process.pid}-`));
  const pg = await startEmbeddedPostgres({
    dataDir,
    port: await findFreePort(),
    // Throw-away data: durability only costs time.
    noFsync: true,
    // Postgres' own WARNING/FATAL lines (e.g. sessions ended by DROP DATABASE ... FORCE) are test noise.
    logger: { debug() {}, info() {}, warn() {}, error: (m) => process.stderr.write(`[test-db] ${m}\n`) },
  }).catch(async (err: unknown) => {
    await fs.rm(dataDir, { recursive: true, force: true });
    throw err;
  });
  state.embedded = { pg, dataDir };
  process.env.TEST_DATABASE_URL = pg.url('postgres');
  process.stderr.write(`\n[test-db] embedded PostgreSQL 15 on 127.0.0.1:${pg.port}, ready in ${Date.now() - started} ms (${dataDir})\n`);
}

/** Clusters left in the temp dir by killed runs (their owner pid is gone): stop any server, delete. */
async function removeAbandonedClusters(): Promise<void> {
  const tmp = os.tmpdir();
  for (const entry of await fs.readdir(tmp)) {
    const match = new RegExp(`^${DATA_DIR_PREFIX}(\\d+)-[^.]+$`).exec(entry);
    if (!match || pidIsAlive(Number(match[1]))) continue;
    const dataDir = path.join(tmp, entry);
    try {
      await reclaimDataDir(dataDir);
      await fs.rm(dataDir, { recursive: true, force: true });
    } catch {
      // Held by a live process after all, or not ours to delete: leave it.
    }
  }
}

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
