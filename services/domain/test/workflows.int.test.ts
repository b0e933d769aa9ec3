import { randomUUID } from 'node:crypto';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Client as PgClient } from 'pg';
import type { WorkflowDefinition } from '../../../shared/gen/mcpbackend/workflow/v1/workflow_definition_pb';
import { PAGE_MAX_BYTES } from '../../../shared/db/budgeted-page';
import type { Sequelize } from 'sequelize';
import { createSequelize } from '../../../shared/db/create-sequelize';
import { createEngineStore, type EngineStore } from '../src/engine/engine-store';
import { createWorkflowRunRepository, RUN_CHANNELS, type WorkflowRunRepository } from '../src/workflows/workflow-run-repository';
import { StepRunStatus, WorkflowRunStatus, type WorkflowRun } from '../../../shared/gen/mcpbackend/workflow/v1/workflow_run_pb';
import {
  codeName,
  drain,
  errorReason,
  mcpDefinitionInput,
  PARAMETERS_SCHEMA,
  rejection,
  startDomainFixture,
  violatedFields,
  workflowDefinitionInput,
  type DomainFixture,
  type OutboxRow,
  type WorkflowDefinitionInit,
} from './domain-fixture';

/**
 * WorkflowService behaviour: workflow definitions (revisions, etags, masks, idempotency, list),
 * runs (start as PENDING with step states, parameter validation, idempotency, get, list with
 * filters and newest-first pages, cancel). Every successful mutation writes exactly one
 * `audit_outbox` row; every failed one writes none.
 */

let fx: DomainFixture;
let mcpName: string;
let otherMcpName: string;

beforeAll(async () => {
  fx = await startDomainFixture();
  mcpName = (await fx.mcp.createMcpDefinition({ mcpDefinition: mcpDefinitionInput() })).mcpDefinition!.name;
  otherMcpName = (await fx.mcp.createMcpDefinition({ mcpDefinition: mcpDefinitionInput({ tools: [] }) })).mcpDefinition!.name;
});
afterAll(async () => {
  await fx?.close();
});

const TRACE_ID = '7bf92f3577b34da6a3ce929d0e0e4731';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function outboxDuring(fn: () => Promise<unknown>): Promise<OutboxRow[]> {
  const before = new Set((await fx.outboxRows()).map((r) => r.id));
  await fn();
  return (await fx.outboxRows()).filter((r) => !before.has(r.id));
}

async function createWorkflow(overrides: Partial<WorkflowDefinitionInit> = {}, requestId = ''): Promise<WorkflowDefinition> {
  return (await fx.workflows.createWorkflowDefinition({ workflowDefinition: workflowDefinitionInput(mcpName, overrides), requestId })).workflowDefinition!;
}

async function startRun(workflowDefinition: string, parameters: Record<string, unknown> = { city: 'Oslo' }, headers: Record<string, string> = {}, requestId = '') {
  return (await fx.workflows.startWorkflowRun({ workflowDefinition, parameters: parameters as never, requestId }, { headers })).workflowRun!;
}

