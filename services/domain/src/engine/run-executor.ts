import type { JsonValue } from '@bufbuild/protobuf';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { Sequelize, Transaction } from 'sequelize';
import type { Logger } from '../../../../shared/logging/logger';
import { backoffMs } from '../../../../shared/runtime/backoff';
import { formatTraceparent, parseTraceparent } from '../../../../shared/telemetry/traceparent';
import type { AuditOrigin } from '../audit-outbox/audit-event';
import { systemOrigin } from '../audit-outbox/audit-origin';
import type { AuditRecorder } from '../audit-outbox/audit-recorder';
import type { McpDefinitionRepository } from '../mcp-definitions/mcp-definition-repository';
import { scrubSecrets, secretValues } from '../mcp-definitions/redact';
import { renderTemplate, TemplateRenderError } from '../workflows/template';
import type { WorkflowStep } from '../workflows/workflow-definition';
import { runName, type RunStatus, type StepRun, type WorkflowRun } from '../workflows/workflow-run';
import type { WorkflowRunRepository } from '../workflows/workflow-run-repository';
import type { EngineStore, RunLease } from './engine-store';
import { ToolCallError, type McpClientPool } from './mcp-client-pool';

/** Why an engine stops driving a run before it ends. */
export type StopReason = 'cancelled' | 'lease_lost' | 'shutdown' | 'deadline' | 'run_failed';

export interface ExecutorDeps {
  readonly sequelize: Sequelize;
  readonly store: EngineStore;
  readonly runs: WorkflowRunRepository;
  readonly mcpDefinitions: McpDefinitionRepository;
  readonly audit: AuditRecorder;
  readonly pool: Pick<McpClientPool, 'callTool'>;
  readonly logger: Logger;
  /** Larger outputs (as JSON) fail the attempt for good instead of being stored. */
  readonly maxStepOutputBytes: number;
}

type AttemptOutcome =
  | { kind: 'succeeded'; output: JsonValue }
  | { kind: 'failed'; error: string; retryable: boolean }
  | { kind: 'stopped' };

const tracer = trace.getTracer('mcp-domain-engine');

/** The run's trace, from the traceparent of the request that started it (no SDK needed). */
function runContext(run: WorkflowRun) {
  const parent = parseTraceparent(run.traceparent);
  return parent
    ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags, isRemote: true })
    : ROOT_CONTEXT;
}

/** Engine actions are the system's, in the trace of the request that started the run. */
function originOf(span: Span): AuditOrigin {
  const sc = span.spanContext();
  return systemOrigin(trace.isSpanContextValid(sc) ? formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags }) : '');
}

/** One claimed run to execute. */
export interface ClaimedExecution {
  readonly run: WorkflowRun;
  /** The claiming engine's id: every write of the run is fenced by it (see engine-store). */
  readonly leaseOwner: string;
  /** Aborts with a StopReason: the executor returns early, leaving the run to its next owner. */
  readonly signal: AbortSignal;
  /** Steps whose first attempt the claim already started (RUNNING, attempt 1, in the claim's transaction). */
  readonly started?: ReadonlySet<string>;
}

/**
 * Drives one claimed run to its end: steps start as soon as their dependencies succeeded
 * (independent steps in parallel), arguments are rendered from parameters and earlier
 * outputs, failed attempts are retried per the step's policy (a backoff another engine began
 * is waited out), and the first step that fails for good fails the run. Returns early,
 * leaving the run to whoever owns it next, when `signal` aborts or a fenced write finds the
 * run cancelled or owned by another engine.
 */
