import { randomUUID } from 'node:crypto';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { McpDefinition } from '../../../shared/gen/mcpbackend/mcp/v1/mcp_definition_pb';
import {
  codeName,
  errorReason,
  mcpDefinitionInput,
  rejection,
  startDomainFixture,
  uniqueMcpName,
  uniqueSecret,
  violatedFields,
  workflowDefinitionInput,
  type DomainFixture,
  type McpDefinitionInit,
} from './domain-fixture';

/**
 * McpDefinitionService behaviour: the standard methods, request_id idempotency, etags, update
 * masks, secrets that never leave the database, the in-use guard on delete, list filters and
 * page tokens. Every successful mutation must leave exactly one row in `audit_outbox`.
 */

let fx: DomainFixture;
beforeAll(async () => {
  fx = await startDomainFixture();
});
afterAll(async () => {
  await fx?.close();
});

/** Every secret value the tests send; none may ever appear in a response, outbox row or log line. */
const secrets: string[] = [];
function newSecret(): string {
  const s = uniqueSecret();
  secrets.push(s);
  return s;
}

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
/** Every response the tests received, serialized; checked for secrets at the end. */
const responses: string[] = [];
function seen<T>(res: T): T {
  responses.push(json(res));
  return res;
}

const headers = { 'x-user-id': 'alice' };

async function createDefinition(overrides: Partial<McpDefinitionInit> & { secret?: string } = {}, requestId = ''): Promise<McpDefinition> {
  const res = seen(await fx.mcp.createMcpDefinition({ mcpDefinition: mcpDefinitionInput({ secret: newSecret(), ...overrides }), requestId }, { headers }));
  return res.mcpDefinition!;
}

async function storedTransport(name: string): Promise<Record<string, unknown>> {
  const rows = await fx.sql<{ transport: Record<string, unknown> }>('SELECT transport FROM mcp_definitions WHERE name = $1', [name]);
  expect(rows).toHaveLength(1);
  return rows[0]!.transport;
}

async function storedRow(name: string) {
  return (await fx.sql<Record<string, unknown>>('SELECT * FROM mcp_definitions WHERE name = $1', [name]))[0];
}

/** Runs `fn` and returns the outbox rows it added. */
async function outboxDuring(fn: () => Promise<unknown>) {
  const before = await fx.outboxRows();
  await fn();
  const after = await fx.outboxRows();
  const old = new Set(before.map((r) => r.id));
  return after.filter((r) => !old.has(r.id));
}