describe('workflow definitions', () => {
  it('creates a definition at revision 1 with defaults filled in, and writes one CREATE row', async () => {
    const input = workflowDefinitionInput(mcpName);
    let d: WorkflowDefinition | undefined;
    const added = await outboxDuring(async () => {
      d = (await fx.workflows.createWorkflowDefinition({ workflowDefinition: input }, { headers: { 'x-user-id': 'carol' } })).workflowDefinition!;
    });
    expect(d!.name).toBe(input.name);
    expect(d!.uid).toMatch(UUID);
    expect(d!.revision).toBe(1n);
    expect(d!.etag).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(d!.description).toBe('Forecast and summary');
    expect(d!.parametersSchema).toEqual(PARAMETERS_SCHEMA);
    expect(d!.runTimeout).toMatchObject({ seconds: 600n, nanos: 0 });
    expect(d!.steps.map((s) => [s.id, s.mcpDefinition, s.tool, s.dependsOn])).toEqual([
      ['fetch', mcpName, 'forecast', []],
      ['summarize', mcpName, 'summarize', ['fetch']],
    ]);
    expect(d!.steps[0]!.arguments).toEqual({ city: '${params.city}', days: '${params.days}' });
    // Unset policy → documented defaults: 3 attempts, 1 s, ×2, 30 s; timeout 60 s.
    expect(d!.steps[0]!.retryPolicy).toMatchObject({ maxAttempts: 3, initialBackoff: { seconds: 1n }, backoffMultiplier: 2, maxBackoff: { seconds: 30n } });
    expect(d!.steps[0]!.timeout).toMatchObject({ seconds: 60n });
    expect(d!.steps[1]!.retryPolicy).toMatchObject({ maxAttempts: 2, initialBackoff: { seconds: 2n }, backoffMultiplier: 3, maxBackoff: { seconds: 20n } });
    expect(d!.steps[1]!.timeout).toMatchObject({ seconds: 30n });
    expect(timestampMs(d!.createTime!)).toBe(timestampMs(d!.updateTime!));

    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ action_type: 'CREATE', entity_type: 'WORKFLOW_DEFINITION', entity_id: d!.name, actor_id: 'carol' });
    expect(added[0]!.details).toMatchObject({ workflowDefinition: { name: d!.name, uid: d!.uid, revision: '1', runTimeout: '600s' } });

    expect((await fx.workflows.getWorkflowDefinition({ name: d!.name })).workflowDefinition).toEqual(d);
  });

  it('an unset run_timeout means 1 hour', async () => {
    const d = await createWorkflow({ runTimeout: undefined });
    expect(d.runTimeout).toMatchObject({ seconds: 3600n, nanos: 0 });
  });

  it('request_id: a retry returns the original and writes one row; a new name with the same id still replays', async () => {
    const requestId = randomUUID();
    const before = await fx.outboxCount();
    const a = await createWorkflow({}, requestId);
    const b = await createWorkflow({ name: a.name }, requestId);
    const c = await createWorkflow({}, requestId);
    expect(b).toEqual(a);
    expect(c.uid).toBe(a.uid);
    expect(await fx.outboxCount()).toBe(before + 1);
  });

  it('a duplicate name is ALREADY_EXISTS and writes nothing', async () => {
    const d = await createWorkflow();
    const before = await fx.snapshot();
    const err = await rejection(fx.workflows.createWorkflowDefinition({ workflowDefinition: workflowDefinitionInput(mcpName, { name: d.name }) }));
    expect(codeName(err.code)).toBe('AlreadyExists');
    expect(await fx.snapshot()).toEqual(before);
  });

  it('update: the masked field changes, revision +1, etag changes, one UPDATE row with the diff', async () => {
    const d = await createWorkflow();
    let u: WorkflowDefinition | undefined;
    const added = await outboxDuring(async () => {
      u = (
        await fx.workflows.updateWorkflowDefinition({
          workflowDefinition: { name: d.name, description: 'v2', steps: [], etag: d.etag },
          updateMask: { paths: ['description'] },
        })
      ).workflowDefinition!;
    });
    expect(u!.revision).toBe(2n);
    expect(u!.description).toBe('v2');
    expect(u!.steps).toEqual(d.steps);
    expect(u!.etag).not.toBe(d.etag);
    expect(u!.createTime).toEqual(d.createTime);
    expect(timestampMs(u!.updateTime!)).toBeGreaterThanOrEqual(timestampMs(d.updateTime!));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ action_type: 'UPDATE', entity_type: 'WORKFLOW_DEFINITION', entity_id: d.name });
    expect(added[0]!.details).toEqual({ changes: { description: { before: 'Forecast and summary', after: 'v2' } } });

    // Steps and run_timeout; an empty mask replaces every mutable field.
    let u3!: WorkflowDefinition;
    const replaced = await outboxDuring(async () => {
      u3 = (
        await fx.workflows.updateWorkflowDefinition({
          workflowDefinition: { name: d.name, steps: [{ id: 'only', mcpDefinition: otherMcpName, tool: 'anything', arguments: { q: '${params}' } }], runTimeout: { seconds: 30n } },
        })
      ).workflowDefinition!;
    });
    expect(u3.revision).toBe(3n);
    // One UPDATE row naming exactly the fields that changed, each with its value before and after.
    expect(replaced).toHaveLength(1);
    const changes = (replaced[0]!.details as { changes: Record<string, { before: unknown; after: unknown }> }).changes;
    expect(Object.keys(changes).sort()).toEqual(['description', 'parameters_schema', 'run_timeout', 'steps']);
    expect(changes.description).toEqual({ before: 'v2', after: '' });
    expect(changes.parameters_schema!.before).toEqual(d.parametersSchema);
    expect(changes.parameters_schema!.after).toEqual({});
    expect(changes.run_timeout!.after).toBe('30s');
    expect(changes.run_timeout!.before).not.toBe('30s');
    expect((changes.steps!.before as Array<{ id: string }>).map((s) => s.id)).toEqual(d.steps.map((s) => s.id));
    expect(changes.steps!.after).toEqual([
      expect.objectContaining({ id: 'only', mcpDefinition: otherMcpName, tool: 'anything', arguments: { q: '${params}' }, timeout: '60s' }),
    ]);
    expect(u3).toMatchObject({ description: '', parametersSchema: {}, runTimeout: { seconds: 30n } });
    expect(u3.steps.map((s) => s.id)).toEqual(['only']);
    // The reference index follows the steps: the definition now uses only the other server.
    const refs = await fx.sql<{ mcp_definition_name: string }>(
      'SELECT mcp_definition_name FROM workflow_definition_mcp_refs r JOIN workflow_definitions w ON w.uid = r.workflow_definition_uid WHERE w.name = $1',
      [d.name],
    );
    expect(refs.map((r) => r.mcp_definition_name)).toEqual([otherMcpName]);
  });

  it('a stale etag is ABORTED and writes nothing; an update that changes nothing keeps the revision', async () => {
    const d = await createWorkflow();
    await fx.workflows.updateWorkflowDefinition({ workflowDefinition: { name: d.name, description: 'x', etag: d.etag }, updateMask: { paths: ['description'] } });
    const before = await fx.snapshot();
    const err = await rejection(
      fx.workflows.updateWorkflowDefinition({ workflowDefinition: { name: d.name, description: 'y', etag: d.etag }, updateMask: { paths: ['description'] } }),
    );
    expect(codeName(err.code)).toBe('Aborted');
    expect(errorReason(err)).toBe('ETAG_MISMATCH');
    expect(await fx.snapshot()).toEqual(before);

    const same = (await fx.workflows.updateWorkflowDefinition({ workflowDefinition: { name: d.name, description: 'x' }, updateMask: { paths: ['description'] } }))
      .workflowDefinition!;
    expect(same.revision).toBe(2n);
    expect(await fx.snapshot()).toEqual(before);
  });

  it('delete: stale etag ABORTED; then deleted with one DELETE row; unknown → NOT_FOUND', async () => {
    const d = await createWorkflow();
    const u = (await fx.workflows.updateWorkflowDefinition({ workflowDefinition: { name: d.name, description: 'x' }, updateMask: { paths: ['description'] } })).workflowDefinition!;
    const before = await fx.snapshot();
    expect(codeName((await rejection(fx.workflows.deleteWorkflowDefinition({ name: d.name, etag: d.etag }))).code)).toBe('Aborted');
    expect(await fx.snapshot()).toEqual(before);
    const added = await outboxDuring(() => fx.workflows.deleteWorkflowDefinition({ name: d.name, etag: u.etag }));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ action_type: 'DELETE', entity_type: 'WORKFLOW_DEFINITION', entity_id: d.name });
    expect(added[0]!.details).toMatchObject({ workflowDefinition: { name: d.name, revision: '2' } });
    expect(codeName((await rejection(fx.workflows.getWorkflowDefinition({ name: d.name }))).code)).toBe('NotFound');
    expect(codeName((await rejection(fx.workflows.deleteWorkflowDefinition({ name: d.name }))).code)).toBe('NotFound');
    // Its MCP server is no longer referenced by it.
    expect(await fx.sql('SELECT 1 FROM workflow_definition_mcp_refs WHERE workflow_definition_uid = $1', [d.uid])).toHaveLength(0);
  });

  describe('list', () => {
    const prefix = `ls${randomUUID().slice(0, 6)}`;
    const defs: WorkflowDefinition[] = [];
    let midTime = '';
    beforeAll(async () => {
      for (const [i, suffix] of ['c', 'a', 'd', 'b'].entries()) {
        if (i === 2) {
          await new Promise((r) => setTimeout(r, 20));
          midTime = new Date().toISOString();
          await new Promise((r) => setTimeout(r, 20));
        }
        const steps = i === 3 ? [{ id: 'one', mcpDefinition: otherMcpName, tool: 'x' }] : undefined;
        defs.push(await createWorkflow({ name: `${prefix}-${suffix}`, ...(steps ? { steps, parametersSchema: {} } : {}) }));
      }
    });
    const names = (ds: WorkflowDefinition[]) => ds.map((d) => d.name.slice(prefix.length + 1));

    it('filters by name, mcp_definition and create_time', async () => {
      expect(names((await fx.workflows.listWorkflowDefinitions({ filter: `name = "${prefix}-d"` })).workflowDefinitions)).toEqual(['d']);
      const usesOther = (await fx.workflows.listWorkflowDefinitions({ filter: `mcp_definition = "${otherMcpName}"`, pageSize: 1000 })).workflowDefinitions;
      expect(usesOther.map((d) => d.name)).toContain(`${prefix}-b`);
      expect(usesOther.map((d) => d.name)).not.toContain(`${prefix}-a`);
      const late = (await fx.workflows.listWorkflowDefinitions({ filter: `create_time > "${midTime}" AND mcp_definition = "${mcpName}"`, pageSize: 1000 }))
        .workflowDefinitions;
      expect(late.map((d) => d.name)).toEqual([`${prefix}-d`]);
    });

    it('pages by name with page tokens; a token from another filter is INVALID_ARGUMENT', async () => {
      const filter = `create_time >= "${new Date(timestampMs(defs[0]!.createTime!)).toISOString()}"`;
      const seen: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const res = await fx.workflows.listWorkflowDefinitions({ filter, pageSize: 3, pageToken: token });
        seen.push(...res.workflowDefinitions.map((d) => d.name));
        token = res.nextPageToken;
        pages++;
      } while (token);
      expect(pages).toBe(2);
      expect(seen).toEqual([...seen].sort());
      expect(seen.filter((n) => n.startsWith(prefix))).toEqual(['a', 'b', 'c', 'd'].map((s) => `${prefix}-${s}`));
      const first = await fx.workflows.listWorkflowDefinitions({ filter, pageSize: 1 });
      const err = await rejection(fx.workflows.listWorkflowDefinitions({ filter: '', pageSize: 1, pageToken: first.nextPageToken }));
      expect(codeName(err.code)).toBe('InvalidArgument');
      expect(violatedFields(err)).toEqual(['page_token']);
    });
  });
});

