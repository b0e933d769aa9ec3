/**
 * Workflow engine benchmark: `npm run bench:engine`.
 *
 * One run, one PostgreSQL, fresh databases (created here, dropped at the end, also on Ctrl-C):
 *   1. Throughput, ours: one-step workflows whose step calls `noop` on the MCP fixture server
 *      (Streamable HTTP, its own process), end to end: StartWorkflowRun (BENCH_ENGINE_IN_FLIGHT
 *      calls in flight) → every run SUCCEEDED. The domain service runs as in production
 *      (DOMAIN_ROLE=all, ENGINE_CONCURRENCY=10, auditing ON, the audit service running).
 *      Completion is detected by polling a count of active runs (partial index) in the
 *      domain database every 10 ms once all starts were acknowledged; runs/s is
 *      N / (latest run end_time − wall clock before the first start), both on this machine's clock.
 *   2. Throughput, baseline: graphile-worker 0.16 `run()` with the same concurrency and default
 *      (unbatched) settings in its own process (bench/lib/graphile-worker-child.ts), a `noop`
 *      task, N jobs added with WorkerUtils.addJob from this process, same in-flight bound;
 *      jobs/s is N / (the child's clock at the Nth `job:complete` − wall clock before the first add).
 *      Timed rounds alternate ours/baseline as A B B A … (BENCH_ENGINE_ROUNDS per side), after
 *      an untimed warm-up of each; the audit outbox is drained between rounds.
 *   3. Start → first step begins, engine idle: one run at a time, interleaved with the baseline
 *      one job at a time, a pause between. Ours: steps[0].start_time (GetWorkflowRun; PostgreSQL
 *      clock_timestamp(), ms resolution) − the wall clock just before StartWorkflowRun; also
 *      split into the RPC, create_time → claim (run start_time) and claim → step start.
 *      Baseline: the child's clock on entering the task − the wall clock just before addJob.
 *   4. Peak RSS of the domain process (VmRSS every 200 ms, VmHWM at the end).
 *   5. Machine, load average at start and end, CPU per process per timed section, goals.
 * Exits 0 when a goal is missed.
 *
 * Environment (all optional):
 *   BENCH_DATABASE_URL              admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_ENGINE_RUNS               runs (and jobs) per timed round (default 2000)
 *   BENCH_ENGINE_WARMUP             untimed runs (and jobs) before the first round (default 300)
 *   BENCH_ENGINE_ROUNDS             timed rounds per side, alternated A B B A (default 2)
 *   BENCH_ENGINE_IN_FLIGHT          StartWorkflowRun / addJob calls in flight (default 16)
 *   BENCH_ENGINE_LATENCY_SAMPLES    sequential samples per side (default 200)
 *   BENCH_ENGINE_LATENCY_PAUSE_MS   pause after each sample (default 20)
 *   BENCH_ENGINE_PHASES             throughput,latency (default both)
 *   BENCH_WAIT_QUIET_S              wait up to this long (default 60) for other processes to leave the
 *                                   machine (< 0.3 cores busy over two 3 s windows) before starting
 *   BENCH_ENGINE_BUDGET_S           a further timed round starts only if the run, with that round and
 *                                   the latency phase, should end within this many seconds (default 230)
 *   BENCH_ENGINE_BASELINE           0 skips graphile-worker (for quick variations)
 *   BENCH_ENGINE_DIAG_AUDIT_OFF=1   diagnostic only: AUDIT_ENABLED=false (no outbox rows, no relay), to
 *                                   split out the cost of auditing; the summary is marked DIAGNOSTIC
 *   BENCH_CPU_PROF_DIR              run the domain service with --cpu-prof into this directory
 *   BENCH_ENGINE_SQL_TRACE          a directory: preload bench/lib/pg-query-tracer.cjs into the domain
 *                                   service and the graphile-worker child and print the queries per
 *                                   run / per job of each timed round (diagnostic; adds a little overhead)
 *   ENGINE_CONCURRENCY              both sides (default 10)
 *   ENGINE_*, AUDIT_RELAY_*, DOMAIN_DB_POOL_MAX, MCP_CLIENT_*, LOG_LEVEL (default warn)
 *                                   passed through to the domain service
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createClient, type Client as RpcClient } from '@connectrpc/connect';
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import { Client } from 'pg';
import { databaseUrl, dropDatabase, ensureDatabase, redactUrl } from '../shared/db/admin';
import { McpDefinitionService } from '../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { StepRunStatus, WorkflowRunStatus, type WorkflowRun } from '../shared/gen/mcpbackend/workflow/v1/workflow_run_pb';
import { WorkflowService } from '../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import { createRpcClientTransport } from '../shared/rpc/client-transport';
import { serviceEntry, startChildService, waitForServing, type ChildService } from './lib/child-service';
import { findFreePort } from '../shared/db/embedded-postgres';
import { runWithConcurrency } from './lib/concurrency';
import { startGraphileWorkerChild, type GraphileWorkerChild } from './lib/graphile-worker-baseline';
import { DEFAULT_RULES, formatCpuProfileSummary, summarizeCpuProfile, type CategoryRule } from './lib/cpuprofile-summary';
import { describeMachine, formatMachine } from './lib/machine';
import { formatTrace, PG_TRACER, traceMark, type TraceSnapshot } from './lib/pg-trace';
import { cpuDelta, pgBackendCpu } from './lib/pg-cpu';
import { ownCpuMs, readProcCpuMs, readSystemCpu } from './lib/proc-cpu';
import { startRssSampler, type RssSampler } from './lib/proc-memory';
import { waitForQuietMachine } from './lib/quiet-machine';
import { envPositiveInt, fmt, formatTable, goal, goalsLine, type Goal } from './lib/report';
import { cleanUpOnSignal, log, runBench } from './lib/run-bench';
import { summarize, type LatencySummary } from './lib/stats';
import { timestampToMs, wallClockMs } from './lib/wall-clock';

// ---------------------------------------------------------------- configuration

const ADMIN_URL = process.env.BENCH_DATABASE_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = { domain: 'mcp_engine_bench_domain', audit: 'mcp_engine_bench_audit', gw: 'mcp_engine_bench_gw' } as const;
const RUNS = envPositiveInt('BENCH_ENGINE_RUNS', 2_000);
const WARMUP = envPositiveInt('BENCH_ENGINE_WARMUP', 300);
const ROUNDS = envPositiveInt('BENCH_ENGINE_ROUNDS', 2);
const IN_FLIGHT = envPositiveInt('BENCH_ENGINE_IN_FLIGHT', 16);
const LATENCY_SAMPLES = envPositiveInt('BENCH_ENGINE_LATENCY_SAMPLES', 200);
const LATENCY_PAUSE_MS = envNonNegativeInt('BENCH_ENGINE_LATENCY_PAUSE_MS', 20);
const LATENCY_WARMUP = 10;
const CONCURRENCY = envPositiveInt('ENGINE_CONCURRENCY', 10);
const PHASES = new Set((process.env.BENCH_ENGINE_PHASES ?? 'throughput,latency').split(',').map((s) => s.trim()).filter(Boolean));
const BASELINE = (process.env.BENCH_ENGINE_BASELINE ?? '1').trim() !== '0';
const AUDIT_OFF = (process.env.BENCH_ENGINE_DIAG_AUDIT_OFF ?? '').trim() === '1';
const WAIT_QUIET_S = envNonNegativeInt('BENCH_WAIT_QUIET_S', 60);
const BUDGET_S = envPositiveInt('BENCH_ENGINE_BUDGET_S', 230);
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF_DIR?.trim() || undefined;
const SQL_TRACE_DIR = process.env.BENCH_ENGINE_SQL_TRACE?.trim() ? path.resolve(process.env.BENCH_ENGINE_SQL_TRACE.trim()) : undefined;
const TRACE_FILE = SQL_TRACE_DIR && { domain: path.join(SQL_TRACE_DIR, `domain-${process.pid}.jsonl`), gw: path.join(SQL_TRACE_DIR, `graphile-worker-${process.pid}.jsonl`) };
/** A round fails when completions make no progress for this long. */
const STALL_MS = 60_000;
const CALL_TIMEOUT_MS = 30_000;
const COMPLETION_POLL_MS = 10;

