import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import path from 'node:path';
import type { JsonObject } from '@bufbuild/protobuf';
import { startFixtureHttpServer, type FixtureHttpServer, type FixtureStats } from '../../../../test/fixtures/mcp-fixture-server';
import { createMcpClientPool, ToolCallError, type McpClientPool, type McpEndpoint, type ToolCallErrorKind } from './mcp-client-pool';

const FIXTURE = path.resolve(__dirname, '../../../../test/fixtures/mcp-fixture-server.ts');

interface LogLine {
  level: string;
  obj: object;
  msg?: string;
}

function captureLogger(): { lines: LogLine[]; logger: Parameters<typeof createMcpClientPool>[0]['logger'] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } };
}

let keySeq = 0;
function stdioEndpoint(name = 'fixture'): McpEndpoint {
  return {
    key: `stdio-${++keySeq}:1`,
    name,
    transport: { kind: 'stdio', command: process.execPath, args: ['--import', 'tsx', FIXTURE, '--stdio'], env: [] },
  };
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function expectToolCallError(p: Promise<unknown>, kind: ToolCallErrorKind): Promise<ToolCallError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ToolCallError);
  expect((err as ToolCallError).kind).toBe(kind);
  return err as ToolCallError;
}

type Mode = 'stdio' | 'streamable_http';
type CallExtra = Partial<{ signal: AbortSignal; timeoutMs: number; meta: Record<string, unknown> }>;

/**
 * Spawning the stdio fixture through tsx costs about a second, so most tests share one pool
 * and one server per transport and read the server's counters as deltas; tests about a
 * client's lifecycle (idle, close, crash, connect) get their own pool.
 */