describe('workflow runs', () => {
  let wf: WorkflowDefinition;
  beforeAll(async () => {
    wf = await createWorkflow();
  });

  it('StartWorkflowRun: PENDING, one PENDING step state per step, actor and trace from metadata, one CREATE row', async () => {
    let run: WorkflowRun | undefined;
    const added = await outboxDuring(async () => {
      run = await startRun(wf.name, { city: 'Oslo', days: 3 }, { 'x-user-id': 'dave', traceparent: TRACEPARENT });
    });
    const r = run!;
    expect(r.name).toMatch(/^workflowRuns\/[0-9a-f-]{36}$/);
    expect(r.name.slice('workflowRuns/'.length)).toMatch(UUID);
    expect(r).toMatchObject({
      workflowDefinition: wf.name,
      workflowDefinitionRevision: 1n,
      parameters: { city: 'Oslo', days: 3 },
      status: WorkflowRunStatus.PENDING,
      error: '',
      failedStep: '',
      actorId: 'dave',
      traceId: TRACE_ID,
    });
    expect(r.steps.map((s) => [s.stepId, s.status, s.attempt, s.error])).toEqual([
      ['fetch', StepRunStatus.PENDING, 0, ''],
      ['summarize', StepRunStatus.PENDING, 0, ''],
    ]);
    expect(r.steps.every((s) => s.output === undefined && s.startTime === undefined && s.endTime === undefined)).toBe(true);
    expect(r.createTime).toBeDefined();
    expect(r.startTime).toBeUndefined();
    expect(r.endTime).toBeUndefined();
    expect(r.etag).toMatch(/^[A-Za-z0-9_-]{22}$/);

    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ action_type: 'CREATE', entity_type: 'WORKFLOW_RUN', entity_id: r.name, actor_id: 'dave' });
    expect(added[0]!.details).toEqual({ status: 'PENDING', parameters: { city: 'Oslo', days: 3 }, workflowDefinition: wf.name, workflowDefinitionRevision: '1' });
    expect(added[0]!.traceparent).toContain(TRACE_ID);

    expect((await fx.workflows.getWorkflowRun({ name: r.name })).workflowRun).toEqual(r);
  });

  it('no x-user-id: the actor is "system"', async () => {
    expect((await startRun(wf.name)).actorId).toBe('system');
  });

  it.each([
    ['a missing required parameter', {}, 'parameters.city', /is required/],
    ['a wrong type', { city: 'Oslo', days: 'three' }, 'parameters.days', /integer/],
    ['a value out of range', { city: 'Oslo', days: 15 }, 'parameters.days', /<= 14/],
    ['an extra parameter', { city: 'Oslo', colour: 'red' }, 'parameters.colour', /not an allowed property/],
  ])('rejects %s with INVALID_ARGUMENT and starts nothing', async (_n, parameters, field, message) => {
    const before = await fx.snapshot();
    const err = await rejection(fx.workflows.startWorkflowRun({ workflowDefinition: wf.name, parameters: parameters as never }));
    expect(codeName(err.code)).toBe('InvalidArgument');
    expect(violatedFields(err)).toContain(field);
    expect(err.rawMessage).toMatch(message);
    expect(await fx.snapshot()).toEqual(before);
  });

  it('an empty schema accepts any parameters object', async () => {
    const open = await createWorkflow({ parametersSchema: {}, steps: [{ id: 'one', mcpDefinition: mcpName, tool: 'forecast', arguments: { all: '${params}' } }] });
    const run = await startRun(open.name, { anything: [1, 'two', { three: null }] });
    expect(run.parameters).toEqual({ anything: [1, 'two', { three: null }] });
  });

  it('request_id: a retry returns the original run (even with other parameters) and writes one row', async () => {
    const requestId = randomUUID();
    const before = await fx.outboxCount();
    const a = await startRun(wf.name, { city: 'Bergen' }, {}, requestId);
    const b = await startRun(wf.name, { city: 'Tromsø' }, {}, requestId);
    const parallel = await Promise.all([1, 2, 3].map(() => startRun(wf.name, { city: 'Bergen' }, {}, requestId)));
    expect(b).toEqual(a);
    expect(parallel.every((r) => r.name === a.name)).toBe(true);
    expect(await fx.outboxCount()).toBe(before + 1);
    expect(await fx.sql('SELECT 1 FROM workflow_runs WHERE uid = $1', [a.name.split('/')[1]])).toHaveLength(1);
  });

  it('a run keeps the revision (and steps) it started from after the definition changes or is deleted', async () => {
    const d = await createWorkflow();
    const r1 = await startRun(d.name);
    const u = (
      await fx.workflows.updateWorkflowDefinition({
        workflowDefinition: { name: d.name, steps: [{ id: 'only', mcpDefinition: mcpName, tool: 'forecast', arguments: { city: '${params.city}' } }] },
        updateMask: { paths: ['steps'] },
      })
    ).workflowDefinition!;
    expect(u.revision).toBe(2n);
    const r2 = await startRun(d.name);
    expect(r2.workflowDefinitionRevision).toBe(2n);
    expect(r2.steps.map((s) => s.stepId)).toEqual(['only']);
    const again = (await fx.workflows.getWorkflowRun({ name: r1.name })).workflowRun!;
    expect(again.workflowDefinitionRevision).toBe(1n);
    expect(again.steps.map((s) => s.stepId)).toEqual(['fetch', 'summarize']);
    expect(again).toEqual(r1);

    await fx.workflows.deleteWorkflowDefinition({ name: d.name });
    expect((await fx.workflows.getWorkflowRun({ name: r1.name })).workflowRun).toEqual(r1);
    expect(codeName((await rejection(fx.workflows.startWorkflowRun({ workflowDefinition: d.name, parameters: { city: 'x' } }))).code)).toBe('NotFound');
  });

  it('GetWorkflowRun of an unknown run is NOT_FOUND', async () => {
    const err = await rejection(fx.workflows.getWorkflowRun({ name: `workflowRuns/${randomUUID()}` }));
    expect(codeName(err.code)).toBe('NotFound');
  });

  describe('ListWorkflowRuns', () => {
    const actor = `lister-${randomUUID().slice(0, 8)}`;
    let other: WorkflowDefinition;
    const runs: WorkflowRun[] = [];
    beforeAll(async () => {
      other = await createWorkflow();
      for (let i = 0; i < 5; i++) runs.push(await startRun(i % 2 ? other.name : wf.name, { city: `c${i}` }, { 'x-user-id': actor }));
      await fx.workflows.cancelWorkflowRun({ name: runs[1]!.name });
    });
    const names = (rs: WorkflowRun[]) => rs.map((r) => r.name);

    it('filters by actor_id, newest first', async () => {
      const res = await fx.workflows.listWorkflowRuns({ filter: `actor_id = "${actor}"` });
      expect(names(res.workflowRuns)).toEqual(names([...runs].reverse()));
      expect(res.nextPageToken).toBe('');
    });

    it('filters by workflow_definition and status (short and prefixed enum names)', async () => {
      const byDef = await fx.workflows.listWorkflowRuns({ filter: `actor_id = "${actor}" AND workflow_definition = "${other.name}"` });
      expect(names(byDef.workflowRuns)).toEqual([runs[3]!.name, runs[1]!.name]);
      const cancelled = await fx.workflows.listWorkflowRuns({ filter: `actor_id = "${actor}" AND status = CANCELLED` });
      expect(names(cancelled.workflowRuns)).toEqual([runs[1]!.name]);
      expect(cancelled.workflowRuns[0]!.status).toBe(WorkflowRunStatus.CANCELLED);
      const pending = await fx.workflows.listWorkflowRuns({ filter: `status = WORKFLOW_RUN_STATUS_PENDING AND actor_id = "${actor}"` });
      expect(names(pending.workflowRuns)).toEqual(names([runs[4]!, runs[3]!, runs[2]!, runs[0]!]));
      const byTrace = await fx.workflows.listWorkflowRuns({ filter: `trace_id = "${runs[0]!.traceId}" AND actor_id = "${actor}"` });
      expect(names(byTrace.workflowRuns)).toContain(runs[0]!.name);
      const t2 = timestampMs(runs[2]!.createTime!);
      const recent = await fx.workflows.listWorkflowRuns({ filter: `actor_id = "${actor}" AND create_time > "${new Date(t2).toISOString()}"` });
      const expected = runs.filter((r) => timestampMs(r.createTime!) > t2).reverse();
      expect(expected.map((r) => r.name)).toContain(runs[4]!.name);
      expect(names(recent.workflowRuns)).toEqual(names(expected));
    });

    it('pages newest first with page tokens; page_size may change; a token from another filter is INVALID_ARGUMENT', async () => {
      const filter = `actor_id = "${actor}"`;
      const p1 = await fx.workflows.listWorkflowRuns({ filter, pageSize: 2 });
      const p2 = await fx.workflows.listWorkflowRuns({ filter, pageSize: 2, pageToken: p1.nextPageToken });
      const p3 = await fx.workflows.listWorkflowRuns({ filter, pageSize: 3, pageToken: p2.nextPageToken });
      expect([p1, p2, p3].map((p) => p.workflowRuns.length)).toEqual([2, 2, 1]);
      expect(p3.nextPageToken).toBe('');
      expect(names([...p1.workflowRuns, ...p2.workflowRuns, ...p3.workflowRuns])).toEqual(names([...runs].reverse()));
      const err = await rejection(fx.workflows.listWorkflowRuns({ filter: `${filter} AND status = PENDING`, pageSize: 2, pageToken: p1.nextPageToken }));
      expect(codeName(err.code)).toBe('InvalidArgument');
      expect(violatedFields(err)).toEqual(['page_token']);
    });

    it('ends a page of large runs at PAGE_MAX_BYTES and continues it with the token', async () => {
      const bigActor = `big-${randomUUID().slice(0, 8)}`;
      // Four runs of ~1.5 MB of parameters each: more than one page's budget.
      const big: WorkflowRun[] = [];
      for (let i = 0; i < 4; i++) big.push(await startRun(wf.name, { city: `${i}`.padEnd(1_500_000, 'x') }, { 'x-user-id': bigActor }));
      const filter = `actor_id = "${bigActor}"`;
      const p1 = await fx.workflows.listWorkflowRuns({ filter, pageSize: 1000 });
      expect(p1.workflowRuns.length).toBeGreaterThan(1);
      expect(p1.workflowRuns.length).toBeLessThan(4);
      expect(p1.nextPageToken).not.toBe('');
      const p2 = await fx.workflows.listWorkflowRuns({ filter, pageSize: 1000, pageToken: p1.nextPageToken });
      expect(p2.nextPageToken).toBe('');
      expect(names([...p1.workflowRuns, ...p2.workflowRuns])).toEqual(names([...big].reverse()));
      const returned = JSON.stringify(p1.workflowRuns.map((r) => r.parameters)).length;
      expect(returned - 1_500_000).toBeLessThan(PAGE_MAX_BYTES);
    });
  });

  describe('CancelWorkflowRun', () => {
    it('PENDING → CANCELLED with every step CANCELLED and one UPDATE row; again → FAILED_PRECONDITION, nothing written', async () => {
      const run = await startRun(wf.name);
      let cancelled: WorkflowRun | undefined;
      const added = await outboxDuring(async () => {
        cancelled = (await fx.workflows.cancelWorkflowRun({ name: run.name, reason: 'not needed' }, { headers: { 'x-user-id': 'erin' } })).workflowRun!;
      });
      const c = cancelled!;
      expect(c.status).toBe(WorkflowRunStatus.CANCELLED);
      expect(c.steps.map((s) => [s.stepId, s.status])).toEqual([
        ['fetch', StepRunStatus.CANCELLED],
        ['summarize', StepRunStatus.CANCELLED],
      ]);
      expect(c.error).toContain('not needed');
      expect(c.error).toContain('erin');
      expect(c.endTime).toBeDefined();
      expect(c.etag).not.toBe(run.etag);
      expect(added).toHaveLength(1);
      expect(added[0]).toMatchObject({ action_type: 'UPDATE', entity_type: 'WORKFLOW_RUN', entity_id: run.name, actor_id: 'erin' });
      expect(added[0]!.details).toEqual({ status: 'CANCELLED', previousStatus: 'PENDING', reason: 'not needed' });
      expect((await fx.workflows.getWorkflowRun({ name: run.name })).workflowRun).toEqual(c);

      const before = await fx.snapshot();
      const err = await rejection(fx.workflows.cancelWorkflowRun({ name: run.name }));
      expect(codeName(err.code)).toBe('FailedPrecondition');
      expect(errorReason(err)).toBe('RUN_ALREADY_ENDED');
      expect(err.rawMessage).toContain('CANCELLED');
      expect(await fx.snapshot()).toEqual(before);
    });

    it('RUNNING → CANCELLED: finished steps keep their status, open ones are cancelled', async () => {
      const run = await startRun(wf.name);
      const uid = run.name.split('/')[1];
      await fx.sql(`UPDATE workflow_runs SET status = 'RUNNING', start_time = now() WHERE uid = $1`, [uid]);
      await fx.sql(`UPDATE workflow_step_runs SET status = 'SUCCEEDED', attempt = 1, output = '{"summary":"sunny"}', start_time = now(), end_time = now() WHERE run_uid = $1 AND step_id = 'fetch'`, [uid]);
      await fx.sql(`UPDATE workflow_step_runs SET status = 'RUNNING', attempt = 1, start_time = now() WHERE run_uid = $1 AND step_id = 'summarize'`, [uid]);
      const c = (await fx.workflows.cancelWorkflowRun({ name: run.name })).workflowRun!;
      expect(c.status).toBe(WorkflowRunStatus.CANCELLED);
      expect(c.steps.map((s) => [s.stepId, s.status])).toEqual([
        ['fetch', StepRunStatus.SUCCEEDED],
        ['summarize', StepRunStatus.CANCELLED],
      ]);
      expect(c.steps[0]!.output).toBeDefined();
      const rows = await fx.outboxRows();
      expect(rows[rows.length - 1]!.details).toMatchObject({ status: 'CANCELLED', previousStatus: 'RUNNING' });
    });

    it.each(['SUCCEEDED', 'FAILED'])('a %s run cannot be cancelled (FAILED_PRECONDITION)', async (status) => {
      const run = await startRun(wf.name);
      await fx.sql(`UPDATE workflow_runs SET status = $2, end_time = now() WHERE uid = $1`, [run.name.split('/')[1], status]);
      const before = await fx.snapshot();
      const err = await rejection(fx.workflows.cancelWorkflowRun({ name: run.name }));
      expect(codeName(err.code)).toBe('FailedPrecondition');
      expect(err.rawMessage).toContain(status);
      expect(await fx.snapshot()).toEqual(before);
    });

    it('an unknown run is NOT_FOUND', async () => {
      expect(codeName((await rejection(fx.workflows.cancelWorkflowRun({ name: `workflowRuns/${randomUUID()}` }))).code)).toBe('NotFound');
    });
  });
});