const GOALS = { ratio: 0.5, latencyP99Ms: 25 } as const;
/** Other processes busier than this (in cores) during a timed section make its figures suspect. */
const DISTURBED_CORES = 0.25;

const MCP_SERVER = 'io.github.bench/noop-http';
const HEADERS = { 'x-user-id': 'bench-user', 'user-agent': 'engine-bench/0.1' };
const PASS_THROUGH = /^(ENGINE_|AUDIT_RELAY_|DOMAIN_DB_POOL_MAX$|MCP_CLIENT_|MCP_CONNECT_|LOG_LEVEL$)/;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function envNonNegativeInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

const loadAvg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');

// ---------------------------------------------------------------- environment

type WorkflowClient = RpcClient<typeof WorkflowService>;

interface Env {
  admin: Client;
  /** SQL on the domain database (completion counts, outbox backlog). */
  domainSql: Client;
  workflows: WorkflowClient;
  domain: ChildService;
  audit: ChildService;
  fixture: ChildService;
  gw: GraphileWorkerChild | undefined;
  utils: WorkerUtils | undefined;
  /** Jobs the baseline completed so far (its counter is cumulative). */
  gwCompleted: number;
  domainRss: RssSampler;
}

const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1e6 });

async function defineWorkflow(workflows: WorkflowClient, name: string): Promise<string> {
  await workflows.createWorkflowDefinition(
    {
      workflowDefinition: {
        name,
        description: 'engine benchmark: one noop step',
        parametersSchema: {},
        steps: [
          {
            id: 'noop',
            mcpDefinition: MCP_SERVER,
            tool: 'noop',
            arguments: {},
            dependsOn: [],
            retryPolicy: { maxAttempts: 1, initialBackoff: ms(100), backoffMultiplier: 2, maxBackoff: ms(1000) },
            timeout: ms(10_000),
          },
        ],
      },
    },
    { headers: HEADERS, timeoutMs: CALL_TIMEOUT_MS },
  );
  return name;
}

async function startRun(env: Env, workflow: string): Promise<WorkflowRun> {
  const res = await env.workflows.startWorkflowRun({ workflowDefinition: workflow, parameters: {} }, { headers: HEADERS, timeoutMs: CALL_TIMEOUT_MS });
  if (!res.workflowRun) throw new Error('StartWorkflowRun returned no run');
  return res.workflowRun;
}

const countOf = async (sql: Client, text: string, bind: unknown[] = []) => Number((await sql.query<{ n: string }>(text, bind)).rows[0]!.n);
const activeRuns = (env: Env) => countOf(env.domainSql, `SELECT count(*) AS n FROM workflow_runs WHERE status IN ('PENDING', 'RUNNING')`);
const outboxRows = (env: Env) => countOf(env.domainSql, 'SELECT count(*) AS n FROM audit_outbox');