describe('create and get', () => {
  it('creates a definition, returns it redacted, stores the secret, and writes one CREATE outbox row', async () => {
    const secret = newSecret();
    const input = mcpDefinitionInput({ secret });
    let created: McpDefinition | undefined;
    const added = await outboxDuring(async () => {
      created = seen(await fx.mcp.createMcpDefinition({ mcpDefinition: input }, { headers })).mcpDefinition!;
    });
    const d = created!;
    expect(d.name).toBe(input.name);
    expect(d.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(d).toMatchObject({
      title: 'Weather',
      description: 'Weather forecasts',
      version: '1.2.3',
      repositoryUrl: 'https://github.com/acme/weather',
      tags: ['weather', 'demo'],
    });
    expect(d.tools.map((t) => t.name)).toEqual(['forecast', 'summarize']);
    expect(d.tools[0]!.inputSchema).toEqual({ type: 'object', properties: { city: { type: 'string' } } });
    expect(d.transport.case).toBe('stdio');
    if (d.transport.case !== 'stdio') throw new Error('unreachable');
    expect(d.transport.value.command).toBe('node');
    expect(d.transport.value.args).toEqual(['server.js', '--stdio']);
    expect(d.transport.value.env.map(({ name, value, secret: s }) => ({ name, value, secret: s }))).toEqual([
      { name: 'LOG_LEVEL', value: 'info', secret: false },
      { name: 'API_KEY', value: '', secret: true },
    ]);
    expect(d.etag).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(d.createTime).toBeDefined();
    expect(timestampMs(d.createTime!)).toBe(timestampMs(d.updateTime!));
    expect(Math.abs(timestampMs(d.createTime!) - Date.now())).toBeLessThan(60_000);

    // Stored with the secret.
    expect(JSON.stringify(await storedTransport(d.name))).toContain(secret);

    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ action_type: 'CREATE', entity_type: 'MCP_DEFINITION', entity_id: d.name, actor_id: 'alice' });
    expect(added[0]!.details).toMatchObject({ mcpDefinition: { name: d.name, uid: d.uid, version: '1.2.3', etag: d.etag } });
    expect(JSON.stringify(added[0]!.details)).not.toContain(secret);

    const got = seen(await fx.mcp.getMcpDefinition({ name: d.name })).mcpDefinition!;
    expect(got).toEqual(d);
  });

  it('ignores output-only fields on create (uid, etag, times)', async () => {
    const d = await createDefinition({ uid: '00000000-0000-4000-8000-000000000000', etag: 'bogus', createTime: { seconds: 1n } });
    expect(d.uid).not.toBe('00000000-0000-4000-8000-000000000000');
    expect(d.etag).not.toBe('bogus');
    expect(Number(d.createTime!.seconds)).toBeGreaterThan(1_700_000_000);
  });

  it('creates a streamable_http definition; a secret header reads back empty', async () => {
    const token = newSecret();
    const d = await createDefinition({
      transport: {
        case: 'streamableHttp',
        value: {
          url: 'https://mcp.example.com/mcp',
          headers: [
            { name: 'Authorization', value: `Bearer ${token}`, secret: true },
            { name: 'X-Team', value: 'blue' },
          ],
        },
      },
    });
    expect(d.transport.case).toBe('streamableHttp');
    if (d.transport.case !== 'streamableHttp') throw new Error('unreachable');
    expect(d.transport.value.url).toBe('https://mcp.example.com/mcp');
    expect(d.transport.value.headers.map(({ name, value, secret }) => ({ name, value, secret }))).toEqual([
      { name: 'Authorization', value: '', secret: true },
      { name: 'X-Team', value: 'blue', secret: false },
    ]);
    expect(JSON.stringify(await storedTransport(d.name))).toContain(token);
  });

  it('GetMcpDefinition of an unknown name is NOT_FOUND', async () => {
    const err = await rejection(fx.mcp.getMcpDefinition({ name: uniqueMcpName() }));
    expect(codeName(err.code)).toBe('NotFound');
    expect(errorReason(err)).toBe('RESOURCE_NOT_FOUND');
  });
});

describe('request_id idempotency', () => {
  it('a retry with the same request_id returns the original definition and writes nothing more', async () => {
    const requestId = randomUUID();
    const input = mcpDefinitionInput({ secret: newSecret() });
    const before = await fx.outboxCount();
    const first = seen(await fx.mcp.createMcpDefinition({ mcpDefinition: input, requestId })).mcpDefinition!;
    const second = seen(await fx.mcp.createMcpDefinition({ mcpDefinition: input, requestId })).mcpDefinition!;
    // Upper-case spelling of the same UUID is the same key.
    const third = seen(await fx.mcp.createMcpDefinition({ mcpDefinition: input, requestId: requestId.toUpperCase() })).mcpDefinition!;
    expect(second.uid).toBe(first.uid);
    expect(second).toEqual(first);
    expect(third.uid).toBe(first.uid);
    expect(await fx.outboxCount()).toBe(before + 1);
    expect(await fx.sql('SELECT * FROM mcp_definitions WHERE name = $1', [input.name])).toHaveLength(1);
    expect(await fx.sql('SELECT * FROM idempotency_keys WHERE request_id = $1', [requestId])).toHaveLength(1);
  });

  it('concurrent retries with one request_id create one definition and one outbox row', async () => {
    const requestId = randomUUID();
    const input = mcpDefinitionInput({ secret: newSecret() });
    const before = await fx.outboxCount();
    const results = await Promise.all(Array.from({ length: 5 }, () => fx.mcp.createMcpDefinition({ mcpDefinition: input, requestId })));
    expect(new Set(results.map((r) => r.mcpDefinition!.uid)).size).toBe(1);
    expect(await fx.outboxCount()).toBe(before + 1);
  });

  it('a replay returns the original even after the definition changed (AIP-155 returns the resource)', async () => {
    const requestId = randomUUID();
    const first = await createDefinition({}, requestId);
    await fx.mcp.updateMcpDefinition({ mcpDefinition: { name: first.name, description: 'changed' }, updateMask: { paths: ['description'] } });
    const before = await fx.outboxCount();
    const again = seen(await fx.mcp.createMcpDefinition({ mcpDefinition: mcpDefinitionInput({ name: first.name }), requestId })).mcpDefinition!;
    expect(again.uid).toBe(first.uid);
    expect(await fx.outboxCount()).toBe(before);
  });

  it('a duplicate name is ALREADY_EXISTS (with or without another request_id), and writes nothing', async () => {
    const d = await createDefinition();
    for (const requestId of ['', randomUUID()]) {
      const before = await fx.snapshot();
      const err = await rejection(fx.mcp.createMcpDefinition({ mcpDefinition: mcpDefinitionInput({ name: d.name }), requestId }));
      expect(codeName(err.code)).toBe('AlreadyExists');
      expect(errorReason(err)).toBe('RESOURCE_ALREADY_EXISTS');
      expect(err.rawMessage).toContain(d.name);
      expect(await fx.snapshot()).toEqual(before);
    }
  });
});

