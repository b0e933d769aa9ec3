import path from 'node:path';
import { toJson, type JsonObject } from '@bufbuild/protobuf';
import { randomBytes, randomUUID } from 'node:crypto';
import { ActionType, type ActionLogEntry } from '../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { StepRunStatus, WorkflowRunSchema, WorkflowRunStatus, type WorkflowRun } from '../shared/gen/mcpbackend/workflow/v1/workflow_run_pb';
import { startFixtureHttpServer, type FixtureHttpServer } from './fixtures/mcp-fixture-server';
import { fixtureStats } from './support/fixture-stats';
import { startStack, type Stack } from './support/stack';
import type { ServiceProcess } from './support/service-process';

/**
 * The workflow engine as a real process (DOMAIN_ROLE=engine) beside the API process, calling
 * real MCP servers (the fixture over Streamable HTTP, in this process, and over stdio, as a
 * child of the engine).
 */
let stack: Stack;
let engine: ServiceProcess;
let http: FixtureHttpServer;
const HTTP_SERVER = 'io.github.fixture/http';
const STDIO_SERVER = 'io.github.fixture/stdio';
const FIXTURE = path.resolve(__dirname, 'fixtures/mcp-fixture-server.ts');
const MAX_OUTPUT = 64 * 1024;
const ENGINE_ENV = {
  ENGINE_LEASE_MS: '3000',
  ENGINE_HEARTBEAT_MS: '500',
  ENGINE_POLL_INTERVAL_MS: '200',
  ENGINE_MAX_STEP_OUTPUT_BYTES: String(MAX_OUTPUT),
  // An engine SIGKILLed mid-delivery leaves the audit entries its relay had leased until the
  // lease ends (30 s by default); short here, so the audit trail is complete within the test.
  AUDIT_RELAY_LEASE_MS: '2000',
  AUDIT_RELAY_TIMEOUT_MS: '1000',
};

const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1e6 });
const fastRetry = (maxAttempts: number) => ({ maxAttempts, initialBackoff: ms(50), backoffMultiplier: 2, maxBackoff: ms(200) });
const TERMINAL = [WorkflowRunStatus.SUCCEEDED, WorkflowRunStatus.FAILED, WorkflowRunStatus.CANCELLED];