/** Waits until no run is PENDING or RUNNING; fails when the count stops moving for STALL_MS. */
async function waitIdle(env: Env): Promise<number> {
  let last = -1;
  let lastChange = wallClockMs();
  for (;;) {
    const n = await activeRuns(env);
    const now = wallClockMs();
    if (n === 0) return now;
    if (n !== last) {
      last = n;
      lastChange = now;
    } else if (now - lastChange > STALL_MS) {
      throw new Error(`${n} runs still active after ${STALL_MS / 1000} s without progress; domain output:\n${env.domain.output().slice(-3000)}`);
    }
    await sleep(COMPLETION_POLL_MS);
  }
}

/**
 * Waits until the audit relay delivered everything; returns how long that took. Gives up after
 * `stallMs` without the backlog shrinking, and says so (with the services' last output).
 */
async function drainOutbox(env: Env, stallMs = 30_000): Promise<{ ms: number; left: number }> {
  const t0 = wallClockMs();
  let last = Infinity;
  let lastProgress = t0;
  for (;;) {
    const left = await outboxRows(env);
    const now = wallClockMs();
    if (left === 0) return { ms: now - t0, left };
    if (left < last) {
      last = left;
      lastProgress = now;
    } else if (now - lastProgress > stallMs) {
      const audit = env.audit.process;
      log(
        `  WARNING: the audit outbox is stuck at ${fmt.int(left)} rows (no delivery for ${stallMs / 1000} s);` +
          ` audit service ${audit.exitCode !== null || audit.signalCode !== null ? `EXITED (${audit.exitCode ?? audit.signalCode})` : 'running'}` +
          `\n  domain output (last 3000 chars):\n${env.domain.output().slice(-3000)}\n  audit output (last 1500 chars):\n${env.audit.output().slice(-1500)}`,
      );
      return { ms: now - t0, left };
    }
    await sleep(20);
  }
}

interface Tally {
  succeeded: number;
  failed: number;
  other: number;
  firstCreate: number;
  lastEnd: number;
}

async function tally(env: Env, workflow: string): Promise<Tally> {
  const r = (
    await env.domainSql.query<{ ok: string; bad: string; other: string; first_create: number; last_end: number }>(
      `SELECT count(*) FILTER (WHERE status = 'SUCCEEDED') AS ok,
              count(*) FILTER (WHERE status IN ('FAILED', 'CANCELLED')) AS bad,
              count(*) FILTER (WHERE status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) AS other,
              extract(epoch FROM min(create_time)) * 1000 AS first_create,
              extract(epoch FROM max(end_time)) * 1000 AS last_end
         FROM workflow_runs WHERE workflow_definition_name = $1`,
      [workflow],
    )
  ).rows[0]!;
  return { succeeded: Number(r.ok), failed: Number(r.bad), other: Number(r.other), firstCreate: Number(r.first_create), lastEnd: Number(r.last_end) };
}

async function firstError(env: Env, workflow: string): Promise<string> {
  const r = await env.domainSql.query<{ error: string }>(
    `SELECT error FROM workflow_runs WHERE workflow_definition_name = $1 AND status IN ('FAILED', 'CANCELLED') LIMIT 1`,
    [workflow],
  );
  return r.rows[0]?.error ?? '';
}

// ---------------------------------------------------------------- CPU accounting

interface CpuShares {
  domain: number;
  audit: number;
  fixture: number;
  gw: number;
  postgres: number;
  client: number;
  other: number;
}

async function cpuSnapshot(env: Env) {
  return {
    domain: readProcCpuMs(env.domain.pid) ?? NaN,
    audit: readProcCpuMs(env.audit.pid) ?? NaN,
    fixture: readProcCpuMs(env.fixture.pid) ?? NaN,
    gw: env.gw ? (readProcCpuMs(env.gw.pid) ?? NaN) : 0,
    pg: await pgBackendCpu(env.admin, Object.values(DB)),
    own: ownCpuMs(),
    sys: readSystemCpu(),
  };
}

async function cpuShares(env: Env, before: Awaited<ReturnType<typeof cpuSnapshot>>, wallMs: number): Promise<CpuShares> {
  const after = await cpuSnapshot(env);
  const s: CpuShares = {
    domain: (after.domain - before.domain) / wallMs,
    audit: (after.audit - before.audit) / wallMs,
    fixture: (after.fixture - before.fixture) / wallMs,
    gw: (after.gw - before.gw) / wallMs,
    postgres: cpuDelta(before.pg, after.pg) / wallMs,
    client: (after.own - before.own) / wallMs,
    other: NaN,
  };
  if (before.sys && after.sys) {
    const busy = (after.sys.busyMs - before.sys.busyMs) / wallMs;
    s.other = Math.max(0, busy - s.domain - s.audit - s.fixture - s.gw - s.postgres - s.client);
  }
  return s;
}

/** CPU milliseconds per run or job, the figure that depends least on how busy the machine is. */
function formatCpuPerUnit(c: CpuShares, wallMs: number, units: number, side: 'ours' | 'baseline'): string {
  const per = (share: number) => (Number.isFinite(share) ? `${((share * wallMs) / units).toFixed(2)} ms` : '-');
  return side === 'ours'
    ? `CPU per run: domain ${per(c.domain)}, audit ${per(c.audit)}, MCP fixture ${per(c.fixture)}, postgres ${per(c.postgres)}`
    : `CPU per job: graphile-worker ${per(c.gw)}, postgres ${per(c.postgres)}, bench client (addJob) ${per(c.client)}`;
}

