/**
 * `npm start`: runs the whole backend on one machine.
 *
 * - Database: DATABASE_URL or the per-service *_DATABASE_URL when set; for every service left
 *   without one, an embedded PostgreSQL 15 (data in `${os.tmpdir()}/mcp-backend-pg`, kept
 *   between runs; port EMBEDDED_PG_PORT, default 5433) with databases mcp_audit and mcp_domain.
 * - Services: every entry of SERVICES. Run as the compiled launcher (`npm start` builds, then
 *   runs dist/scripts/start.js) it starts the compiled services as the images do: plain node
 *   with SERVICE_NODE_OPTIONS (the heap cap) unless NODE_OPTIONS is set. Run from source
 *   (`npm run start:dev`) it starts the sources as `node --import tsx <entry>` (not `npx tsx`,
 *   whose extra node process survives a kill and keeps the port bound). Their stdout/stderr
 *   (JSON log lines) pass through unchanged; the launcher's own logs are JSON lines too, and
 *   the human-readable banner goes to stderr so stdout stays machine-readable.
 * - Shutdown: SIGINT/SIGTERM/SIGHUP are forwarded once to every service; when all have exited,
 *   PostgreSQL stops last, so services can finish in-flight writes. A second Ctrl-C kills them.
 *   A service (or PostgreSQL) dying on its own stops everything and exits non-zero.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import pino from 'pino';
import { redactUrl } from '../shared/db/admin';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../shared/db/embedded-postgres';
import { createLogger } from '../shared/logging/logger';
import { SERVICE_NODE_OPTIONS } from '../shared/runtime/service-node-options';

interface ServiceSpec {
  name: string;
  /** Entry point, relative to the repository root, without its extension (.ts source, .js under dist/). */
  entry: string;
  /** Variable the service reads its port from, and the service's own default for it. */
  portVar: string;
  defaultPort: number;
  /** Variable the service reads its database URL from (it falls back to DATABASE_URL itself). */
  databaseVar: string;
  /** Its database on the embedded server. */
  database: string;
  /** Extra environment, given the resolved ports of all services by name. */
  env?: (ports: Readonly<Record<string, number>>) => Record<string, string>;
}

const SERVICES: readonly ServiceSpec[] = [
  { name: 'audit', entry: 'services/audit/src/main', portVar: 'AUDIT_PORT', defaultPort: 50052, databaseVar: 'AUDIT_DATABASE_URL', database: 'mcp_audit' },
  { name: 'domain', entry: 'services/domain/src/main', portVar: 'DOMAIN_PORT', defaultPort: 50051, databaseVar: 'DOMAIN_DATABASE_URL', database: 'mcp_domain', env: (ports) => ({ AUDIT_URL: `http://127.0.0.1:${ports.audit}` }) },
];

/** Created on the embedded server even before their service exists, so migrations can target them. */
const EMBEDDED_DATABASES = ['mcp_audit', 'mcp_domain'];
const EMBEDDED_DATA_DIR = path.join(os.tmpdir(), 'mcp-backend-pg');
/** Services allow SHUTDOWN_GRACE_MS (10 s) + 5 s before giving up themselves; we wait a little longer. */
const KILL_AFTER_MS = 20_000;
/** This file runs compiled (dist/scripts/start.js) or from source (scripts/start.ts). */
const COMPILED = path.extname(__filename) === '.js';
const ROOT = path.resolve(__dirname, COMPILED ? '../..' : '..');