describe('WatchWorkflowRun', () => {
  it('sends the current state at once, then each change, and ends with the final status', async () => {
    const wf = await createWorkflow();
    const run = await startRun(wf.name);
    const stream = fx.workflows.watchWorkflowRun({ name: run.name }, { timeoutMs: 15_000 })[Symbol.asyncIterator]();
    const first = await stream.next();
    expect(first.done).toBe(false);
    expect(first.value!.workflowRun).toEqual(run);
    const cancelled = (await fx.workflows.cancelWorkflowRun({ name: run.name, reason: 'watch test' })).workflowRun!;
    const started = Date.now();
    const second = await stream.next();
    // Woken by the change notification, not by the 2 s safety poll.
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(second.value!.workflowRun).toEqual(cancelled);
    expect(second.value!.workflowRun!.status).toBe(WorkflowRunStatus.CANCELLED);
    expect((await stream.next()).done).toBe(true);
  });

  it('a run that already ended is sent once and the stream ends', async () => {
    const wf = await createWorkflow();
    const run = await startRun(wf.name);
    const cancelled = (await fx.workflows.cancelWorkflowRun({ name: run.name })).workflowRun!;
    const messages = await drain(fx.workflows.watchWorkflowRun({ name: run.name }, { timeoutMs: 10_000 }));
    expect(messages.map((m) => m.workflowRun)).toEqual([cancelled]);
  });

  it('writes nothing', async () => {
    const wf = await createWorkflow();
    const run = await startRun(wf.name);
    const before = await fx.snapshot();
    const abort = new AbortController();
    const stream = fx.workflows.watchWorkflowRun({ name: run.name }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value!.workflowRun!.name).toBe(run.name);
    abort.abort();
    await stream.next().catch(() => undefined);
    expect(await fx.snapshot()).toEqual(before);
  });
});