function formatCpu(c: CpuShares, side: 'ours' | 'baseline'): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const parts =
    side === 'ours'
      ? [`domain ${f(c.domain)}`, `audit ${f(c.audit)}`, `MCP fixture ${f(c.fixture)}`]
      : [`graphile-worker ${f(c.gw)}`, `(idle services: domain ${f(c.domain)}, audit ${f(c.audit)})`];
  return (
    `CPU (cores): ${parts.join(', ')}, postgres ${f(c.postgres)}, bench client ${f(c.client)}, other processes ${f(c.other)}` +
    (c.other > DISTURBED_CORES ? '  <- machine shared: figures disturbed' : '')
  );
}

// ---------------------------------------------------------------- throughput rounds

interface OursRound {
  readonly side: 'ours';
  readonly label: string;
  readonly perSec: number;
  /** N / (completion detected by polling − first start): includes the poll granularity. */
  readonly detectedPerSec: number;
  readonly startsPerSec: number;
  readonly ms: number;
  readonly cpu: CpuShares;
  readonly cpuWallMs: number;
  readonly outboxAtEnd: number;
  readonly drainMs: number;
  readonly outboxLeft: number;
  readonly peakRss: number;
  readonly failed: number;
  readonly trace?: TraceSnapshot;
}

interface BaselineRound {
  readonly side: 'baseline';
  readonly label: string;
  readonly perSec: number;
  readonly addsPerSec: number;
  readonly ms: number;
  readonly cpu: CpuShares;
  readonly cpuWallMs: number;
  readonly trace?: TraceSnapshot;
}

type Round = OursRound | BaselineRound;

async function oursBatch(env: Env, workflow: string, count: number) {
  const t0 = wallClockMs();
  await runWithConcurrency(count, IN_FLIGHT, async () => {
    await startRun(env, workflow);
  });
  const startsDone = wallClockMs();
  const detected = await waitIdle(env);
  const t = await tally(env, workflow);
  if (t.succeeded !== count) {
    throw new Error(
      `${workflow}: ${t.succeeded}/${count} runs SUCCEEDED (${t.failed} failed, ${t.other} other); first error: ${await firstError(env, workflow)}`,
    );
  }
  return { t0, startsDone, detected, lastEnd: t.lastEnd };
}

async function oursRound(env: Env, label: string, workflow: string): Promise<OursRound> {
  env.domainRss.takeIntervalMax();
  if (TRACE_FILE) await traceMark(env.domain.pid, TRACE_FILE.domain);
  const cpu0 = await cpuSnapshot(env);
  const r = await oursBatch(env, workflow, RUNS);
  const wall = r.detected - r.t0;
  const cpu = await cpuShares(env, cpu0, wall);
  const outboxAtEnd = await outboxRows(env);
  const peakRss = env.domainRss.takeIntervalMax();
  const drain = await drainOutbox(env);
  // Includes the relay delivering the round's audit entries: part of each run's cost.
  const trace = TRACE_FILE ? await traceMark(env.domain.pid, TRACE_FILE.domain) : undefined;
  const ms = r.lastEnd - r.t0;
  return {
    side: 'ours',
    label,
    perSec: (RUNS / ms) * 1000,
    detectedPerSec: (RUNS / wall) * 1000,
    startsPerSec: (RUNS / (r.startsDone - r.t0)) * 1000,
    ms,
    cpu,
    cpuWallMs: wall,
    outboxAtEnd,
    drainMs: drain.ms,
    outboxLeft: drain.left,
    peakRss,
    failed: 0,
    trace,
  };
}

async function baselineBatch(env: Env, count: number) {
  const gw = env.gw!;
  const utils = env.utils!;
  const target = env.gwCompleted + count;
  const t0 = wallClockMs();
  const completed = gw.whenCompleted(target, STALL_MS * 2);
  await runWithConcurrency(count, IN_FLIGHT, async () => {
    await utils.addJob('noop', {});
  });
  const addsDone = wallClockMs();
  const done = await completed;
  env.gwCompleted = target;
  return { t0, addsDone, at: done.at };
}

async function baselineRound(env: Env, label: string): Promise<BaselineRound> {
  if (TRACE_FILE) await traceMark(env.gw!.pid, TRACE_FILE.gw);
  const cpu0 = await cpuSnapshot(env);
  const r = await baselineBatch(env, RUNS);
  // The child's clock at the last completion; CPU until this process heard of it.
  const cpuWallMs = wallClockMs() - r.t0;
  const cpu = await cpuShares(env, cpu0, cpuWallMs);
  const trace = TRACE_FILE ? await traceMark(env.gw!.pid, TRACE_FILE.gw) : undefined;
  const ms = r.at - r.t0;
  return { side: 'baseline', label, perSec: (RUNS / ms) * 1000, addsPerSec: (RUNS / (r.addsDone - r.t0)) * 1000, ms, cpu, cpuWallMs, trace };
}