describe('update', () => {
  it('changes only the masked fields, bumps etag and update_time, and writes one UPDATE row with the diff', async () => {
    const d = await createDefinition();
    let updated: McpDefinition | undefined;
    const added = await outboxDuring(async () => {
      updated = seen(
        await fx.mcp.updateMcpDefinition(
          {
            // Everything differs, but only description is masked.
            mcpDefinition: {
              ...mcpDefinitionInput({ name: d.name, title: 'Other', version: '9.9.9', tags: ['x'], repositoryUrl: '' }),
              description: 'New description',
              etag: d.etag,
            },
            updateMask: { paths: ['description'] },
          },
          { headers: { 'x-user-id': 'bob' } },
        ),
      ).mcpDefinition!;
    });
    const u = updated!;
    expect(u.description).toBe('New description');
    expect({ ...u, description: d.description, etag: d.etag, updateTime: d.updateTime }).toEqual(d);
    expect(u.etag).not.toBe(d.etag);
    expect(timestampMs(u.updateTime!)).toBeGreaterThanOrEqual(timestampMs(d.updateTime!));
    expect(u.createTime).toEqual(d.createTime);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ action_type: 'UPDATE', entity_type: 'MCP_DEFINITION', entity_id: d.name, actor_id: 'bob' });
    expect(added[0]!.details).toEqual({ changes: { description: { before: 'Weather forecasts', after: 'New description' } } });
    expect(seen(await fx.mcp.getMcpDefinition({ name: d.name })).mcpDefinition).toEqual(u);
  });

  it('a stale etag is ABORTED and writes nothing', async () => {
    const d = await createDefinition();
    await fx.mcp.updateMcpDefinition({ mcpDefinition: { name: d.name, title: 'T2', etag: d.etag }, updateMask: { paths: ['title'] } });
    const before = await fx.snapshot();
    const err = await rejection(fx.mcp.updateMcpDefinition({ mcpDefinition: { name: d.name, title: 'T3', etag: d.etag }, updateMask: { paths: ['title'] } }));
    expect(codeName(err.code)).toBe('Aborted');
    expect(errorReason(err)).toBe('ETAG_MISMATCH');
    expect(await fx.snapshot()).toEqual(before);
    expect(seen(await fx.mcp.getMcpDefinition({ name: d.name })).mcpDefinition!.title).toBe('T2');
  });

  it('an empty mask (and "*") replaces every mutable field: omitted ones are cleared', async () => {
    const d = await createDefinition();
    const u = seen(
      await fx.mcp.updateMcpDefinition({
        mcpDefinition: {
          name: d.name,
          description: 'Only the required fields',
          version: '2.0.0',
          transport: { case: 'stdio', value: { command: '/usr/local/bin/weather' } },
        },
      }),
    ).mcpDefinition!;
    expect(u).toMatchObject({ name: d.name, uid: d.uid, title: '', description: 'Only the required fields', version: '2.0.0', repositoryUrl: '', tags: [], tools: [] });
    expect(u.transport).toMatchObject({ case: 'stdio', value: { command: '/usr/local/bin/weather', args: [], env: [] } });
    // The secret env entry was dropped with the rest of the transport.
    expect(JSON.stringify(await storedTransport(d.name))).not.toMatch(/sk-live-/);

    const star = seen(
      await fx.mcp.updateMcpDefinition({
        mcpDefinition: { ...mcpDefinitionInput({ name: d.name, secret: newSecret() }), title: 'Back' },
        updateMask: { paths: ['*'] },
      }),
    ).mcpDefinition!;
    expect(star).toMatchObject({ title: 'Back', description: 'Weather forecasts', version: '1.2.3', tags: ['weather', 'demo'] });
    expect(star.tools).toHaveLength(2);
  });

  it('an empty mask with a missing required field is INVALID_ARGUMENT (everything is validated)', async () => {
    const d = await createDefinition();
    const before = await fx.snapshot();
    const err = await rejection(fx.mcp.updateMcpDefinition({ mcpDefinition: { name: d.name, description: 'x' } }));
    expect(codeName(err.code)).toBe('InvalidArgument');
    expect(violatedFields(err)).toEqual(expect.arrayContaining(['mcp_definition.version', 'mcp_definition.transport']));
    expect(await fx.snapshot()).toEqual(before);
  });

  it('a masked field sent empty is cleared; unmasked invalid values are ignored', async () => {
    const d = await createDefinition();
    const u = seen(
      await fx.mcp.updateMcpDefinition({
        mcpDefinition: { name: d.name, tags: [], version: 'latest', title: 'x'.repeat(500) },
        updateMask: { paths: ['tags'] },
      }),
    ).mcpDefinition!;
    expect(u.tags).toEqual([]);
    expect(u.version).toBe('1.2.3');
    expect(u.title).toBe('Weather');
  });

  it('an update that changes nothing writes nothing and keeps the etag', async () => {
    const d = await createDefinition();
    const before = await fx.snapshot();
    const same = seen(await fx.mcp.updateMcpDefinition({ mcpDefinition: { name: d.name, title: d.title, etag: d.etag }, updateMask: { paths: ['title'] } })).mcpDefinition!;
    expect(same).toEqual(d);
    expect(await fx.snapshot()).toEqual(before);
  });

  it('UpdateMcpDefinition of an unknown name is NOT_FOUND', async () => {
    const err = await rejection(fx.mcp.updateMcpDefinition({ mcpDefinition: { name: uniqueMcpName(), title: 'x' }, updateMask: { paths: ['title'] } }));
    expect(codeName(err.code)).toBe('NotFound');
  });
});