describe.each<Mode>(['stdio', 'streamable_http'])('MCP client pool over %s', (mode) => {
  let http: FixtureHttpServer | undefined;
  let endpoint: McpEndpoint;
  let shared: McpClientPool;
  let sharedLog: ReturnType<typeof captureLogger>;
  const owned: McpClientPool[] = [];
  const noSignal = new AbortController().signal;

  function makePool(log: ReturnType<typeof captureLogger>, idleMs = 60_000, connectTimeoutMs = 5_000): McpClientPool {
    const pool = createMcpClientPool({ idleMs, connectTimeoutMs, logger: log.logger, clientInfo: { name: 'pool-test', version: '0.0.0' } });
    owned.push(pool);
    return pool;
  }
  function newEndpoint(): McpEndpoint {
    if (mode === 'stdio') return stdioEndpoint();
    return { key: `http-${++keySeq}:1`, name: 'fixture', transport: { kind: 'streamable_http', url: http!.url, headers: [] } };
  }
  const callOn = (pool: McpClientPool, ep: McpEndpoint, tool: string, args: JsonObject = {}, extra: CallExtra = {}) =>
    pool.callTool(ep, tool, args, { signal: noSignal, timeoutMs: 5_000, meta: {}, ...extra });
  const call = (tool: string, args: JsonObject = {}, extra: CallExtra = {}) => callOn(shared, endpoint, tool, args, extra);
  const statsOn = async (pool: McpClientPool, ep: McpEndpoint): Promise<FixtureStats> =>
    (await callOn(pool, ep, 'stats')).output as unknown as FixtureStats;
  const stats = () => statsOn(shared, endpoint);

  beforeAll(async () => {
    if (mode === 'streamable_http') http = await startFixtureHttpServer();
    sharedLog = captureLogger();
    shared = makePool(sharedLog);
    endpoint = newEndpoint();
    await stats(); // connected before the timing-sensitive tests start
  });

  afterAll(async () => {
    await Promise.all(owned.map((p) => p.close()));
    await http?.close();
  });

  it('returns structuredContent as output', async () => {
    await expect(call('echo', { text: 'hello' })).resolves.toEqual({ isError: false, output: { text: 'hello' }, errorText: '' });
    await expect(call('add', { a: 2, b: 40 })).resolves.toMatchObject({ isError: false, output: { sum: 42 } });
  });

  it('returns the content blocks as output when the tool gives no structuredContent', async () => {
    await expect(call('say', { text: 'plain words' })).resolves.toEqual({ isError: false, output: [{ type: 'text', text: 'plain words' }], errorText: '' });
  });

  it('reports tool errors as isError results, and flaky tools succeed once their failures are spent', async () => {
    const key = `flaky-${mode}`;
    await expect(call('flaky', { key, failures: 2 })).resolves.toMatchObject({ isError: true, errorText: 'flaky failure 1 of 2' });
    await expect(call('flaky', { key, failures: 2 })).resolves.toMatchObject({ isError: true, errorText: 'flaky failure 2 of 2' });
    await expect(call('flaky', { key, failures: 2 })).resolves.toMatchObject({ isError: false, output: { attempts: 3 } });
    await expect(call('always_fail', { message: 'boom' })).resolves.toMatchObject({ isError: true, errorText: 'boom' });
  });

  it('answers a server-side validation error as a tool error, not a transport failure', async () => {
    const result = await call('add', { a: 'x', b: 1 });
    expect(result.isError).toBe(true);
    expect(result.errorText).toMatch(/Input validation error/);
    await expect(call('add', { a: 1, b: 1 })).resolves.toMatchObject({ output: { sum: 2 } });
  });

  it("maps a timeout to kind 'timeout' and the server sees the cancellation", async () => {
    const before = (await stats()).cancelled;
    const started = Date.now();
    const err = await expectToolCallError(call('sleep', { ms: 10_000 }, { timeoutMs: 200 }), 'timeout');
    expect(err.message).toBe('tool "sleep" on MCP server "fixture" timed out after 200 ms');
    expect(Date.now() - started).toBeLessThan(2_000);
    await waitFor(async () => (await stats()).cancelled === before + 1);
  });

  it("maps an abort to kind 'cancelled' and the server's sleep stops early", async () => {
    const before = await stats();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const started = Date.now();
    await expectToolCallError(call('sleep', { ms: 10_000 }, { signal: controller.signal }), 'cancelled');
    expect(Date.now() - started).toBeLessThan(2_000);
    await waitFor(async () => (await stats()).cancelled === before.cancelled + 1);
    // Already aborted: refused before anything is sent.
    await expectToolCallError(call('echo', { text: 'x' }, { signal: controller.signal }), 'cancelled');
    expect((await stats()).calls.echo).toBe(before.calls.echo);
  });

  it('cancels every call in flight on an aborted signal (a cancelled run)', async () => {
    const { cancelled: before, calls: callsBefore } = await stats();
    const controller = new AbortController();
    const calls = Array.from({ length: 5 }, () => call('sleep', { ms: 10_000 }, { signal: controller.signal }));
    // All five running on the server before the abort.
    await waitFor(async () => (await stats()).calls.sleep === (callsBefore.sleep ?? 0) + 5);
    controller.abort(new Error('run cancelled'));
    const errors = await Promise.all(calls.map((p) => expectToolCallError(p, 'cancelled')));
    expect(errors[0]!.message).toBe('call to tool "sleep" on MCP server "fixture" was cancelled (run cancelled)');
    await waitFor(async () => (await stats()).cancelled === before + 5);
  });

  it('passes meta as the request _meta (idempotency key)', async () => {
    await call('echo', { text: 'x' }, { meta: { idempotencyKey: 'run-1:step-a', attempt: 2 } });
    expect((await stats()).lastMeta).toEqual({ idempotencyKey: 'run-1:step-a', attempt: 2 });
  });

  it('leaves no abort listener on the caller signal and sends no cancellation for finished calls', async () => {
    const before = (await stats()).cancelled;
    const controller = new AbortController();
    for (let i = 0; i < 5; i++) await call('noop', {}, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    await new Promise((r) => setTimeout(r, 100));
    expect((await stats()).cancelled).toBe(before);
  });

  it("reports an unknown tool as kind 'unknown_tool'", async () => {
    const err = await expectToolCallError(call('no_such_tool'), 'unknown_tool');
    expect(err.message).toBe('MCP server "fixture" has no tool "no_such_tool"');
    expect(err.tool).toBe('no_such_tool');
    expect(err.endpoint).toBe('fixture');
  });

  it('shares one client, and one connect, among concurrent first calls and later ones', async () => {
    const log = captureLogger();
    const pool = makePool(log);
    const ep = newEndpoint();
    // One signal for all, as the engine does for a run's parallel steps.
    const signal = new AbortController().signal;
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const inFlight = Array.from({ length: 20 }, (_, i) => callOn(pool, ep, 'add', { a: i, b: 1 }, { signal }));
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    const results = await Promise.all(inFlight);
    process.off('warning', onWarning);
    expect(results.map((r) => (r.output as { sum: number }).sum)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    await callOn(pool, ep, 'echo', { text: 'again' });
    expect(pool.size()).toBe(1);
    expect(log.lines.filter((l) => l.msg === 'MCP client connected')).toHaveLength(1);
    if (mode === 'stdio') {
      // A process of its own saw every call: one child, not one per concurrent first call.
      expect((await statsOn(pool, ep)).calls).toEqual({ add: 20, echo: 1 });
    }
  });

  it('closes an idle client and reconnects on the next call', async () => {
    const log = captureLogger();
    const pool = makePool(log, 200);
    const ep = newEndpoint();
    const before = await statsOn(pool, ep);
    expect(pool.size()).toBe(1);
    await waitFor(() => pool.size() === 0);
    expect(log.lines.some((l) => l.msg === 'closing MCP client' && (l.obj as { reason?: string }).reason === 'idle')).toBe(true);
    if (mode === 'stdio') await waitFor(() => !processAlive(before.pid));
    await expect(callOn(pool, ep, 'echo', { text: 'back' })).resolves.toMatchObject({ output: { text: 'back' } });
    expect(pool.size()).toBe(1);
    expect(log.lines.filter((l) => l.msg === 'MCP client connected')).toHaveLength(2);
  });

  it('closes every client on close(); later calls fail', async () => {
    const pool = makePool(captureLogger());
    const ep = newEndpoint();
    const { pid } = await statsOn(pool, ep);
    await pool.close();
    expect(pool.size()).toBe(0);
    if (mode === 'stdio') expect(processAlive(pid)).toBe(false);
    const err = await expectToolCallError(callOn(pool, ep, 'echo', { text: 'x' }), 'connect');
    expect(err.message).toBe('the MCP client pool is closed');
  });

  if (mode === 'stdio') {
    it("drops a crashed server: the in-flight call fails with kind 'transport', the next call starts a new one", async () => {
      const pool = makePool(captureLogger());
      const ep = newEndpoint();
      const { pid } = await statsOn(pool, ep);
      const err = await expectToolCallError(callOn(pool, ep, 'crash'), 'transport');
      expect(err.message).toBe('tool "crash" on MCP server "fixture": the connection closed during the call');
      expect(pool.size()).toBe(0);
      const after = await statsOn(pool, ep);
      expect(after.pid).not.toBe(pid);
      expect(after.calls).toEqual({});
    });

    it("fails with kind 'connect' when the command does not exist", async () => {
      const ep: McpEndpoint = { key: 'missing:1', name: 'missing', transport: { kind: 'stdio', command: 'nonexistent-cmd-xyz', args: [], env: [] } };
      const err = await expectToolCallError(callOn(shared, ep, 'echo', { text: 'x' }), 'connect');
      expect(err.message).toBe('cannot start MCP server "missing": spawn nonexistent-cmd-xyz ENOENT');
      expect(err.tool).toBe('echo');
      expect(shared.size()).toBe(1); // only the fixture's client
    });

    it("fails with kind 'connect' and the server's stderr when it exits at start", async () => {
      const ep: McpEndpoint = {
        key: 'exits:1',
        name: 'exits',
        transport: { kind: 'stdio', command: process.execPath, args: ['-e', 'console.error("missing API key"); process.exit(3)'], env: [] },
      };
      const err = await expectToolCallError(callOn(shared, ep, 'echo', { text: 'x' }), 'connect');
      expect(err.message).toMatch(/^cannot start MCP server "exits": .*Connection closed/);
      expect(err.message).toContain('missing API key');
    });

    it("fails with kind 'connect' when the server does not answer initialize in time", async () => {
      const pool = makePool(captureLogger(), 60_000, 300);
      // Reads stdin and never answers; exits when the pool closes stdin.
      const ep: McpEndpoint = { key: 'mute:1', name: 'mute', transport: { kind: 'stdio', command: process.execPath, args: ['-e', 'process.stdin.resume()'], env: [] } };
      const started = Date.now();
      const err = await expectToolCallError(callOn(pool, ep, 'echo', { text: 'x' }), 'connect');
      expect(err.message).toMatch(/^cannot start MCP server "mute": .*timed out/);
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(pool.size()).toBe(0);
    });

    it('passes the definition env to the server, and the args without a shell', async () => {
      // Exits at once, printing what it received: the env value, and an argument a shell would have expanded.
      const script = 'console.error(process.env.FIXTURE_SECRET, process.argv[1]); process.exit(1)';
      const ep: McpEndpoint = {
        key: 'env:1',
        name: 'env',
        transport: { kind: 'stdio', command: process.execPath, args: ['-e', script, '$(echo not-expanded)'], env: [{ name: 'FIXTURE_SECRET', value: 's3cr3t', secret: false }] },
      };
      const err = await expectToolCallError(callOn(shared, ep, 'echo', { text: 'x' }), 'connect');
      expect(err.message).toContain('s3cr3t $(echo not-expanded)');
    });

    /**
     * A stdio server that writes `before` and the first half of its secret API_KEY to stderr, then
     * 50 ms later (a second chunk on our side) the second half and `after`, and crashes. Returns
     * the error the call got, what the pool logged at every level, and the key's three forms.
     */
    async function leakKey(name: string, before: string, after: string) {
      const log = captureLogger();
      const secret = randomBytes(12).toString('hex');
      const script =
        `const k = process.env.API_KEY; process.stderr.write(${before} + k.slice(0, 12));` +
        `setTimeout(() => { process.stderr.write(k.slice(12) + ${JSON.stringify(after)}); process.exit(1); }, 50)`;
      const ep: McpEndpoint = {
        key: `${name}:1`,
        name,
        transport: { kind: 'stdio', command: process.execPath, args: ['-e', script], env: [{ name: 'API_KEY', value: secret, secret: true }] },
      };
      const err = await expectToolCallError(callOn(makePool(log), ep, 'echo', { text: 'x' }), 'connect');
      return { err, logged: JSON.stringify(log.lines), parts: [secret, secret.slice(0, 12), secret.slice(12)] };
    }

    it('scrubs secret env values from everything it logs or throws, even when stderr splits them', async () => {
      const { err, logged, parts } = await leakKey('leaky', '"using key "', ' and failing\n');
      expect(err.message).toContain('using key [redacted] and failing');
      expect(logged).toContain('using key [redacted] and failing'); // the debug stderr line, whole
      // Neither the key nor either half of it, at any level.
      for (const part of parts) {
        expect(logged).not.toContain(part);
        expect(err.message).not.toContain(part);
      }
    });

    it('scrubs a secret in a line too long to hold, even where the line is logged in pieces', async () => {
      // 1,990 characters and half the key with no newline: past the 2,000 a line is held for.
      const { logged, parts } = await leakKey('long-line', '"x".repeat(1990)', ' end\n');
      expect(logged).toContain('[redacted] end');
      for (const part of parts) expect(logged).not.toContain(part);
    });
  } else {
    it('starts a new session when the server forgot ours (HTTP 404), without failing the call', async () => {
      const log = captureLogger();
      const pool = makePool(log);
      const ep = newEndpoint();
      await callOn(pool, ep, 'echo', { text: 'one' });
      await http!.dropSessions();
      await expect(callOn(pool, ep, 'echo', { text: 'two' })).resolves.toMatchObject({ output: { text: 'two' } });
      expect(pool.size()).toBe(1);
      expect(log.lines.some((l) => l.msg === 'MCP session expired; reconnecting')).toBe(true);
    });

    it("fails the in-flight call when the server crashes, and reconnects on the next", async () => {
      const pool = makePool(captureLogger());
      const ep = newEndpoint();
      await callOn(pool, ep, 'echo', { text: 'one' });
      const started = Date.now();
      // Without the pool's stream watch the SDK would leave this call pending for 10 s.
      const err = await expectToolCallError(callOn(pool, ep, 'crash', {}, { timeoutMs: 10_000 }), 'transport');
      expect(err.message).toMatch(/^tool "crash" on MCP server "fixture": the response stream broke before the answer: /);
      expect(Date.now() - started).toBeLessThan(2_000);
      // The next call finds the session gone (HTTP 404) and starts a new one.
      await expect(callOn(pool, ep, 'echo', { text: 'two' })).resolves.toMatchObject({ output: { text: 'two' } });
    });

    it("fails with kind 'transport' when the server is gone, and reconnects once it is back", async () => {
      const server = await startFixtureHttpServer();
      const pool = makePool(captureLogger());
      const ep: McpEndpoint = { key: 'gone:1', name: 'gone', transport: { kind: 'streamable_http', url: server.url, headers: [] } };
      await callOn(pool, ep, 'echo', { text: 'one' });
      await server.close();
      await expectToolCallError(callOn(pool, ep, 'echo', { text: 'two' }), 'transport');
      expect(pool.size()).toBe(0);
      const again = await startFixtureHttpServer(Number(new URL(server.url).port));
      try {
        await expect(callOn(pool, ep, 'echo', { text: 'three' })).resolves.toMatchObject({ output: { text: 'three' } });
      } finally {
        await pool.close();
        await again.close();
      }
    });

    it("fails with kind 'connect' when nothing listens", async () => {
      const server = await startFixtureHttpServer();
      await server.close();
      const ep: McpEndpoint = { key: 'refused:1', name: 'refused', transport: { kind: 'streamable_http', url: server.url, headers: [] } };
      const err = await expectToolCallError(callOn(shared, ep, 'echo', { text: 'x' }), 'connect');
      expect(err.message).toMatch(/^cannot connect to MCP server "refused" at http:\/\/127\.0\.0\.1:\d+\/mcp: .*ECONNREFUSED/);
    });

    it('sends the definition headers', async () => {
      // The fixture ignores headers; a wrong Content-Type override would break every request.
      const ep: McpEndpoint = { key: 'headers:1', name: 'fixture', transport: { kind: 'streamable_http', url: http!.url, headers: [{ name: 'Authorization', value: 'Bearer t0k', secret: true }] } };
      await expect(callOn(shared, ep, 'echo', { text: 'h' })).resolves.toMatchObject({ output: { text: 'h' } });
    });
  }
});
