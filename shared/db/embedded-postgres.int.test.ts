import { spawn } from 'node:child_process';
import { existsSync, readFileSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { findFreePort, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres';

/** One data dir for the whole file: initdb runs once, every later start reuses the cluster. */
let dataDir: string;
let port: number;
const started: EmbeddedPostgres[] = [];

async function start(): Promise<EmbeddedPostgres> {
  const pg = await startEmbeddedPostgres({ dataDir, port, noFsync: true });
  started.push(pg);
  return pg;
}

async function query<T extends Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function postmasterPid(): number {
  return Number.parseInt(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0], 10);
}

/** A killed orphan may linger as a zombie until init reaps it: that counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'embedded-pg-test-'));
  port = await findFreePort();
});

afterAll(async () => {
  await Promise.all(started.map((pg) => pg.stop()));
  await fs.rm(dataDir, { recursive: true, force: true });
  await fs.rm(`${dataDir}.lock`, { force: true });
});

test('initialises an empty dir, creates databases idempotently, and restarts on the same dir', async () => {
  const pg = await start();
  await pg.ensureDatabase('embedded_check');
  await pg.ensureDatabase('embedded_check');
  const url = pg.url('embedded_check');
  await query(url, 'CREATE TABLE kept (id int PRIMARY KEY, doc jsonb)');
  await query(url, `INSERT INTO kept VALUES (1, '{"ü": "utf8"}')`);
  const [settings] = await query<{ encoding: string }>(url, `SELECT current_setting('server_encoding') AS encoding`);
  expect(settings?.encoding).toBe('UTF8');

  await pg.stop();
  await pg.stop(); // idempotent
  await expect(pg.exited).resolves.toMatchObject({ expected: true });

  const again = await start();
  expect(await query(again.url('embedded_check'), 'SELECT doc FROM kept')).toEqual([{ doc: { ü: 'utf8' } }]);
  // A second start on a dir this process is serving fails fast instead of killing the first.
  await expect(startEmbeddedPostgres({ dataDir, port })).rejects.toThrow(/already running in this process/);
  await again.stop();
});

test('starts again after the postgres process was SIGKILLed (stale postmaster.pid)', async () => {
  const pg = await start();
  const pid = postmasterPid();
  process.kill(pid, 'SIGKILL');
  await expect(pg.exited).resolves.toMatchObject({ signal: 'SIGKILL', expected: false });
  expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(true);

  const again = await start();
  expect(postmasterPid()).not.toBe(pid);
  expect(await query(again.url('embedded_check'), 'SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 1 }]);
  await again.stop();
});

test('stops a server left running by a launcher that was SIGKILLed, then starts its own', async () => {
  // A separate process owns the server, as `npm start` would; killing it orphans postgres.
  const modulePath = path.join(__dirname, 'embedded-postgres.ts');
  const script = `require(${JSON.stringify(modulePath)})
    .startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, noFsync: true })
    .then(() => console.log('READY'), (err) => { console.error(err); process.exit(1); });`;
  const owner = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: path.resolve(__dirname, '../..'), // where `--import tsx` resolves from
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    owner.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('READY') && resolve());
    owner.on('exit', (code) => reject(new Error(`owner exited early with ${code}`)));
  });
  const orphanPid = postmasterPid();
  owner.kill('SIGKILL');
  await new Promise((resolve) => owner.once('exit', resolve));
  expect(isAlive(orphanPid)).toBe(true);

  const pg = await start();
  expect(isAlive(orphanPid)).toBe(false);
  expect(await query(pg.url('embedded_check'), 'SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 1 }]);
  await pg.stop();
});

test('reports a port that is already taken', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve, reject) => blocker.once('error', reject).listen(port, '127.0.0.1', resolve));
  try {
    await expect(startEmbeddedPostgres({ dataDir, port })).rejects.toThrow(new RegExp(`port ${port} is in use`));
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});