function formatRound(r: Round): string {
  if (r.side === 'ours') {
    return [
      `  ${r.label.padEnd(10)} ours      ${fmt.int(RUNS)} runs in ${fmt.s(r.ms)} = ${fmt.int(r.perSec)} runs/s` +
        ` (completion seen by polling: ${fmt.int(r.detectedPerSec)}/s; StartWorkflowRun ${fmt.int(r.startsPerSec)}/s while running)`,
      `             ${formatCpu(r.cpu, 'ours')}`,
      `             ${formatCpuPerUnit(r.cpu, r.cpuWallMs, RUNS, 'ours')}`,
      `             domain peak RSS in the round ${fmt.mib(r.peakRss)}; audit outbox at the end ${fmt.int(r.outboxAtEnd)} rows, ${r.outboxLeft ? `NOT drained: ${fmt.int(r.outboxLeft)} rows left after ${fmt.s(r.drainMs)}` : `drained ${fmt.s(r.drainMs)} later (untimed)`}`,
      ...(r.trace ? [indent(`SQL from the domain process (engine, API and relay): ${formatTrace(r.trace, RUNS, 'run')}`)] : []),
    ].join('\n');
  }
  return [
    `  ${r.label.padEnd(10)} baseline  ${fmt.int(RUNS)} jobs in ${fmt.s(r.ms)} = ${fmt.int(r.perSec)} jobs/s (addJob ${fmt.int(r.addsPerSec)}/s while running)`,
    `             ${formatCpu(r.cpu, 'baseline')}`,
    `             ${formatCpuPerUnit(r.cpu, r.cpuWallMs, RUNS, 'baseline')}`,
    ...(r.trace ? [indent(`SQL from the graphile-worker process (adds not included): ${formatTrace(r.trace, RUNS, 'job')}`)] : []),
  ].join('\n');
}

const indent = (text: string) => text.split('\n').map((l) => `             ${l}`).join('\n');

// ---------------------------------------------------------------- latency

interface LatencyResult {
  ours: { total: number[]; rpc: number[]; serverSide: number[]; claim: number[]; claimToStep: number[] };
  baseline: { total: number[]; add: number[] };
  /** `SELECT 1` round trips from this process between samples: how responsive the machine was. */
  ping: number[];
}

async function oursLatencySample(env: Env, workflow: string) {
  const before = wallClockMs();
  const started = await startRun(env, workflow);
  const responded = wallClockMs();
  let run: WorkflowRun | undefined;
  await sleep(5);
  for (let i = 0; ; i++) {
    run = (await env.workflows.getWorkflowRun({ name: started.name }, { timeoutMs: CALL_TIMEOUT_MS })).workflowRun!;
    if (run.status === WorkflowRunStatus.SUCCEEDED) break;
    if (run.status === WorkflowRunStatus.FAILED || run.status === WorkflowRunStatus.CANCELLED) {
      throw new Error(`latency run ${run.name} ended ${WorkflowRunStatus[run.status]}: ${run.error}`);
    }
    if (i > 5_000) throw new Error(`latency run ${run.name} still ${WorkflowRunStatus[run.status]}`);
    await sleep(5);
  }
  const step = run.steps[0];
  if (!step || step.status !== StepRunStatus.SUCCEEDED) throw new Error(`latency run ${run.name}: step not SUCCEEDED`);
  const stepStart = timestampToMs(step.startTime);
  const create = timestampToMs(run.createTime);
  const claim = timestampToMs(run.startTime);
  return { total: stepStart - before, rpc: responded - before, serverSide: stepStart - create, claim: claim - create, claimToStep: stepStart - claim };
}

async function baselineLatencySample(env: Env, key: string) {
  const before = wallClockMs();
  await env.utils!.addJob('noop', { key });
  const added = wallClockMs();
  const at = await env.gw!.whenStarted(key, 30_000);
  // Idle again (the job completed) before the next sample.
  env.gwCompleted += 1;
  await env.gw!.whenCompleted(env.gwCompleted, 30_000);
  return { total: at - before, add: added - before };
}

async function latencyPhase(env: Env, workflow: string): Promise<LatencyResult> {
  const res: LatencyResult = { ours: { total: [], rpc: [], serverSide: [], claim: [], claimToStep: [] }, baseline: { total: [], add: [] }, ping: [] };
  await waitIdle(env);
  await drainOutbox(env);
  for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
    const timed = i >= LATENCY_WARMUP;
    const o = await oursLatencySample(env, workflow);
    // Let the relay deliver this run's audit entries, so the next start finds the engine and relay idle.
    await sleep(LATENCY_PAUSE_MS);
    if (timed) {
      res.ours.total.push(o.total);
      res.ours.rpc.push(o.rpc);
      res.ours.serverSide.push(o.serverSide);
      res.ours.claim.push(o.claim);
      res.ours.claimToStep.push(o.claimToStep);
    }
    const p0 = wallClockMs();
    await env.admin.query('SELECT 1');
    if (timed) res.ping.push(wallClockMs() - p0);
    if (env.gw) {
      const b = await baselineLatencySample(env, `lat-${i}`);
      await sleep(LATENCY_PAUSE_MS);
      if (timed) {
        res.baseline.total.push(b.total);
        res.baseline.add.push(b.add);
      }
    }
  }
  return res;
}

// ---------------------------------------------------------------- CPU profile of the domain process