beforeAll(async () => {
  http = await startFixtureHttpServer();
  stack = await startStack({ domain: { DOMAIN_ROLE: 'api' }, engine: ENGINE_ENV });
  engine = await stack.addEngine();
  await stack.mcp.createMcpDefinition({
    mcpDefinition: { name: HTTP_SERVER, description: 'fixture over HTTP', version: '1.0.0', transport: { case: 'streamableHttp', value: { url: http.url } } },
  });
  await stack.mcp.createMcpDefinition({
    mcpDefinition: {
      name: STDIO_SERVER,
      description: 'fixture over stdio',
      version: '1.0.0',
      transport: { case: 'stdio', value: { command: process.execPath, args: ['--import', 'tsx', FIXTURE, '--stdio'] } },
    },
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
  await http?.close();
});

type StepInit = { id: string; tool: string; arguments?: JsonObject; dependsOn?: string[]; server?: string; timeoutMs?: number; maxAttempts?: number };

async function defineWorkflow(steps: StepInit[], schema: JsonObject = {}, runTimeoutMs?: number): Promise<string> {
  const name = `wf-${randomBytes(4).toString('hex')}`;
  await stack.workflows.createWorkflowDefinition({
    workflowDefinition: {
      name,
      parametersSchema: schema,
      runTimeout: runTimeoutMs === undefined ? undefined : ms(runTimeoutMs),
      steps: steps.map((s) => ({
        id: s.id,
        mcpDefinition: s.server ?? HTTP_SERVER,
        tool: s.tool,
        arguments: s.arguments ?? {},
        dependsOn: s.dependsOn ?? [],
        retryPolicy: fastRetry(s.maxAttempts ?? 1),
        timeout: ms(s.timeoutMs ?? 10_000),
      })),
    },
  });
  return name;
}

async function start(workflow: string, parameters: JsonObject = {}, headers: Record<string, string> = {}): Promise<WorkflowRun> {
  return (await stack.workflows.startWorkflowRun({ workflowDefinition: workflow, parameters }, { headers })).workflowRun!;
}

/** Follows the run with WatchWorkflowRun until it ends; returns every state seen. */
async function watch(name: string, timeoutMs = 30_000): Promise<WorkflowRun[]> {
  const seen: WorkflowRun[] = [];
  for await (const msg of stack.workflows.watchWorkflowRun({ name }, { timeoutMs })) seen.push(msg.workflowRun!);
  return seen;
}

async function waitFor(name: string, until: (r: WorkflowRun) => boolean, timeoutMs = 20_000): Promise<WorkflowRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = (await stack.workflows.getWorkflowRun({ name })).workflowRun!;
    if (until(run)) return run;
    if (Date.now() > deadline) throw new Error(`timed out waiting on ${name}: ${WorkflowRunStatus[run.status]}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const finished = (name: string, timeoutMs?: number) => waitFor(name, (r) => TERMINAL.includes(r.status), timeoutMs);

async function auditOf(runName: string, count: number, timeoutMs = 15_000): Promise<ActionLogEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await stack.auditClient.listActionLogEntries({ filter: `entity_id = "${runName}"`, pageSize: 1000 });
    if (res.actionLogEntries.length >= count || Date.now() > deadline) return res.actionLogEntries;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const step = (run: WorkflowRun, id: string) => run.steps.find((s) => s.stepId === id)!;
const time = (t: { seconds: bigint; nanos: number } | undefined) => Number(t!.seconds) * 1000 + t!.nanos / 1e6;

describe('execution', () => {
  it.each([
    ['Streamable HTTP', HTTP_SERVER],
    ['stdio', STDIO_SERVER],
  ])('runs a four-step workflow over %s: a parallel pair, outputs passed on', async (_t, server) => {
    const wf = await defineWorkflow(
      [
        { id: 'sum', tool: 'add', arguments: { a: '${params.x}', b: 1 }, server },
        { id: 'left', tool: 'sleep', arguments: { ms: 400 }, dependsOn: ['sum'], server },
        { id: 'right', tool: 'sleep', arguments: { ms: 400 }, dependsOn: ['sum'], server },
        { id: 'report', tool: 'echo', arguments: { text: 'sum=${steps.sum.output.sum}' }, dependsOn: ['left', 'right'], server },
      ],
      { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] },
    );
    const run = await start(wf, { x: 41 });
    const done = await finished(run.name);
    expect(WorkflowRunStatus[done.status]).toBe('SUCCEEDED');
    expect(step(done, 'sum').output).toMatchObject({ kind: { case: 'structValue' } });
    expect(JSON.stringify(step(done, 'sum').output)).toContain('42');
    expect(JSON.stringify(step(done, 'report').output)).toContain('sum=42');
    // The independent pair overlapped in time.
    const [l, r] = [step(done, 'left'), step(done, 'right')];
    expect(time(l.startTime)).toBeLessThan(time(r.endTime));
    expect(time(r.startTime)).toBeLessThan(time(l.endTime));
    expect(done.steps.every((s) => s.status === StepRunStatus.SUCCEEDED && s.attempt === 1)).toBe(true);
  });

  it('passes the stable idempotency key runId:stepId in the tool call _meta', async () => {
    const wf = await defineWorkflow([{ id: 'only', tool: 'noop' }]);
    const run = await start(wf);
    await finished(run.name);
    const stats = await fixtureStats(http.url);
    expect(stats.lastMeta).toMatchObject({ idempotencyKey: `${run.name.split('/')[1]}:only` });
  });

  it('retries a failing step with backoff until it succeeds', async () => {
    const wf = await defineWorkflow([{ id: 'flaky', tool: 'flaky', arguments: { key: randomUUID(), failures: 2 }, maxAttempts: 3 }]);
    const run = await start(wf);
    const done = await finished(run.name);
    expect(WorkflowRunStatus[done.status]).toBe('SUCCEEDED');
    expect(step(done, 'flaky').attempt).toBe(3);
    const attempts = (await auditOf(run.name, 6)).filter((e) => e.actionType === ActionType.EXECUTE);
    expect(attempts.map((e) => [e.details!.attempt, e.details!.outcome, e.details!.willRetry])).toEqual([
      [1, 'FAILED', true],
      [2, 'FAILED', true],
      [3, 'SUCCEEDED', undefined],
    ]);
  });

  it('fails the run, naming the step, when retries are exhausted', async () => {
    const wf = await defineWorkflow([
      { id: 'ok', tool: 'noop' },
      { id: 'boom', tool: 'always_fail', arguments: { message: 'the sky fell' }, dependsOn: ['ok'], maxAttempts: 2 },
      { id: 'after', tool: 'noop', dependsOn: ['boom'] },
    ]);
    const run = await start(wf);
    const done = await finished(run.name);
    expect(WorkflowRunStatus[done.status]).toBe('FAILED');
    expect(done.failedStep).toBe('boom');
    expect(done.error).toMatch(/step "boom" failed: .*the sky fell/);
    expect(step(done, 'boom')).toMatchObject({ status: StepRunStatus.FAILED, attempt: 2 });
    expect(step(done, 'after').status).toBe(StepRunStatus.CANCELLED);
  });

  it('fails a step for good when its output is over ENGINE_MAX_STEP_OUTPUT_BYTES, keeping none of it', async () => {
    const wf = await defineWorkflow(
      [{ id: 'big', tool: 'echo', arguments: { text: '${params.text}' }, maxAttempts: 3 }],
      { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    );
    const fits = await finished((await start(wf, { text: 'x'.repeat(MAX_OUTPUT - 1_000) })).name);
    expect(WorkflowRunStatus[fits.status]).toBe('SUCCEEDED');

    const done = await finished((await start(wf, { text: 'x'.repeat(MAX_OUTPUT + 1) })).name);
    expect(WorkflowRunStatus[done.status]).toBe('FAILED');
    expect(done.error).toMatch(new RegExp(`step "big" failed: tool "echo" returned \\d+ bytes of output; the limit is ${MAX_OUTPUT}`));
    // Not retried (the same call returns the same), and nothing of the output stored.
    expect(step(done, 'big')).toMatchObject({ status: StepRunStatus.FAILED, attempt: 1 });
    expect(step(done, 'big').output).toBeUndefined();
  });

  it('fails an attempt that exceeds the step timeout', async () => {
    const wf = await defineWorkflow([{ id: 'slow', tool: 'sleep', arguments: { ms: 10_000 }, timeoutMs: 300 }]);
    const run = await start(wf);
    const done = await finished(run.name);
    expect(WorkflowRunStatus[done.status]).toBe('FAILED');
    expect(done.error).toMatch(/timed out after 300 ms/);
  });

  it('fails a run past its run deadline, interrupting the attempt in flight', async () => {
    const before = await fixtureStats(http.url);
    const wf = await defineWorkflow([{ id: 'long', tool: 'sleep', arguments: { ms: 20_000 }, timeoutMs: 30_000 }], {}, 1_000);
    const run = await start(wf);
    const done = await finished(run.name, 10_000);
    expect(WorkflowRunStatus[done.status]).toBe('FAILED');
    expect(done.error).toBe('the run deadline of 1 s passed');
    expect(step(done, 'long').error).toBe('the run deadline passed during the attempt');
    expect(time(done.endTime) - time(done.startTime)).toBeLessThan(5_000);
    // The server saw the call cancelled rather than left to sleep out its 20 s.
    expect((await fixtureStats(http.url)).cancelled).toBeGreaterThan(before.cancelled);
  });

  it('counts a transport failure (the server crashed mid-call) as a failed attempt, and retries it', async () => {
    const wf = await defineWorkflow([{ id: 'boom', tool: 'crash', server: STDIO_SERVER, maxAttempts: 2 }]);
    const run = await start(wf);
    const done = await finished(run.name, 30_000);
    expect(WorkflowRunStatus[done.status]).toBe('FAILED');
    expect(step(done, 'boom').attempt).toBe(2);
    const attempts = (await auditOf(run.name, 5)).filter((e) => e.actionType === ActionType.EXECUTE);
    expect(attempts.map((e) => [e.details!.attempt, e.details!.outcome, e.details!.willRetry])).toEqual([
      [1, 'FAILED', true],
      [2, 'FAILED', false],
    ]);
    // And the crashed server was replaced: the next call on it works.
    const next = await start(await defineWorkflow([{ id: 'after', tool: 'echo', arguments: { text: 'back' }, server: STDIO_SERVER }]));
    expect(WorkflowRunStatus[(await finished(next.name, 30_000)).status]).toBe('SUCCEEDED');
  }, 60_000);

  it('fails clearly on an unknown tool or a server that cannot start, and keeps running', async () => {
    const unknownTool = await defineWorkflow([{ id: 'x', tool: 'no_such_tool' }]);
    const a = await finished((await start(unknownTool)).name);
    expect(WorkflowRunStatus[a.status]).toBe('FAILED');
    expect(a.error).toMatch(/no_such_tool/);

    const broken = `io.github.fixture/broken-${randomBytes(3).toString('hex')}`;
    await stack.mcp.createMcpDefinition({
      mcpDefinition: { name: broken, description: 'cannot start', version: '1.0.0', transport: { case: 'stdio', value: { command: '/nonexistent/mcp-server' } } },
    });
    const cannotStart = await defineWorkflow([{ id: 'x', tool: 'echo', server: broken }]);
    const b = await finished((await start(cannotStart)).name);
    expect(WorkflowRunStatus[b.status]).toBe('FAILED');
    expect(b.error).toMatch(/cannot start|ENOENT|nonexistent/);

    const fine = await defineWorkflow([{ id: 'x', tool: 'echo', arguments: { text: 'still here' } }]);
    expect(WorkflowRunStatus[(await finished((await start(fine)).name)).status]).toBe('SUCCEEDED');
  });
  it('keeps secrets out of stored errors and the logs even when the server prints them', async () => {
    const secret = `sk-${randomBytes(8).toString('hex')}`;
    const leaky = `io.github.fixture/leaky-${randomBytes(3).toString('hex')}`;
    await stack.mcp.createMcpDefinition({
      mcpDefinition: {
        name: leaky,
        description: 'prints its key and dies',
        version: '1.0.0',
        transport: {
          case: 'stdio',
          value: {
            command: process.execPath,
            args: ['-e', 'console.error("bad key " + process.env.API_KEY); process.exit(1)'],
            env: [{ name: 'API_KEY', value: secret, secret: true }],
          },
        },
      },
    });
    const wf = await defineWorkflow([{ id: 'x', tool: 'echo', server: leaky }]);
    const run = await start(wf);
    const done = await finished(run.name);
    expect(WorkflowRunStatus[done.status]).toBe('FAILED');
    expect(done.error).toContain('bad key [redacted]');
    expect(JSON.stringify(toJson(WorkflowRunSchema, done))).not.toContain(secret);
    const entries = await auditOf(run.name, 4);
    expect(JSON.stringify(entries.map((e) => e.details))).not.toContain(secret);
    // The engine logged the failure (and the server's stderr) at warn level, scrubbed.
    expect(engine.output.some((line) => line.includes('bad key [redacted]'))).toBe(true);
    expect(engine.output.join('\n')).not.toContain(secret);
  });
});

describe('WatchWorkflowRun', () => {
  it('streams the run from PENDING to its end', async () => {
    const wf = await defineWorkflow([
      { id: 'a', tool: 'sleep', arguments: { ms: 300 } },
      { id: 'b', tool: 'noop', dependsOn: ['a'] },
    ]);
    const run = await start(wf);
    const seen = await watch(run.name);
    const statuses = seen.map((r) => WorkflowRunStatus[r.status]);
    expect(statuses[statuses.length - 1]).toBe('SUCCEEDED');
    expect(statuses).toContain('RUNNING');
    // Step progress is streamed too, not only run status changes.
    expect(seen.some((r) => step(r, 'a').status === StepRunStatus.RUNNING)).toBe(true);
  });
});

describe('cancellation', () => {
  it('cancels a RUNNING run: the in-flight tool call is interrupted and no further step starts', async () => {
    const before = await fixtureStats(http.url);
    const wf = await defineWorkflow([
      { id: 'long', tool: 'sleep', arguments: { ms: 30_000 }, timeoutMs: 60_000 },
      { id: 'next', tool: 'echo', arguments: { text: 'never' }, dependsOn: ['long'] },
    ]);
    const run = await start(wf);
    await waitFor(run.name, (r) => step(r, 'long').status === StepRunStatus.RUNNING);
    const t0 = Date.now();
    await stack.workflows.cancelWorkflowRun({ name: run.name, reason: 'changed my mind' });
    const done = await finished(run.name);
    expect(WorkflowRunStatus[done.status]).toBe('CANCELLED');
    // The sleeping tool saw the cancellation well before its 30 s were up.
    const deadline = Date.now() + 5_000;
    let after = await fixtureStats(http.url);
    while (after.cancelled === before.cancelled && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await fixtureStats(http.url);
    }
    expect(after.cancelled).toBe(before.cancelled + 1);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(after.calls.echo ?? 0).toBe(before.calls.echo ?? 0);
    const entries = await auditOf(run.name, 4);
    expect(entries.find((e) => e.actionType === ActionType.EXECUTE)?.details).toMatchObject({ step: 'long', outcome: 'CANCELLED' });
  });

  it('cancels a PENDING run at once; an engine never executes it', async () => {
    await engine.stop();
    const before = await fixtureStats(http.url);
    const wf = await defineWorkflow([{ id: 'x', tool: 'noop' }]);
    const run = await start(wf);
    expect(WorkflowRunStatus[(await stack.workflows.getWorkflowRun({ name: run.name })).workflowRun!.status]).toBe('PENDING');
    const cancelled = (await stack.workflows.cancelWorkflowRun({ name: run.name })).workflowRun!;
    expect(WorkflowRunStatus[cancelled.status]).toBe('CANCELLED');
    await engine.start();
    await new Promise((r) => setTimeout(r, 1_000));
    const later = (await stack.workflows.getWorkflowRun({ name: run.name })).workflowRun!;
    expect(WorkflowRunStatus[later.status]).toBe('CANCELLED');
    expect(step(later, 'x').status).toBe(StepRunStatus.CANCELLED);
    expect((await fixtureStats(http.url)).calls.noop ?? 0).toBe(before.calls.noop ?? 0);
  });
});

describe('audit trail', () => {
  it('records every transition with the real previous status and every attempt, all in the starting trace', async () => {
    const traceId = randomBytes(16).toString('hex');
    const wf = await defineWorkflow([
      { id: 'a', tool: 'noop' },
      { id: 'b', tool: 'always_fail', dependsOn: ['a'] },
    ]);
    const run = await start(wf, {}, { 'x-user-id': 'frank', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` });
    await finished(run.name);
    const entries = await auditOf(run.name, 5);
    expect(entries.map((e) => [ActionType[e.actionType], e.actorId, e.details!.status ?? e.details!.step, e.details!.previousStatus])).toEqual([
      ['CREATE', 'frank', 'PENDING', undefined],
      ['UPDATE', 'system', 'RUNNING', 'PENDING'],
      ['EXECUTE', 'system', 'a', undefined],
      ['EXECUTE', 'system', 'b', undefined],
      ['UPDATE', 'system', 'FAILED', 'RUNNING'],
    ]);
    expect(entries[4]!.details).toMatchObject({ step: 'b' });
    expect(entries.every((e) => e.traceId === traceId)).toBe(true);
    // One trace id finds the user's request and everything the engine did for it.
    const byTrace = await stack.auditClient.listActionLogEntries({ filter: `trace_id = "${traceId}"` });
    expect(byTrace.actionLogEntries).toHaveLength(5);
  });
});