export async function executeRun(deps: ExecutorDeps, { run, leaseOwner, signal, started = new Set() }: ClaimedExecution): Promise<void> {
  const preStarted = new Set(started);
  const runSpan = tracer.startSpan(
    'workflow.run',
    { kind: SpanKind.INTERNAL, attributes: { 'workflow.run': runName(run.uid), 'workflow.definition': run.workflowDefinition } },
    runContext(run),
  );
  const runCtx = trace.setSpan(runContext(run), runSpan);
  const uid = run.uid;
  const lease: RunLease = { uid, owner: leaseOwner };
  const steps = new Map<string, WorkflowStep>(run.definition.steps.map((s) => [s.id, s]));
  const state = new Map<string, StepRun & { retryAt?: number }>(
    run.steps.map((s) => [s.stepId, { ...s, retryAt: s.retryDueInMs === undefined ? undefined : Date.now() + s.retryDueInMs }]),
  );
  const outputs: Record<string, { output: JsonValue }> = {};
  for (const s of run.steps) if (s.status === 'SUCCEEDED') outputs[s.stepId] = { output: s.output ?? null };

  // One controller for the run: the engine's stop signal and the run deadline both abort it.
  const abort = new AbortController();
  const onStop = () => abort.abort(signal.reason);
  signal.addEventListener('abort', onStop, { once: true });
  const deadlineAt = (run.startTime ?? new Date()).getTime() + run.definition.runTimeoutMs;
  const deadline = setTimeout(() => abort.abort('deadline' satisfies StopReason), Math.max(0, deadlineAt - Date.now()));

  const tx = <T>(fn: (t: Transaction) => Promise<T>) => deps.sequelize.transaction(fn);
  /** Set once the run's end is committed (by the last step's transaction, or by endRun). */
  let ended = false;

  async function endRun(status: Extract<RunStatus, 'SUCCEEDED' | 'FAILED'>, failure?: { step?: string; error: string }) {
    if (ended) return;
    await tx((t) => recordEnd(t, status, failure));
    ended = true;
    if (status === 'FAILED') runSpan.setStatus({ code: SpanStatusCode.ERROR, message: failure?.error });
  }

  /** RUNNING → `status` with its audit entry, inside `t`. */
  async function recordEnd(t: Transaction, status: Extract<RunStatus, 'SUCCEEDED' | 'FAILED'>, failure?: { step?: string; error: string }) {
    const previous = await deps.runs.transition(t, uid, ['RUNNING'], status, {
      error: failure ? (failure.step ? `step "${failure.step}" failed: ${failure.error}` : failure.error) : undefined,
      failedStep: failure?.step,
      endTime: new Date(),
      leaseOwner,
    });
    // Someone else ended it first (a cancel), or another engine owns it now: their status stands.
    if (!previous) return;
    if (status === 'FAILED') await deps.runs.cancelOpenSteps(t, uid);
    await deps.audit.record(
      t,
      {
        actionType: 'UPDATE',
        entityType: 'WORKFLOW_RUN',
        entityId: runName(uid),
        details: { status, previousStatus: previous, ...(failure?.step ? { step: failure.step } : {}), ...(failure ? { error: failure.error } : {}) },
      },
      originOf(runSpan),
    );
  }

  async function callStep(step: WorkflowStep, attempt: number, stepSpan: Span): Promise<AttemptOutcome> {
    // Errors can quote the server (its stderr, its messages); they are stored and audited, so
    // the definition's secret values are cut out of them first.
    let secrets: readonly string[] = [];
    const fail = (error: string, retryable: boolean): AttemptOutcome => ({
      kind: 'failed',
      error: scrubSecrets(error, secrets),
      retryable,
    });
    try {
      const args = renderTemplate(step.arguments, { params: run.parameters, steps: outputs }, `steps.${step.id}.arguments`);
      const mcp = await deps.mcpDefinitions.findByName(step.mcpDefinition);
      if (!mcp) return fail(`MCP definition "${step.mcpDefinition}" does not exist`, false);
      secrets = secretValues(mcp);
      const result = await context.with(trace.setSpan(runCtx, stepSpan), () =>
        deps.pool.callTool({ key: `${mcp.uid}:${mcp.revision}`, name: mcp.name, transport: mcp.transport }, step.tool, args, {
          signal: abort.signal,
          timeoutMs: step.timeoutMs,
          // At-least-once: a retried or re-run attempt carries the same key, so the tool can deduplicate.
          meta: { idempotencyKey: `${uid}:${step.id}`, attempt },
        }),
      );
      if (result.isError) return fail(result.errorText || `tool "${step.tool}" reported an error`, true);
      const outputBytes = Buffer.byteLength(JSON.stringify(result.output ?? null));
      if (outputBytes > deps.maxStepOutputBytes) {
        // A retry would return the same: the step fails for good, and nothing of the output is kept.
        return fail(`tool "${step.tool}" returned ${outputBytes} bytes of output; the limit is ${deps.maxStepOutputBytes} (ENGINE_MAX_STEP_OUTPUT_BYTES)`, false);
      }
      return { kind: 'succeeded', output: result.output };
    } catch (err) {
      if (abort.signal.aborted && abort.signal.reason !== 'deadline') return { kind: 'stopped' };
      if (abort.signal.aborted) return fail('the run deadline passed during the attempt', false);
      if (err instanceof TemplateRenderError) return fail(err.message, false);
      if (err instanceof ToolCallError) {
        return fail(err.kind === 'timeout' ? `tool "${step.tool}" timed out after ${step.timeoutMs} ms` : err.message, err.kind !== 'unknown_tool');
      }
      return fail(err instanceof Error ? err.message : String(err), true);
    }
  }

  /** A fenced write found the step or run moved under us: cancelled, or another engine owns the run now. */
  async function stopOverruled(): Promise<void> {
    abort.abort(((await deps.store.status(uid)) === 'CANCELLED' ? 'cancelled' : 'lease_lost') satisfies StopReason);
  }

  /** One attempt of one step: start (compare-and-set), call, record outcome and audit entry. */
  async function runAttempt(stepId: string): Promise<void> {
    const step = steps.get(stepId)!;
    const s = state.get(stepId)!;
    const attempt = s.attempt + 1;
    const begun = preStarted.delete(stepId) || (await tx((t) => deps.store.startAttempt(t, lease, stepId, attempt)));
    if (!begun) return stopOverruled();
    state.set(stepId, { ...s, status: 'RUNNING', attempt });
    const stepSpan = tracer.startSpan(
      `workflow.step ${stepId}`,
      { attributes: { 'workflow.step': stepId, 'mcp.tool': step.tool, 'mcp.server': step.mcpDefinition, 'workflow.attempt': attempt } },
      runCtx,
    );
    const t0 = Date.now();
    const outcome = await callStep(step, attempt, stepSpan);
    const durationMs = Date.now() - t0;
    if (outcome.kind === 'stopped') {
      stepSpan.end();
      // Cancelled, or a sibling failed the run: the attempt was aborted and the run's end closes
      // the step. Lease lost or shutdown: the next owner finds it RUNNING, records it as
      // interrupted and runs it again.
      if (abort.signal.reason === 'cancelled' || abort.signal.reason === 'run_failed') {
        await recordAttempt(step, attempt, 'CANCELLED', durationMs, stepSpan);
      }
      return;
    }
    const retry = outcome.kind === 'failed' && outcome.retryable && attempt < step.retryPolicy.maxAttempts;
    const retryInMs = retry
      ? backoffMs({
          attempt,
          initialMs: step.retryPolicy.initialBackoffMs,
          multiplier: step.retryPolicy.backoffMultiplier,
          maxMs: step.retryPolicy.maxBackoffMs,
        })
      : 0;
    let endsRun = false;
    let finished = false;
    await tx(async (t) => {
      finished = await deps.store.finishAttempt(
        t,
        lease,
        stepId,
        attempt,
        outcome.kind === 'succeeded'
          ? { status: 'SUCCEEDED', output: outcome.output }
          : retry
            ? { status: 'PENDING', error: outcome.error, retryInMs }
            : { status: 'FAILED', error: outcome.error },
      );
      if (!finished) return;
      await recordAttempt(step, attempt, outcome.kind === 'succeeded' ? 'SUCCEEDED' : 'FAILED', durationMs, stepSpan, t, {
        ...(outcome.kind === 'failed' ? { error: outcome.error, willRetry: retry } : {}),
        ...(retry ? { retryInMs: Math.round(retryInMs) } : {}),
      });
      // The last step to succeed ends the run in the same transaction.
      endsRun = outcome.kind === 'succeeded' && !abort.signal.aborted && [...state.values()].every((o) => o.stepId === stepId || o.status === 'SUCCEEDED');
      if (endsRun) await recordEnd(t, 'SUCCEEDED');
    });
    if (!finished) {
      stepSpan.end();
      return stopOverruled();
    }
    if (endsRun) ended = true;
    if (outcome.kind === 'succeeded') {
      outputs[stepId] = { output: outcome.output };
      state.set(stepId, { ...state.get(stepId)!, status: 'SUCCEEDED', output: outcome.output });
    } else {
      stepSpan.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error });
      state.set(stepId, { ...state.get(stepId)!, status: retry ? 'PENDING' : 'FAILED', error: outcome.error, retryAt: Date.now() + retryInMs });
    }
    stepSpan.end();
  }

  async function recordAttempt(
    step: WorkflowStep,
    attempt: number,
    outcome: 'SUCCEEDED' | 'FAILED' | 'CANCELLED',
    durationMs: number,
    span: Span,
    t?: Transaction,
    extra: Record<string, string | number | boolean> = {},
  ) {
    const write = (tr: Transaction) =>
      deps.audit.record(
        tr,
        {
          actionType: 'EXECUTE',
          entityType: 'WORKFLOW_RUN',
          entityId: runName(uid),
          details: { step: step.id, tool: step.tool, mcpDefinition: step.mcpDefinition, attempt, outcome, durationMs, ...extra },
        },
        originOf(span),
      );
    await (t ? write(t) : tx(write));
  }

  const inFlight = new Map<string, Promise<void>>();
  try {
    for (;;) {
      if (abort.signal.aborted) break;
      const failed = [...state.values()].find((s) => s.status === 'FAILED');
      if (failed) {
        abort.abort('run_failed' satisfies StopReason); // stops siblings; the run's end is recorded below
        await Promise.allSettled(inFlight.values());
        await endRun('FAILED', { step: failed.stepId, error: failed.error });
        return;
      }
      if ([...state.values()].every((s) => s.status === 'SUCCEEDED')) {
        await endRun('SUCCEEDED');
        return;
      }
      const now = Date.now();
      const ready = (s: StepRun & { retryAt?: number }) =>
        s.status === 'PENDING' && !inFlight.has(s.stepId) && steps.get(s.stepId)!.dependsOn.every((d) => state.get(d)?.status === 'SUCCEEDED');
      for (const s of state.values()) {
        if (ready(s) && (s.retryAt ?? 0) <= now) {
          inFlight.set(s.stepId, runAttempt(s.stepId).finally(() => inFlight.delete(s.stepId)));
        }
      }
      const nextRetry = Math.min(...[...state.values()].filter(ready).map((s) => s.retryAt ?? now));
      if (inFlight.size === 0 && !Number.isFinite(nextRetry)) {
        await endRun('FAILED', { error: 'no step can run: the remaining steps depend on steps that did not succeed' });
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(nextRetry) ? setTimeout(resolve, Math.max(0, nextRetry - Date.now())) : undefined;
        const done = () => {
          clearTimeout(timer);
          abort.signal.removeEventListener('abort', done);
          resolve();
        };
        abort.signal.addEventListener('abort', done, { once: true });
        for (const p of inFlight.values()) void p.then(done, done);
      });
    }
    await Promise.allSettled(inFlight.values());
    if (abort.signal.reason === 'deadline') {
      await endRun('FAILED', { error: `the run deadline of ${run.definition.runTimeoutMs / 1000} s passed` });
    }
  } finally {
    clearTimeout(deadline);
    signal.removeEventListener('abort', onStop);
    runSpan.end();
  }
}
