import { Client } from 'pg';
import { databaseUrl, ensureDatabase, isPostgresReachable } from '../db/admin';
import { createTestDatabase, isEmbeddedForced, LOCAL_TEST_SERVER_URL, testServerUrl } from './test-database';

async function databaseExists(name: string): Promise<boolean> {
  const client = new Client({ connectionString: await testServerUrl() });
  await client.connect();
  try {
    return ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

test('creates a uniquely named database, usable until dropped even with sessions open', async () => {
  const db = await createTestDatabase('Harness-Check');
  const other = await createTestDatabase('Harness-Check');
  expect(db.name).toMatch(/^harness_check_[0-9a-f]{12}$/);
  expect(other.name).not.toBe(db.name);
  await other.drop();

  const client = new Client({ connectionString: db.url });
  client.on('error', () => undefined); // DROP ... WITH (FORCE) terminates this session
  await client.connect();
  await client.query('CREATE TABLE things (id serial PRIMARY KEY, tags jsonb NOT NULL)');
  await client.query(`INSERT INTO things (tags) VALUES ('["a", "b"]')`);
  const { rows } = await client.query<{ db: string; n: number }>('SELECT current_database() AS db, count(*)::int AS n FROM things');
  expect(rows).toEqual([{ db: db.name, n: 1 }]);

  // Creating what exists is a no-op, not an error.
  await ensureDatabase(await testServerUrl(), db.name);

  await db.drop();
  await db.drop(); // idempotent
  await client.end().catch(() => undefined);
  expect(await databaseExists(db.name)).toBe(false);
});

test('TEST_FORCE_EMBEDDED_PG keeps tests off the local server', async () => {
  if (isEmbeddedForced()) expect(await testServerUrl()).not.toBe(LOCAL_TEST_SERVER_URL);
  else expect(await testServerUrl()).toBe(process.env.TEST_DATABASE_URL ?? LOCAL_TEST_SERVER_URL);
});

test('reachability probe answers false quickly for a closed port', async () => {
  const started = Date.now();
  expect(await isPostgresReachable('postgres://postgres@127.0.0.1:1/postgres', 500)).toBe(false);
  expect(Date.now() - started).toBeLessThan(2_000);
  expect(await isPostgresReachable(await testServerUrl(), 2_000)).toBe(true);
});

test('databaseUrl swaps only the database', () => {
  expect(databaseUrl('postgres://u:p%40ss@db.example:6543/postgres?sslmode=require', 'mcp_audit')).toBe(
    'postgres://u:p%40ss@db.example:6543/mcp_audit?sslmode=require',
  );
  expect(databaseUrl('postgresql://postgres@127.0.0.1:5432', 'x')).toBe('postgresql://postgres@127.0.0.1:5432/x');
  expect(() => databaseUrl('mysql://h/db', 'x')).toThrow(/not a postgres/);
});