describe('run notifications (triggers)', () => {
  let listener: PgClient;
  const heard: string[] = [];
  beforeAll(async () => {
    listener = new PgClient({ connectionString: fx.databaseUrl });
    await listener.connect();
    listener.on('notification', (n) => heard.push(`${n.channel} ${n.payload}`));
    for (const channel of Object.values(RUN_CHANNELS)) await listener.query(`LISTEN "${channel}"`);
  });
  afterAll(async () => {
    await listener?.end();
  });

  /** What the listener heard while `fn` ran, once a marker sent after it came back (notifications arrive in commit order). */
  async function heardDuring(fn: () => Promise<unknown>): Promise<string[]> {
    heard.length = 0;
    await fn();
    const marker = randomUUID();
    await fx.sql(`SELECT pg_notify('${RUN_CHANNELS.changed}', $1)`, [marker]);
    while (!heard.includes(`${RUN_CHANNELS.changed} ${marker}`)) await new Promise((r) => setTimeout(r, 5));
    return heard.filter((h) => !h.endsWith(marker));
  }

  it('a started run wakes the engines; a step or status change wakes watchers once per transaction; a cancel tells the engine', async () => {
    const wf = await createWorkflow();
    let uid = '';
    expect(
      await heardDuring(async () => {
        uid = (await startRun(wf.name)).name.split('/')[1]!;
      }),
    ).toEqual([`${RUN_CHANNELS.pending} ${uid}`]);
    // Two step rows in one statement: one notification.
    expect(await heardDuring(() => fx.sql(`UPDATE workflow_step_runs SET status = 'RUNNING', attempt = 1 WHERE run_uid = $1`, [uid]))).toEqual([
      `${RUN_CHANNELS.changed} ${uid}`,
    ]);
    // A lease renewal changes neither status nor revision: watchers are not woken.
    expect(await heardDuring(() => fx.sql(`UPDATE workflow_runs SET lease_expires_at = now() WHERE uid = $1`, [uid]))).toEqual([]);
    expect(await heardDuring(() => fx.workflows.cancelWorkflowRun({ name: `workflowRuns/${uid}` }))).toEqual([
      `${RUN_CHANNELS.changed} ${uid}`,
      `${RUN_CHANNELS.cancelled} ${uid}`,
    ]);
  });
});

