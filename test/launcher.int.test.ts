import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { findFreePort } from '../shared/db/embedded-postgres';
import { Health, HealthCheckResponse_ServingStatus } from '../shared/gen/grpc/health/v1/health_pb';
import { createRpcClientTransport } from '../shared/rpc/client-transport';
import { SERVICE_NODE_OPTIONS } from '../shared/runtime/service-node-options';
import { createTestDatabase, type TestDatabase } from '../shared/testing/test-database';

/**
 * `npm start` (`npm run build`, then the compiled launcher dist/scripts/start.js) runs the
 * services as the images do: the compiled entry points under the heap cap; with a database URL
 * per service, or with none, when it starts an embedded PostgreSQL for them.
 */
const REPO_ROOT = path.resolve(__dirname, '..');
const LAUNCHER = 'dist/scripts/start.js';

let dbs: TestDatabase[] = [];
let launcher: ChildProcess | undefined;
const output: string[] = [];

beforeAll(async () => {
  if (!existsSync(path.join(REPO_ROOT, LAUNCHER))) throw new Error(`${LAUNCHER} is missing: run \`npm run build\` first (npm test does)`);
  dbs = [await createTestDatabase('launcher_audit'), await createTestDatabase('launcher_domain')];
});
afterAll(async () => {
  // After a failed test: the whole group (launcher, services, an embedded PostgreSQL), not just the launcher.
  if (launcher && launcher.exitCode === null && launcher.signalCode === null) process.kill(-launcher.pid!, 'SIGKILL');
  await Promise.all(dbs.map((db) => db.drop()));
});

/** Processes whose parent is `pid`, with their command line and environment. */
function childrenOf(pid: number): Array<{ pid: number; cmdline: string[]; env: Record<string, string> }> {
  const children = [];
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the command name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      const split = (file: string) => readFileSync(`/proc/${entry}/${file}`, 'utf8').split('\0').filter(Boolean);
      const env = Object.fromEntries(split('environ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      children.push({ pid: Number(entry), cmdline: split('cmdline'), env });
    } catch {
      // exited meanwhile
    }
  }
  return children;
}

/** Starts the compiled launcher and waits until every port answers SERVING. */
async function launch(env: NodeJS.ProcessEnv, ports: number[]) {
  output.length = 0;
  // Its own process group, so a failed test can kill everything it started at once.
  const l = spawn(process.execPath, [LAUNCHER], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  launcher = l;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => l.once('exit', (code, signal) => r({ code, signal })));
  for (const stream of [l.stdout!, l.stderr!]) stream.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));
  for (const port of ports) {
    const health = createClient(Health, createRpcClientTransport({ baseUrl: `http://127.0.0.1:${port}`, protocol: 'grpc' }));
    // The embedded path runs initdb first: allow for it.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const res = await health.check({ service: '' }, { timeoutMs: 1_000 }).catch(() => undefined);
      if (res?.status === HealthCheckResponse_ServingStatus.SERVING) break;
      if (l.exitCode !== null || Date.now() > deadline) throw new Error(`port ${port} never served:\n${output.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { l, exited };
}

test('the compiled launcher starts both compiled services under the heap cap, runs the demo end to end, and stops them on SIGINT', async () => {
  const [auditDb, domainDb] = dbs as [TestDatabase, TestDatabase];
  const [auditPort, domainPort] = [await findFreePort(), await findFreePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AUDIT_DATABASE_URL: auditDb.url,
    DOMAIN_DATABASE_URL: domainDb.url,
    AUDIT_PORT: String(auditPort),
    DOMAIN_PORT: String(domainPort),
    HEALTH_CHECK_INTERVAL_MS: '200',
  };
  delete env.NODE_OPTIONS;
  delete env.DATABASE_URL;
  const { l, exited } = await launch(env, [auditPort, domainPort]);

  const services = childrenOf(l.pid!);
  expect(services.map((s) => s.cmdline.slice(1)).sort()).toEqual([['dist/services/audit/src/main.js'], ['dist/services/domain/src/main.js']]);
  for (const s of services) expect(s.env.NODE_OPTIONS).toBe(SERVICE_NODE_OPTIONS);

  // The new user's tour against it: `npm run demo` registers the shipped stdio MCP server, runs a
  // two-step workflow on the engine inside the domain process (npm start's default role), and
  // prints the run's audit trail by trace id; it exits 0 only when the run SUCCEEDED.
  const demo = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/demo/demo.ts', 'Oslo'], {
    cwd: REPO_ROOT,
    env: { ...env, DOMAIN_URL: `http://127.0.0.1:${domainPort}`, AUDIT_URL: `http://127.0.0.1:${auditPort}` },
    timeout: 60_000,
  });
  expect(demo.stdout).toContain('✓ created MCP definition io.github.mcp-backend/demo-weather');
  expect(demo.stdout).toMatch(/… SUCCEEDED {2}forecast:ok {2}report:ok/);
  // The start, PENDING → RUNNING, two attempts and RUNNING → SUCCEEDED, all in the demo's trace.
  expect(demo.stdout).toMatch(/The audit trail of trace [0-9a-f]{32} \(5 entries\)/);
  expect(demo.stdout).toContain('"city":"Oslo"');

  l.kill('SIGINT');
  expect(await exited).toEqual({ code: 0, signal: null });
  for (const s of services) expect(existsSync(`/proc/${s.pid}`)).toBe(false);
}, 120_000);

test('with no database URL it starts an embedded PostgreSQL, says where, and stops it last', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'launcher-embedded-'));
  // PostgreSQL runs as its own OS user when the tests run as root: it must be able to enter the directory.
  chmodSync(tmp, 0o755);
  const [auditPort, domainPort, pgPort] = [await findFreePort(), await findFreePort(), await findFreePort()];
  // TMPDIR moves the launcher's data directory (os.tmpdir()/mcp-backend-pg) away from a developer's own.
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, EMBEDDED_PG_PORT: String(pgPort), AUDIT_PORT: String(auditPort), DOMAIN_PORT: String(domainPort) };
  for (const v of ['NODE_OPTIONS', 'DATABASE_URL', 'AUDIT_DATABASE_URL', 'DOMAIN_DATABASE_URL']) delete env[v];
  try {
    const { l, exited } = await launch(env, [auditPort, domainPort]);
    const dataDir = path.join(tmp, 'mcp-backend-pg');
    expect(output.join('\n')).toContain(`no DATABASE_URL: starting embedded PostgreSQL on 127.0.0.1:${pgPort} (data ${dataDir})`);
    expect(output.join('\n')).toContain(`embedded PostgreSQL 15, data ${dataDir}`);
    const postgres = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    // Each service got its own database on it.
    const services = childrenOf(l.pid!).filter((c) => c.cmdline[1]?.startsWith('dist/services/'));
    expect(Object.fromEntries(services.map((c) => [c.cmdline[1], c.env.AUDIT_DATABASE_URL ?? c.env.DOMAIN_DATABASE_URL]))).toEqual({
      'dist/services/audit/src/main.js': `postgres://postgres:postgres@127.0.0.1:${pgPort}/mcp_audit`,
      'dist/services/domain/src/main.js': `postgres://postgres:postgres@127.0.0.1:${pgPort}/mcp_domain`,
    });

    l.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(existsSync(`/proc/${postgres}`)).toBe(false);
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}, 180_000);
