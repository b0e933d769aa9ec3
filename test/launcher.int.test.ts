import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
 * services as the images do: the compiled entry points under the heap cap. Here with a database
 * URL per service (the embedded-PostgreSQL path is covered by shared/db/embedded-postgres.int.test.ts).
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
  if (launcher && launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
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
  const l = spawn(process.execPath, [LAUNCHER], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  launcher = l;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => l.once('exit', (code, signal) => r({ code, signal })));
  for (const stream of [l.stdout!, l.stderr!]) stream.on('data', (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean)));

  for (const port of [auditPort, domainPort]) {
    const health = createClient(Health, createRpcClientTransport({ baseUrl: `http://127.0.0.1:${port}`, protocol: 'grpc' }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await health.check({ service: '' }, { timeoutMs: 1_000 }).catch(() => undefined);
      if (res?.status === HealthCheckResponse_ServingStatus.SERVING) break;
      if (l.exitCode !== null || Date.now() > deadline) throw new Error(`port ${port} never served:\n${output.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

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