/** The domain service's code and the engine's libraries, before the generic rules. */
const ENGINE_PROFILE_RULES: readonly CategoryRule[] = [
  { category: 'MCP client: @modelcontextprotocol/sdk', url: /@modelcontextprotocol\// },
  { category: 'MCP client: fetch (undici)', url: /undici/ },
  { category: 'engine code (services/domain/src/engine)', url: /domain\/src\/engine\// },
  { category: 'workflow API + run repository (services/domain/src/workflows)', url: /domain\/src\/workflows\// },
  { category: 'audit outbox + relay (services/domain/src/audit-outbox)', url: /domain\/src\/audit-outbox\// },
  ...DEFAULT_RULES.filter((r) => !r.anywhere),
];

/** Summarises the largest profile the domain process (pid) wrote into `dir`. */
function summarizeDomainProfile(dir: string, pid: number): string {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && f.split('.').includes(String(pid)));
  } catch {
    return `no profile in ${dir}`;
  }
  const largest = files.map((f) => path.join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!largest) return `no profile of pid ${pid} in ${dir}`;
  const profile = JSON.parse(readFileSync(largest, 'utf8')) as Parameters<typeof summarizeCpuProfile>[0];
  return `${largest} (whole process life: start-up, warm-up, rounds, latency phase)\n${formatCpuProfileSummary(summarizeCpuProfile(profile, ENGINE_PROFILE_RULES, 30))}`;
}

// ---------------------------------------------------------------- main

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);

async function main(): Promise<number> {
  const quiet = await waitForQuietMachine({ maxWaitS: WAIT_QUIET_S, log });
  // The time budget and the reported run time start after the wait.
  const benchStart = wallClockMs();
  const loadStart = loadAvg();
  const children: { stop(graceMs?: number): Promise<unknown> }[] = [];
  let admin: Client | undefined;
  let domainSql: Client | undefined;
  let utils: WorkerUtils | undefined;
  let domainRss: RssSampler | undefined;
  let cleanedUp = false;
  const cleanup = async (): Promise<void> => {
    if (cleanedUp) return;
    cleanedUp = true;
    domainRss?.stop();
    await Promise.resolve(utils?.release()).catch(() => undefined);
    await domainSql?.end().catch(() => undefined);
    // Reverse start order: the domain drains into the audit service, which outlives it.
    for (const c of [...children].reverse()) await c.stop(10_000).catch(() => undefined);
    await admin?.end().catch(() => undefined);
    for (const db of Object.values(DB)) await dropDatabase(ADMIN_URL, db).catch((err: unknown) => log(`could not drop ${db}: ${String(err)}`));
  };
  cleanUpOnSignal('stopping the processes and dropping the benchmark databases', cleanup);

  try {
    log('workflow engine benchmark: one-step noop workflows (Streamable HTTP) vs. graphile-worker noop jobs');
    if (AUDIT_OFF) log('DIAGNOSTIC RUN: AUDIT_ENABLED=false (BENCH_ENGINE_DIAG_AUDIT_OFF=1) — not the production setup, goals do not apply');
    log(`PostgreSQL: ${redactUrl(ADMIN_URL)} (fresh databases ${Object.values(DB).join(', ')}, dropped at the end)`);
    for (const db of Object.values(DB)) {
      await dropDatabase(ADMIN_URL, db);
      await ensureDatabase(ADMIN_URL, db);
    }
    admin = new Client({ connectionString: ADMIN_URL, application_name: 'engine-bench-admin' });
    admin.on('error', () => undefined);
    await admin.connect();
    log(formatMachine(await describeMachine(admin)));
    log(`load average at start (1 / 5 / 15 min): ${loadStart}`);

    // MCP fixture server (its own process, like a real MCP server).
    const fixture = startChildService({ entry: 'bench/lib/mcp-fixture-child.ts', env: { ...process.env } });
    children.push(fixture);
    const fixtureUrl = await waitForLine(fixture, /listening on (\S+)/, 30_000);

    // Audit service.
    const auditPort = await findFreePort();
    const auditEnv: NodeJS.ProcessEnv = {
      ...process.env,
      AUDIT_DATABASE_URL: databaseUrl(ADMIN_URL, DB.audit),
      AUDIT_PORT: String(auditPort),
      AUDIT_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SHUTDOWN_GRACE_MS: '2000',
    };
    delete auditEnv.DATABASE_URL;
    delete auditEnv.OTEL_EXPORTER_OTLP_ENDPOINT;
    const audit = startChildService({ entry: serviceEntry('audit'), env: auditEnv });
    children.push(audit);
    const auditUrl = `http://127.0.0.1:${auditPort}`;
    await waitForServing({ baseUrl: auditUrl, child: audit, timeoutMs: 60_000 });

    // Domain service: API + engine in one process, auditing ON.
    const domainPort = await findFreePort();
    const domainEnv: NodeJS.ProcessEnv = {
      ...process.env,
      DOMAIN_DATABASE_URL: databaseUrl(ADMIN_URL, DB.domain),
      DOMAIN_PORT: String(domainPort),
      DOMAIN_HOST: '127.0.0.1',
      AUDIT_URL: auditUrl,
      AUDIT_ENABLED: AUDIT_OFF ? 'false' : 'true',
      DOMAIN_ROLE: 'all',
      ENGINE_CONCURRENCY: String(CONCURRENCY),
      LOG_LEVEL: process.env.LOG_LEVEL?.trim() || 'warn',
      SHUTDOWN_GRACE_MS: '2000',
    };
    delete domainEnv.DATABASE_URL;
    delete domainEnv.OTEL_EXPORTER_OTLP_ENDPOINT;
    if (TRACE_FILE) domainEnv.PG_TRACE_FILE = TRACE_FILE.domain;
    const domain = startChildService({
      entry: serviceEntry('domain'),
      env: domainEnv,
      extraNodeArgs: [...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []), ...(TRACE_FILE ? ['--require', PG_TRACER] : [])],
    });
    children.push(domain);
    domainRss = startRssSampler(domain.pid, 200);
    const domainUrl = `http://127.0.0.1:${domainPort}`;
    const domainReady = await waitForServing({ baseUrl: domainUrl, child: domain, timeoutMs: 60_000 });
    const settings = Object.entries(domainEnv)
      .filter(([k, v]) => PASS_THROUGH.test(k) && v !== undefined && v !== '')
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`);
    log(`domain service: pid ${domain.pid}, DOMAIN_ROLE=all, SERVING after ${domainReady} ms; settings: ${settings.join(' ')}`);
    log(`audit service: pid ${audit.pid}; MCP fixture: pid ${fixture.pid} at ${fixtureUrl}`);

    domainSql = new Client({ connectionString: databaseUrl(ADMIN_URL, DB.domain), application_name: 'engine-bench' });
    domainSql.on('error', () => undefined);
    await domainSql.connect();
    const transport = createRpcClientTransport({ baseUrl: domainUrl, protocol: 'grpc' });
    const mcp = createClient(McpDefinitionService, transport);
    const workflows = createClient(WorkflowService, transport);
    await mcp.createMcpDefinition(
      { mcpDefinition: { name: MCP_SERVER, description: 'MCP fixture over Streamable HTTP', version: '1.0.0', transport: { case: 'streamableHttp', value: { url: fixtureUrl } } } },
      { headers: HEADERS, timeoutMs: CALL_TIMEOUT_MS },
    );

    // Baseline: graphile-worker in its own process, jobs added from here.
    let gw: GraphileWorkerChild | undefined;
    if (BASELINE) {
      gw = await startGraphileWorkerChild({
        databaseUrl: databaseUrl(ADMIN_URL, DB.gw),
        concurrency: CONCURRENCY,
        ...(TRACE_FILE ? { extraNodeArgs: ['--require', PG_TRACER], env: { PG_TRACE_FILE: TRACE_FILE.gw } } : {}),
      });
      children.push(gw);
      utils = await makeWorkerUtils({ connectionString: databaseUrl(ADMIN_URL, DB.gw), maxPoolSize: IN_FLIGHT });
      log(`graphile-worker 0.16 baseline: pid ${gw.pid}, run() concurrency ${CONCURRENCY}, default settings (unbatched), WorkerUtils pool ${IN_FLIGHT}`);
    } else {
      log('graphile-worker baseline: skipped (BENCH_ENGINE_BASELINE=0)');
    }

    const env: Env = { admin, domainSql, workflows, domain, audit, fixture, gw, utils, gwCompleted: 0, domainRss };

    // Warm-up (untimed): JIT, pools, the MCP session, graphile-worker's prepared statements.
    const warmWorkflow = await defineWorkflow(workflows, 'bench-warmup');
    log(`\n== warm-up: ${fmt.int(WARMUP)} runs${gw ? ` and ${fmt.int(WARMUP)} jobs` : ''} (untimed)`);
    await oursBatch(env, warmWorkflow, WARMUP);
    await drainOutbox(env);
    if (gw) await baselineBatch(env, WARMUP);

    const rounds: Round[] = [];
    if (PHASES.has('throughput')) {
      const order: ('ours' | 'baseline')[] = [];
      for (let i = 0; i < ROUNDS; i++) order.push(...(i % 2 === 0 ? (['ours', 'baseline'] as const) : (['baseline', 'ours'] as const)));
      const sides = gw ? order : order.filter((s) => s === 'ours');
      log(
        `\n== throughput: ${fmt.int(RUNS)} per round, ${IN_FLIGHT} starts/adds in flight, concurrency ${CONCURRENCY}; rounds ${sides.map((s) => (s === 'ours' ? 'A' : 'B')).join(' ')} (A ours, B baseline)`,
      );
      const n = { ours: 0, baseline: 0 };
      const slowest = { ours: 0, baseline: 0 };
      // Rough cost of the latency phase: 2 samples and 2 pauses per iteration, ~50 ms of work.
      const latencyReserveMs = PHASES.has('latency') ? (LATENCY_WARMUP + LATENCY_SAMPLES) * (2 * LATENCY_PAUSE_MS + 60) : 0;
      for (const [i, side] of sides.entries()) {
        // The first pair always runs; later rounds only when they fit the budget.
        if (i >= 2) {
          const projected = (wallClockMs() - benchStart + slowest[side] + latencyReserveMs) / 1000;
          if (projected > BUDGET_S) {
            log(`  (skipping the last ${sides.length - i} round(s): projected ${projected.toFixed(0)} s > BENCH_ENGINE_BUDGET_S=${BUDGET_S})`);
            break;
          }
        }
        n[side]++;
        const roundStart = wallClockMs();
        await admin.query('CHECKPOINT');
        const r =
          side === 'ours'
            ? await oursRound(env, `A${n.ours}`, await defineWorkflow(workflows, `bench-round-${n.ours}`))
            : await baselineRound(env, `B${n.baseline}`);
        rounds.push(r);
        slowest[side] = Math.max(slowest[side], wallClockMs() - roundStart);
        log(formatRound(r));
      }
    }

    let latency: LatencyResult | undefined;
    if (PHASES.has('latency')) {
      log(
        `\n== start → first step latency, engine idle: ${LATENCY_SAMPLES} sequential samples per side (after ${LATENCY_WARMUP} untimed), interleaved, ${LATENCY_PAUSE_MS} ms pause after each`,
      );
      const cpu0 = await cpuSnapshot(env);
      const t0 = wallClockMs();
      latency = await latencyPhase(env, await defineWorkflow(workflows, 'bench-latency'));
      const cpu = await cpuShares(env, cpu0, wallClockMs() - t0);
      const row = (label: string, xs: number[]) => {
        const s = summarize(xs);
        return [label, fmt.ms(s.p50), fmt.ms(s.p90), fmt.ms(s.p99), fmt.ms(s.max), fmt.ms(s.mean)];
      };
      const rows = [
        row('ours: StartWorkflowRun call → steps[0].start_time', latency.ours.total),
        row('  StartWorkflowRun round trip', latency.ours.rpc),
        row('  create_time → steps[0].start_time (server side)', latency.ours.serverSide),
        row('  create_time → run start_time (claim)', latency.ours.claim),
        row('  claim → steps[0].start_time', latency.ours.claimToStep),
        ...(latency.baseline.total.length
          ? [row('baseline: addJob call → task entered', latency.baseline.total), row('  addJob round trip', latency.baseline.add)]
          : []),
        row('machine responsiveness: SELECT 1 round trip', latency.ping),
      ];
      log(formatTable(['latency', 'p50', 'p90', 'p99', 'max', 'mean'], rows));
      log(`  during the phase: ${formatCpu(cpu, 'ours')}`);
      log(
        '  clocks: client wall clock (performance.timeOrigin + now()) vs. the step start_time PostgreSQL stamped (clock_timestamp(), returned at ms resolution)' +
          ' and create_time stamped by the domain process; all read this machine\'s clock',
      );
    }

    // ------------------------------------------------------------ summary
    const domainMem = domainRss.stop();
    const domainPeak = Math.max(domainMem.maxSampledBytes, domainMem.hwmBytes ?? 0);
    const ours = rounds.filter((r): r is OursRound => r.side === 'ours');
    const base = rounds.filter((r): r is BaselineRound => r.side === 'baseline');
    const oursRate = mean(ours.map((r) => r.perSec));
    const baseRate = mean(base.map((r) => r.perSec));
    const ratio = oursRate / baseRate;
    const lat = latency?.ours.total.length ? summarize(latency.ours.total) : undefined;
    const baseLat: LatencySummary | undefined = latency?.baseline.total.length ? summarize(latency.baseline.total) : undefined;
    const loadEnd = loadAvg();

    const goals: Goal[] = [
      goal(`throughput ratio ours / graphile-worker >= ${GOALS.ratio}`, ratio, '>=', GOALS.ratio),
      goal(`start → first step p99 < ${GOALS.latencyP99Ms} ms`, lat?.p99 ?? NaN, '<', GOALS.latencyP99Ms),
    ];
    const [gRatio, gLat] = goals as [Goal, Goal];
    const each = (rs: readonly Round[]) => rs.map((r) => fmt.int(r.perSec)).join(', ');
    log('\n== summary');
    log(
      formatTable(
        ['measure', 'value', 'goal', 'verdict'],
        [
          [`ours: runs/s end to end, ${AUDIT_OFF ? 'DIAGNOSTIC auditing OFF' : 'auditing ON'} (mean of ${each(ours) || '-'})`, fmt.int(oursRate), '', ''],
          [`graphile-worker: noop jobs/s, concurrency ${CONCURRENCY} (mean of ${each(base) || '-'})`, fmt.int(baseRate), '', ''],
          ['throughput ratio ours / graphile-worker', Number.isFinite(ratio) ? ratio.toFixed(3) : '-', `>= ${GOALS.ratio}`, gRatio.verdict],
          ['ours: start → first step begins p50 (idle)', fmt.ms(lat?.p50 ?? NaN), '', ''],
          ['ours: start → first step begins p99 (idle)', fmt.ms(lat?.p99 ?? NaN), `< ${GOALS.latencyP99Ms} ms`, gLat.verdict],
          ['graphile-worker: add → task start p50 (idle)', fmt.ms(baseLat?.p50 ?? NaN), '', ''],
          ['graphile-worker: add → task start p99 (idle)', fmt.ms(baseLat?.p99 ?? NaN), '', ''],
          [`domain service peak RSS (VmHWM ${fmt.mib(domainMem.hwmBytes ?? NaN)}, sampled ${fmt.mib(domainMem.maxSampledBytes)})`, fmt.mib(domainPeak), '', ''],
        ],
      ),
    );
    const disturbed = [...rounds.map((r) => r.cpu.other)].filter((o) => o > DISTURBED_CORES).length;
    log(`load average (1 / 5 / 15 min): start ${loadStart}, end ${loadEnd}${disturbed ? `; ${disturbed} of ${rounds.length} timed rounds ran beside other busy processes` : ''}`);
    log(goalsLine(goals));
    log(`run time: ${fmt.s(wallClockMs() - benchStart)}${quiet.waitedMs > 0 ? ` (+ ${fmt.s(quiet.waitedMs)} waiting for a quiet machine)` : ''}`);
    await cleanup();
    if (CPU_PROF_DIR) log(`\n== domain CPU profile\n${summarizeDomainProfile(CPU_PROF_DIR, domain.pid)}`);
    return 0;
  } finally {
    await cleanup();
  }
}

/** Waits until the child printed a line matching `re`; returns the first capture group. */
async function waitForLine(child: ChildService, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(child.output());
    if (m) return m[1]!;
    if (child.process.exitCode !== null || child.process.signalCode !== null) throw new Error(`child exited: ${child.output()}`);
    if (Date.now() > deadline) throw new Error(`no line matching ${re} after ${timeoutMs} ms: ${child.output()}`);
    await sleep(50);
  }
}

runBench('engine', main);