describe('engine writes are fenced by the lease (two engines, store level)', () => {
  let db: Sequelize;
  let store: EngineStore;
  let runs: WorkflowRunRepository;
  beforeAll(() => {
    db = createSequelize({ url: fx.databaseUrl, poolMax: 2, applicationName: 'test-engines' });
    store = createEngineStore(db);
    runs = createWorkflowRunRepository(db);
  });
  afterAll(async () => {
    await db?.close();
  });

  const A = 'engine-a';
  const B = 'engine-b';
  const tx = <T>(fn: (t: import('sequelize').Transaction) => Promise<T>) => db.transaction(fn);
  const stepRow = async (uid: string) =>
    (await fx.sql<{ status: string; attempt: number; output: unknown }>('SELECT status, attempt, output FROM workflow_step_runs WHERE run_uid = $1 ORDER BY position', [uid]))[0]!;

  /** A run that engine A claimed and whose first step it started, then B took over (A stalled past its lease). */
  async function takenOverRun(): Promise<{ uid: string; stepId: string }> {
    const wf = await createWorkflow();
    const uid = (await startRun(wf.name)).name.split('/')[1]!;
    const stepId = wf.steps[0]!.id;
    // A's claim (the store's claimRuns takes the oldest PENDING run of the database, which may be another test's).
    await fx.sql(`UPDATE workflow_runs SET status = 'RUNNING', lease_owner = $2, lease_expires_at = now() + interval '1 minute' WHERE uid = $1`, [uid, A]);
    expect(await tx((t) => store.startFirstAttempts(t, uid, [stepId]))).toEqual([stepId]);
    // B's takeover: the lease moves, the interrupted attempt goes back to PENDING, B starts attempt 2.
    await fx.sql('UPDATE workflow_runs SET lease_owner = $2 WHERE uid = $1', [uid, B]);
    expect(await tx((t) => store.interruptedSteps(t, uid))).toEqual([{ stepId, attempt: 1 }]);
    expect(await tx((t) => store.startAttempt(t, { uid, owner: B }, stepId, 2))).toBe(true);
    return { uid, stepId };
  }

  it('the engine that lost the lease can neither finish its old attempt, start another, nor end the run', async () => {
    const { uid, stepId } = await takenOverRun();
    const late = { uid, owner: A };
    expect(await tx((t) => store.finishAttempt(t, late, stepId, 1, { status: 'SUCCEEDED', output: { from: 'a' } }))).toBe(false);
    expect(await tx((t) => store.finishAttempt(t, late, stepId, 2, { status: 'FAILED', error: 'late' }))).toBe(false);
    expect(await tx((t) => store.startAttempt(t, late, stepId, 3))).toBe(false);
    expect(await tx((t) => runs.transition(t, uid, ['RUNNING'], 'SUCCEEDED', { leaseOwner: A }))).toBeUndefined();
    expect(await stepRow(uid)).toEqual({ status: 'RUNNING', attempt: 2, output: null });
    expect((await runs.findByUid(uid))!.status).toBe('RUNNING');
  });

  it('the owner finishes only the attempt it is running, then ends the run', async () => {
    const { uid, stepId } = await takenOverRun();
    const owner = { uid, owner: B };
    expect(await tx((t) => store.finishAttempt(t, owner, stepId, 1, { status: 'SUCCEEDED', output: { from: 'stale' } }))).toBe(false);
    expect(await tx((t) => store.finishAttempt(t, owner, stepId, 2, { status: 'SUCCEEDED', output: { from: 'b' } }))).toBe(true);
    expect(await stepRow(uid)).toEqual({ status: 'SUCCEEDED', attempt: 2, output: { from: 'b' } });
    expect(await tx((t) => runs.transition(t, uid, ['RUNNING'], 'SUCCEEDED', { leaseOwner: B }))).toBe('RUNNING');
  });

  it('a write by the old owner waits for a takeover in progress, then is refused', async () => {
    const wf = await createWorkflow();
    const uid = (await startRun(wf.name)).name.split('/')[1]!;
    const stepId = wf.steps[0]!.id;
    await fx.sql(`UPDATE workflow_runs SET status = 'RUNNING', lease_owner = $2, lease_expires_at = now() WHERE uid = $1`, [uid, A]);
    // B's claim, not yet committed: it holds the run row.
    const claim = new PgClient({ connectionString: fx.databaseUrl });
    await claim.connect();
    try {
      await claim.query('BEGIN');
      await claim.query('UPDATE workflow_runs SET lease_owner = $2 WHERE uid = $1', [uid, B]);
      let settled = false;
      const late = tx((t) => store.startAttempt(t, { uid, owner: A }, stepId, 1)).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false); // it waits for the claim instead of reading the row as it was
      await claim.query('COMMIT');
      expect(await late).toBe(false);
      expect(await stepRow(uid)).toMatchObject({ status: 'PENDING', attempt: 0 });
    } finally {
      await claim.end();
    }
  });

  it('a cancelled run fences every engine, and a backoff in progress is read back for the next owner', async () => {
    const { uid, stepId } = await takenOverRun();
    expect(await tx((t) => store.finishAttempt(t, { uid, owner: B }, stepId, 2, { status: 'PENDING', error: 'flaky', retryInMs: 60_000 }))).toBe(true);
    const waiting = (await runs.findByUid(uid))!.steps[0]!;
    expect({ status: waiting.status, attempt: waiting.attempt }).toEqual({ status: 'PENDING', attempt: 2 });
    expect(waiting.retryDueInMs).toBeGreaterThan(55_000);
    expect(waiting.retryDueInMs).toBeLessThanOrEqual(60_000);
    await fx.workflows.cancelWorkflowRun({ name: `workflowRuns/${uid}` });
    expect(await tx((t) => store.startAttempt(t, { uid, owner: B }, stepId, 3))).toBe(false);
  });
});

describe('bookkeeping', () => {
  it('every workflow definition and run that exists has exactly one CREATE row', async () => {
    const rows = await fx.outboxRows();
    const creates = (type: string, id: string) => rows.filter((r) => r.action_type === 'CREATE' && r.entity_type === type && r.entity_id === id).length;
    for (const { name } of await fx.sql<{ name: string }>('SELECT name FROM workflow_definitions')) {
      expect({ name, n: creates('WORKFLOW_DEFINITION', name) }).toEqual({ name, n: 1 });
    }
    for (const { uid } of await fx.sql<{ uid: string }>('SELECT uid FROM workflow_runs')) {
      expect({ uid, n: creates('WORKFLOW_RUN', `workflowRuns/${uid}`) }).toEqual({ uid, n: 1 });
    }
  });
});