/** The service's entry file, relative to ROOT, and the node arguments that run it. */
function entryOf(spec: ServiceSpec): { file: string; args: string[] } {
  if (COMPILED) {
    const file = path.join('dist', `${spec.entry}.js`);
    return { file, args: [file] };
  }
  const file = `${spec.entry}.ts`;
  return { file, args: ['--import', 'tsx', file] };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const level = LOG_LEVELS.includes(process.env.LOG_LEVEL ?? '') ? process.env.LOG_LEVEL! : 'info';
// Synchronous writes: the launcher ends with process.exit(), which must not drop or reorder its last lines.
const stdout = pino.destination({ fd: 1, sync: true });
const log = createLogger({ service: 'launcher', level, destination: stdout });
const pgLog = createLogger({ service: 'embedded-postgres', level, destination: stdout });

interface RunningService {
  spec: ServiceSpec;
  port: number;
  databaseUrl: string;
  child: ChildProcess;
  /** Settles after the process exited and its output was fully passed through. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let stopping = false;
let exitCode = 0;
let pg: EmbeddedPostgres | undefined;
const running: RunningService[] = [];
let resolveStopRequested!: () => void;
const stopRequested = new Promise<void>((resolve) => (resolveStopRequested = resolve));

function requestStop(reason: string, signal: NodeJS.Signals, failed: boolean): void {
  if (failed) exitCode = 1;
  if (stopping) return;
  stopping = true;
  log.info({ reason }, `stopping: ${reason}`);
  for (const service of running) signalService(service, signal);
  setTimeout(() => {
    for (const service of running) {
      if (service.child.exitCode === null && service.child.signalCode === null) {
        log.error({ child: service.spec.name }, `${service.spec.name} did not stop within ${KILL_AFTER_MS} ms; killing it`);
        exitCode = 1;
        killService(service);
      }
    }
  }, KILL_AFTER_MS).unref();
  resolveStopRequested();
}

function signalService(service: RunningService, signal: NodeJS.Signals): void {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return;
  try {
    service.child.kill(signal);
  } catch {
    // exited meanwhile
  }
}

function killService(service: RunningService): void {
  try {
    // Detached: the service leads its own process group; take anything it started with it.
    if (service.child.pid) process.kill(-service.child.pid, 'SIGKILL');
  } catch {
    service.child.kill('SIGKILL');
  }
}

let firstSignalAt = 0;

function onSignal(signal: NodeJS.Signals): void {
  // One Ctrl-C under `npm start` arrives twice: from the terminal (npm is in our process group)
  // and forwarded by npm. Only a deliberate second press, later, means "kill now".
  if (stopping && Date.now() - firstSignalAt < 1_000) return;
  firstSignalAt ||= Date.now();
  if (stopping) {
    log.warn(`received ${signal} again: killing services`);
    exitCode = 1;
    for (const service of running) killService(service);
    return;
  }
  // Services handle SIGINT/SIGTERM gracefully; a hang-up of our terminal means "terminate" to them.
  requestStop(`received ${signal}`, signal === 'SIGHUP' ? 'SIGTERM' : signal, false);
}

function startService(spec: ServiceSpec, port: number, databaseUrl: string, ports: Record<string, number>): RunningService {
  const heapCap = COMPILED && !process.env.NODE_OPTIONS ? { NODE_OPTIONS: SERVICE_NODE_OPTIONS } : {};
  const child = spawn(process.execPath, entryOf(spec).args, {
    cwd: ROOT,
    env: { ...process.env, ...heapCap, [spec.portVar]: String(port), [spec.databaseVar]: databaseUrl, ...spec.env?.(ports) },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: a terminal Ctrl-C reaches only the launcher, which forwards it exactly
    // once and in order (services first, database last).
    detached: true,
  });
  // Whole lines only, so two services' JSON lines never interleave mid-line.
  readline.createInterface({ input: child.stdout! }).on('line', (line) => process.stdout.write(`${line}\n`));
  readline.createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`${line}\n`));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      log.error({ err, child: spec.name }, `${spec.name} could not be started`);
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const service: RunningService = { spec, port, databaseUrl, child, closed };
  void closed.then(({ code, signal }) => {
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (!stopping) {
      log.error({ child: spec.name, code, signal }, `${spec.name} exited unexpectedly (${how})`);
      requestStop(`${spec.name} exited`, 'SIGTERM', true);
    } else if (code !== 0 && signal !== 'SIGINT' && signal !== 'SIGTERM') {
      log.error({ child: spec.name, code, signal }, `${spec.name} did not stop cleanly (${how})`);
      exitCode = 1;
    } else {
      log.info({ child: spec.name }, `${spec.name} stopped`);
    }
  });
  return service;
}

async function main(): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  process.stdout.on('error', () => undefined); // e.g. `npm start | head`: keep managing the services

  const missing = SERVICES.map((s) => entryOf(s).file).filter((file) => !existsSync(path.join(ROOT, file)));
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}${COMPILED ? ': run `npm run build` (npm start does)' : ''}`);

  const ports: Record<string, number> = {};
  for (const s of SERVICES) {
    ports[s.name] = parsePort(s.portVar, s.defaultPort);
    await assertPortFree(ports[s.name]!, s.portVar);
  }

  const configuredUrl = (s: ServiceSpec) => process.env[s.databaseVar] || process.env.DATABASE_URL;
  if (SERVICES.some((s) => !configuredUrl(s))) {
    const port = parsePort('EMBEDDED_PG_PORT', 5433);
    log.info(`no DATABASE_URL: starting embedded PostgreSQL on 127.0.0.1:${port} (data ${EMBEDDED_DATA_DIR})`);
    pg = await startEmbeddedPostgres({ dataDir: EMBEDDED_DATA_DIR, port, logger: pgLog, detached: true });
    const server = pg;
    void server.exited.then(({ expected, code, signal }) => {
      if (!expected) requestStop(`embedded PostgreSQL exited (${signal ?? `code ${code}`})`, 'SIGTERM', true);
    });
    if (stopping) return finish();
    for (const db of EMBEDDED_DATABASES) await server.ensureDatabase(db);
  }
  if (stopping) return finish();

  for (const s of SERVICES) {
    const url = configuredUrl(s) ?? pg!.url(s.database);
    running.push(startService(s, ports[s.name]!, url, ports));
  }
  void announceWhenListening();
  await stopRequested;
  return finish();
}

/** Services first (they may still write while draining), then the database; then exit. */
async function finish(): Promise<void> {
  await Promise.all(running.map((s) => s.closed));
  if (pg) {
    try {
      await pg.stop();
    } catch (err) {
      log.error({ err }, 'embedded PostgreSQL did not stop cleanly');
      exitCode = 1;
    }
  }
  log.info({ exitCode }, 'launcher exiting');
  // Explicit: nothing else may decide the exit status.
  process.exit(exitCode);
}

async function announceWhenListening(): Promise<void> {
  const states = await Promise.all(running.map(async (s) => ({ s, up: await waitForPort(s.port, 60_000) })));
  if (stopping) return;
  const lines = ['', '  mcp-backend is running — Ctrl-C to stop', ''];
  for (const { s, up } of states) {
    const where = `http://127.0.0.1:${s.port}`;
    lines.push(`    ${s.spec.name.padEnd(9)} ${where.padEnd(24)} gRPC + gRPC-Web + Connect${up ? '' : '   (NOT LISTENING YET)'}`);
    lines.push(`    ${''.padEnd(9)} db ${redactUrl(s.databaseUrl)}`);
  }
  if (pg) lines.push(`    ${'postgres'.padEnd(9)} ${`127.0.0.1:${pg.port}`.padEnd(24)} embedded PostgreSQL 15, data ${pg.dataDir}`);
  const first = running[0];
  if (first) {
    lines.push('', `  try: npx buf curl --protocol grpc --http2-prior-knowledge http://127.0.0.1:${first.port}/grpc.health.v1.Health/Check`);
  }
  process.stderr.write(`${lines.join('\n')}\n\n`);
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline && !stopping; ) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.setTimeout(1_000, () => done(false));
    });
    if (open) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

/**
 * Fails before anything starts when a service port is taken — typically by a service whose
 * launcher was SIGKILLed (children cannot be made to die with it) or by a second `npm start`.
 */
async function assertPortFree(port: number, variable: string): Promise<void> {
  const server = net.createServer();
  try {
    // 0.0.0.0: the services bind all interfaces by default, so that is where a conflict matters.
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '0.0.0.0', resolve));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `port ${port} (${variable}) is not available (${code}): is another \`npm start\` running, or a service left over from a killed one? ` +
        `Find it with \`ss -ltnp 'sport = :${port}'\`, or set ${variable}.`,
    );
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

function parsePort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a TCP port (got ${JSON.stringify(raw)})`);
  return port;
}

main().catch(async (err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  log.fatal({ err }, `launcher failed: ${message}`);
  process.stderr.write(`\nnpm start failed: ${message}\n\n`);
  exitCode = 1;
  if (!stopping) requestStop('launcher failed', 'SIGTERM', true);
  await finish();
});