describe('durability', () => {
  it('continues every run from its last completed step after the engine is SIGKILLed', async () => {
    const wf = await defineWorkflow([
      { id: 'first', tool: 'noop' },
      { id: 'slow', tool: 'sleep', arguments: { ms: 1_500 }, dependsOn: ['first'] },
      { id: 'last', tool: 'echo', arguments: { text: 'done' }, dependsOn: ['slow'] },
    ]);
    const runs = await Promise.all(Array.from({ length: 4 }, () => start(wf)));
    await Promise.all(runs.map((r) => waitFor(r.name, (x) => step(x, 'slow').status === StepRunStatus.RUNNING)));
    await engine.kill();
    for (const r of runs) {
      expect(WorkflowRunStatus[(await stack.workflows.getWorkflowRun({ name: r.name })).workflowRun!.status]).toBe('RUNNING');
    }
    await engine.start();
    const done = await Promise.all(runs.map((r) => finished(r.name, 30_000)));
    for (const d of done) {
      expect(WorkflowRunStatus[d.status]).toBe('SUCCEEDED');
      expect(step(d, 'first').attempt).toBe(1); // completed before the crash: not run again
      expect(step(d, 'slow').attempt).toBe(2); // in flight at the crash: run again
    }
    // CREATE, PENDING → RUNNING, four attempts (one INTERRUPTED), RUNNING → SUCCEEDED.
    const entries = await auditOf(runs[0]!.name, 7);
    expect(entries).toHaveLength(7);
    const attempts = entries.filter((e) => e.actionType === ActionType.EXECUTE).map((e) => [e.details!.step, e.details!.outcome]);
    expect(attempts).toEqual([
      ['first', 'SUCCEEDED'],
      ['slow', 'INTERRUPTED'],
      ['slow', 'SUCCEEDED'],
      ['last', 'SUCCEEDED'],
    ]);
  }, 60_000);

  it('the heartbeat keeps a step that outlasts the lease running, executed once', async () => {
    // ENGINE_LEASE_MS is 3 s here: without renewals the run would lapse and be claimed again mid-step.
    const wf = await defineWorkflow([{ id: 'long', tool: 'sleep', arguments: { ms: 5_000 }, timeoutMs: 15_000 }]);
    const run = await start(wf);
    const done = await finished(run.name, 20_000);
    expect(WorkflowRunStatus[done.status]).toBe('SUCCEEDED');
    expect(step(done, 'long').attempt).toBe(1);
    const attempts = (await auditOf(run.name, 4)).filter((e) => e.actionType === ActionType.EXECUTE);
    expect(attempts.map((e) => [e.details!.attempt, e.details!.outcome])).toEqual([[1, 'SUCCEEDED']]);
  }, 30_000);

  it('a new run wakes an idle engine by notification, not by its poll', async () => {
    await engine.stop();
    const sleepy = await stack.addEngine({ ENGINE_POLL_INTERVAL_MS: '600000' });
    try {
      const wf = await defineWorkflow([{ id: 'only', tool: 'noop' }]);
      await new Promise((r) => setTimeout(r, 300)); // the engine's first claim has come and gone
      const t0 = Date.now();
      const run = await start(wf);
      const done = await finished(run.name, 5_000);
      expect(WorkflowRunStatus[done.status]).toBe('SUCCEEDED');
      // Generous for a loaded machine; without the notification it would be the 10-minute poll.
      expect(time(step(done, 'only').startTime) - t0).toBeLessThan(5_000);
    } finally {
      await sleepy.stop();
      await engine.start();
    }
  });

  it('a graceful stop hands its runs to another engine at once (woken by notification, not by its poll or the lease)', async () => {
    const wf = await defineWorkflow([
      // Long enough to be still running when the second engine is up and the first is stopped.
      { id: 'slow', tool: 'sleep', arguments: { ms: 6_000 } },
      { id: 'after', tool: 'noop', dependsOn: ['slow'] },
    ]);
    const run = await start(wf);
    await waitFor(run.name, (r) => step(r, 'slow').status === StepRunStatus.RUNNING);
    const sleepy = await stack.addEngine({ ENGINE_POLL_INTERVAL_MS: '600000' });
    try {
      await new Promise((r) => setTimeout(r, 300)); // its start-up claim found nothing: the run is leased
      const stopped = Date.now();
      await engine.stop(); // SIGTERM: the attempt is aborted and the lease handed back
      const done = await finished(run.name, 15_000);
      expect(WorkflowRunStatus[done.status]).toBe('SUCCEEDED');
      expect(step(done, 'slow').attempt).toBe(2);
      expect(time(step(done, 'slow').startTime) - stopped).toBeLessThan(6_000);
    } finally {
      await sleepy.stop();
      await engine.start();
    }
  }, 30_000);

  it('two engines on one database never execute the same step attempt twice', async () => {
    const second = await stack.addEngine();
    try {
      const before = await fixtureStats(http.url);
      const wf = await defineWorkflow([
        { id: 'one', tool: 'noop' },
        { id: 'two', tool: 'add', arguments: { a: 1, b: 2 }, dependsOn: ['one'] },
      ]);
      const runs = await Promise.all(Array.from({ length: 30 }, () => start(wf)));
      const done = await Promise.all(runs.map((r) => finished(r.name, 30_000)));
      expect(done.filter((d) => d.status !== WorkflowRunStatus.SUCCEEDED).map((d) => `${WorkflowRunStatus[d.status]}: ${d.error}`)).toEqual([]);
      expect(done.every((d) => d.steps.every((s) => s.attempt === 1))).toBe(true);
      const after = await fixtureStats(http.url);
      expect((after.calls.noop ?? 0) - (before.calls.noop ?? 0)).toBe(30);
      expect((after.calls.add ?? 0) - (before.calls.add ?? 0)).toBe(30);
      const owners = await stack.domainSql<{ n: string }>(
        'SELECT count(DISTINCT lease_owner) AS n FROM workflow_runs WHERE uid = ANY($1::uuid[])',
        [runs.map((r) => r.name.split('/')[1])],
      );
      expect(Number(owners[0]!.n)).toBeGreaterThanOrEqual(1);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