describe('secrets', () => {
  it('a definition read back and sent as is keeps its secret (env); the DB value is unchanged', async () => {
    const secret = newSecret();
    const d = await createDefinition({ secret });
    const storedBefore = await storedTransport(d.name);
    const read = seen(await fx.mcp.getMcpDefinition({ name: d.name })).mcpDefinition!;
    // Full replacement with what was read (secret value ''), plus a description change.
    const u = seen(await fx.mcp.updateMcpDefinition({ mcpDefinition: { ...read, description: 'Round trip' } })).mcpDefinition!;
    expect(u.description).toBe('Round trip');
    expect(await storedTransport(d.name)).toEqual(storedBefore);
    expect(JSON.stringify(await storedTransport(d.name))).toContain(secret);
    // Only the transport mask, sent back unchanged: nothing changes at all.
    const before = await fx.snapshot();
    const again = seen(await fx.mcp.updateMcpDefinition({ mcpDefinition: u, updateMask: { paths: ['transport'] } })).mcpDefinition!;
    expect(again.etag).toBe(u.etag);
    expect(await fx.snapshot()).toEqual(before);
  });

  it('a secret header survives a round trip even when its name changes case', async () => {
    const token = newSecret();
    const d = await createDefinition({
      transport: { case: 'streamableHttp', value: { url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', value: `Bearer ${token}`, secret: true }] } },
    });
    const read = seen(await fx.mcp.getMcpDefinition({ name: d.name })).mcpDefinition!;
    if (read.transport.case !== 'streamableHttp') throw new Error('expected streamable_http');
    read.transport.value.headers[0]!.name = 'authorization';
    read.transport.value.url = 'https://mcp2.example.com/mcp';
    seen(await fx.mcp.updateMcpDefinition({ mcpDefinition: read, updateMask: { paths: ['transport'] } }));
    const stored = (await storedTransport(d.name)) as { headers?: { name: string; value: string }[] };
    expect(JSON.stringify(stored)).toContain(`Bearer ${token}`);
    expect(JSON.stringify(stored)).toContain('mcp2.example.com');
  });

  it('rotating a secret stores the new value and audits a transport change without either value', async () => {
    const oldSecret = newSecret();
    const newValue = newSecret();
    const d = await createDefinition({ secret: oldSecret });
    const input = mcpDefinitionInput({ name: d.name, secret: newValue });
    const added = await outboxDuring(() => fx.mcp.updateMcpDefinition({ mcpDefinition: input, updateMask: { paths: ['transport'] } }).then(seen));
    const stored = JSON.stringify(await storedTransport(d.name));
    expect(stored).toContain(newValue);
    expect(stored).not.toContain(oldSecret);
    expect(added).toHaveLength(1);
    expect(Object.keys(added[0]!.details.changes as object)).toEqual(['transport']);
    expect(JSON.stringify(added[0]!.details)).not.toContain(newValue);
    expect(JSON.stringify(added[0]!.details)).not.toContain(oldSecret);
  });

  it('a secret turned non-secret with an empty value does not inherit (and so expose) the stored value', async () => {
    const secret = newSecret();
    const d = await createDefinition({ secret });
    const u = seen(
      await fx.mcp.updateMcpDefinition({
        mcpDefinition: { name: d.name, transport: { case: 'stdio', value: { command: 'node', env: [{ name: 'API_KEY', value: '', secret: false }] } } },
        updateMask: { paths: ['transport'] },
      }),
    ).mcpDefinition!;
    expect(JSON.stringify(await storedTransport(d.name))).not.toContain(secret);
    expect(json(u)).not.toContain(secret);
  });

  it('an invalid request carrying a secret does not echo it in the error', async () => {
    const secret = newSecret();
    const err = await rejection(
      fx.mcp.createMcpDefinition({
        mcpDefinition: mcpDefinitionInput({
          transport: { case: 'streamableHttp', value: { url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', value: `Bearer ${secret}\r\nX-Evil: 1`, secret: true }] } },
        }),
      }),
    );
    expect(codeName(err.code)).toBe('InvalidArgument');
    expect(violatedFields(err)).toEqual(['mcp_definition.transport.streamable_http.headers[0].value']);
    responses.push(json({ message: err.rawMessage, details: err.details }));
  });
});

describe('secrets on the error path', () => {
  it('a request that fails in the database does not write its secret to the logs (and is not INTERNAL)', async () => {
    // Kept out of `secrets` so the global no-leak check below reports the other paths separately.
    const secret = uniqueSecret();
    const logsBefore = fx.logs.length;
    const err = await rejection(
      fx.mcp.createMcpDefinition({
        // A NUL character passes validation today, and jsonb cannot store it: the INSERT fails.
        mcpDefinition: mcpDefinitionInput({ secret, tools: [{ name: 'a', inputSchema: { type: 'object', description: 'a\u0000b' } }] }),
      }),
    );
    const leaked = fx.logs.slice(logsBefore).filter((line) => line.includes(secret));
    expect(leaked.map((line) => (JSON.parse(line) as { msg?: string }).msg)).toEqual([]);
    expect(codeName(err.code)).toBe('InvalidArgument');
    expect(violatedFields(err)).toEqual(['mcp_definition.tools[0].input_schema.description']);
  });
});

describe('delete', () => {
  it('is FAILED_PRECONDITION while a workflow definition uses it, naming the workflow; force deletes', async () => {
    const d = await createDefinition();
    const wf = seen(await fx.workflows.createWorkflowDefinition({ workflowDefinition: workflowDefinitionInput(d.name) })).workflowDefinition!;
    const before = await fx.snapshot();
    const err = await rejection(fx.mcp.deleteMcpDefinition({ name: d.name }));
    expect(codeName(err.code)).toBe('FailedPrecondition');
    expect(errorReason(err)).toBe('MCP_DEFINITION_IN_USE');
    expect(err.rawMessage).toContain(`"${wf.name}"`);
    expect(await fx.snapshot()).toEqual(before);

    const added = await outboxDuring(() => fx.mcp.deleteMcpDefinition({ name: d.name, force: true }, { headers }));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ action_type: 'DELETE', entity_type: 'MCP_DEFINITION', entity_id: d.name, actor_id: 'alice' });
    expect(added[0]!.details).toMatchObject({ force: true, usedBy: [wf.name], mcpDefinition: { name: d.name, uid: d.uid } });
    expect(codeName((await rejection(fx.mcp.getMcpDefinition({ name: d.name }))).code)).toBe('NotFound');
    // The workflow definition stays (its runs will fail on that step).
    expect(seen(await fx.workflows.getWorkflowDefinition({ name: wf.name })).workflowDefinition!.uid).toBe(wf.uid);
  });

  it('checks the etag: stale → ABORTED (nothing written), current → deleted', async () => {
    const d = await createDefinition();
    const u = seen(await fx.mcp.updateMcpDefinition({ mcpDefinition: { name: d.name, title: 'v2' }, updateMask: { paths: ['title'] } })).mcpDefinition!;
    const before = await fx.snapshot();
    const err = await rejection(fx.mcp.deleteMcpDefinition({ name: d.name, etag: d.etag }));
    expect(codeName(err.code)).toBe('Aborted');
    expect(await fx.snapshot()).toEqual(before);
    const added = await outboxDuring(() => fx.mcp.deleteMcpDefinition({ name: d.name, etag: u.etag }));
    expect(added).toHaveLength(1);
    expect(await storedRow(d.name)).toBeUndefined();
  });

  it('an unknown name is NOT_FOUND; a deleted name can be created again with a new uid', async () => {
    const d = await createDefinition();
    await fx.mcp.deleteMcpDefinition({ name: d.name });
    expect(codeName((await rejection(fx.mcp.deleteMcpDefinition({ name: d.name }))).code)).toBe('NotFound');
    const again = await createDefinition({ name: d.name });
    expect(again.uid).not.toBe(d.uid);
  });
});

describe('list', () => {
  const tag = `list-${randomUUID().slice(0, 8)}`;
  const defs: McpDefinition[] = [];
  let midTime = '';

  beforeAll(async () => {
    const namespace = `io.github.list${randomUUID().slice(0, 6)}`;
    for (const [i, id] of ['e-five', 'a-one', 'c-three', 'b-two', 'd-four'].entries()) {
      if (i === 3) {
        await new Promise((r) => setTimeout(r, 20));
        midTime = new Date().toISOString();
        await new Promise((r) => setTimeout(r, 20));
      }
      const http = i % 2 === 1;
      defs.push(
        await createDefinition({
          name: `${namespace}/${id}`,
          version: i === 2 ? '2.0.0' : '1.0.0',
          tags: [tag, ...(i === 0 ? ['special'] : [])],
          ...(http ? { transport: { case: 'streamableHttp', value: { url: `https://${id}.example.com/mcp` } } } : {}),
        }),
      );
    }
    defs.sort((a, b) => (a.name < b.name ? -1 : 1));
  });

  const list = async (filter: string, pageSize = 0, pageToken = '') => seen(await fx.mcp.listMcpDefinitions({ filter, pageSize, pageToken }));
  const names = (ds: McpDefinition[]) => ds.map((d) => d.name);

  it('filters by tag, ordered by name', async () => {
    const res = await list(`tag = "${tag}"`);
    expect(names(res.mcpDefinitions)).toEqual(names(defs));
    expect(res.nextPageToken).toBe('');
    expect(names((await list(`tag = "${tag}" AND tag = "special"`)).mcpDefinitions)).toEqual([defs.find((d) => d.name.endsWith('/e-five'))!.name]);
  });

  it('filters by transport, name and version', async () => {
    const http = (await list(`tag = "${tag}" AND transport = STREAMABLE_HTTP`)).mcpDefinitions;
    expect(names(http).map((n) => n.split('/')[1])).toEqual(['a-one', 'b-two']);
    expect(http.every((d) => d.transport.case === 'streamableHttp')).toBe(true);
    const stdio = (await list(`transport = "STDIO" AND tag = "${tag}"`)).mcpDefinitions;
    expect(names(stdio).map((n) => n.split('/')[1])).toEqual(['c-three', 'd-four', 'e-five']);
    expect(names((await list(`name = "${defs[2]!.name}"`)).mcpDefinitions)).toEqual([defs[2]!.name]);
    expect(names((await list(`version = "2.0.0" AND tag = "${tag}"`)).mcpDefinitions).map((n) => n.split('/')[1])).toEqual(['c-three']);
  });

  it('filters by create_time and update_time', async () => {
    const after = (await list(`tag = "${tag}" AND create_time > "${midTime}"`)).mcpDefinitions;
    expect(names(after).map((n) => n.split('/')[1])).toEqual(['b-two', 'd-four']);
    const beforeMid = (await list(`tag = "${tag}" AND create_time <= "${midTime}"`)).mcpDefinitions;
    expect(beforeMid).toHaveLength(3);
    expect((await list(`tag = "${tag}" AND update_time >= "${midTime}"`)).mcpDefinitions).toHaveLength(2);
  });

  it('pages with page tokens (page size may change between pages)', async () => {
    const filter = `tag = "${tag}"`;
    const p1 = await list(filter, 2);
    expect(names(p1.mcpDefinitions)).toEqual(names(defs.slice(0, 2)));
    expect(p1.nextPageToken).not.toBe('');
    const p2 = await list(filter, 2, p1.nextPageToken);
    expect(names(p2.mcpDefinitions)).toEqual(names(defs.slice(2, 4)));
    const p3 = await list(filter, 5, p2.nextPageToken);
    expect(names(p3.mcpDefinitions)).toEqual(names(defs.slice(4)));
    expect(p3.nextPageToken).toBe('');
    // An exact fit has no next page.
    expect((await list(filter, 5)).nextPageToken).toBe('');
  });

  it('a token from another filter is INVALID_ARGUMENT on page_token', async () => {
    const p1 = await list(`tag = "${tag}"`, 1);
    const err = await rejection(fx.mcp.listMcpDefinitions({ filter: `tag = "${tag}" AND transport = STDIO`, pageSize: 1, pageToken: p1.nextPageToken }));
    expect(codeName(err.code)).toBe('InvalidArgument');
    expect(violatedFields(err)).toEqual(['page_token']);
  });
});

describe('nothing secret leaks', () => {
  it('no secret appears in any response, outbox row or log line', async () => {
    expect(secrets.length).toBeGreaterThan(5);
    const outbox = json(await fx.outboxRows());
    const logs = fx.logs.join('');
    expect(fx.logs.length).toBeGreaterThan(0);
    // The logs are real: every call above was logged.
    expect(logs).toContain('mcpbackend.mcp.v1.McpDefinitionService/CreateMcpDefinition');
    const all = responses.join('\n');
    for (const secret of secrets) {
      expect(all).not.toContain(secret);
      expect(outbox).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });

  it('every definition that exists has exactly one CREATE outbox row for its uid', async () => {
    const rows = await fx.outboxRows();
    const existing = await fx.sql<{ name: string; uid: string }>('SELECT name, uid FROM mcp_definitions');
    expect(existing.length).toBeGreaterThan(10);
    for (const d of existing) {
      const creates = rows.filter(
        (r) => r.action_type === 'CREATE' && r.entity_type === 'MCP_DEFINITION' && (r.details.mcpDefinition as { uid?: string } | undefined)?.uid === d.uid,
      );
      expect({ name: d.name, creates: creates.length }).toEqual({ name: d.name, creates: 1 });
    }
  });
});
