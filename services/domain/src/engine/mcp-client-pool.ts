/**
 * The engine's MCP sessions: one SDK Client per MCP definition revision, connected lazily,
 * shared by every step and run (JSON-RPC ids let concurrent calls share a connection), closed
 * when idle, dropped when its server goes away so the next call reconnects.
 *
 * SDK behaviours this relies on or works around (@modelcontextprotocol/sdk 1.32):
 * - Protocol.request rejects an aborted request with McpError(RequestTimeout, "AbortError: …"),
 *   the same code as a real timeout: 'cancelled' is told apart by our own signal, not the error.
 * - Protocol.request adds an 'abort' listener to the signal it is given and never removes it.
 *   The engine passes one run-wide signal to many calls, so each call gets its own controller,
 *   linked to the caller's signal only while the call is in flight: no listener build-up, and
 *   no notifications/cancelled for requests that already finished when the run is cancelled.
 * - McpServer answers an unknown tool with an isError result ("MCP error -32602: Tool x not
 *   found"), other servers with a JSON-RPC error: both are recognised as 'unknown_tool'.
 * - The Streamable HTTP client never reports a dead server through onclose; its calls fail
 *   (fetch errors, HTTP 404 for a session the server no longer knows), so a transport failure
 *   on a call drops the client too.
 * - When the SSE stream that should carry a call's answer breaks or ends without it (server
 *   crashed or restarted mid-call) and the server offered no resumption, the SDK leaves the
 *   request pending until its timeout. watchingFetch() notices and fails the call at once.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { McpTransport } from '../mcp-definitions/mcp-definition';
import { scrubSecrets, secretValues } from '../mcp-definitions/redact';

export interface McpEndpoint {
  /** Identity of the connection, e.g. `${uid}:${revision}`: a changed definition gets a new client. */
  readonly key: string;
  /** For messages and logs. */
  readonly name: string;
  readonly transport: McpTransport;
}

export interface ToolCallResult {
  readonly isError: boolean;
  /** structuredContent when the tool returned it, else the content blocks. */
  readonly output: JsonValue;
  /** The text content joined by newlines when isError, else ''. */
  readonly errorText: string;
}

export type ToolCallErrorKind = 'timeout' | 'cancelled' | 'transport' | 'unknown_tool' | 'connect';

/** A call that produced no tool result; `kind` says why. */
export class ToolCallError extends Error {
  override readonly name = 'ToolCallError';
  constructor(
    readonly kind: ToolCallErrorKind,
    message: string,
    /** The endpoint's name. */
    readonly endpoint: string,
    readonly tool: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface McpClientPoolLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface McpClientPoolOptions {
  /** A client with no call in flight for this long is closed (a stdio server exits). */
  readonly idleMs: number;
  /** Bound on spawning/connecting plus the initialize handshake. */
  readonly connectTimeoutMs: number;
  readonly logger: McpClientPoolLogger;
  readonly clientInfo: { readonly name: string; readonly version: string };
}

export interface ToolCallOptions {
  /** Aborting cancels the call (the server receives notifications/cancelled). */
  readonly signal: AbortSignal;
  /** Bound on the tools/call request itself; connecting is bounded by connectTimeoutMs. */
  readonly timeoutMs: number;
  /** Sent as the request's params._meta (e.g. `{ idempotencyKey }`). */
  readonly meta: Record<string, unknown>;
}

export interface McpClientPool {
  callTool(endpoint: McpEndpoint, tool: string, args: JsonObject, opts: ToolCallOptions): Promise<ToolCallResult>;
  /** Closes every client; stdio servers are terminated. Later calls fail with kind 'connect'. */
  close(): Promise<void>;
  /** Clients open or connecting. */
  size(): number;
}

type ClientTransport = StdioClientTransport | StreamableHTTPClientTransport;

interface Entry {
  readonly endpoint: McpEndpoint;
  readonly client: Client;
  readonly transport: ClientTransport;
  /** Settles once; rejects with a ToolCallError of kind 'connect'. Shared by concurrent first calls. */
  ready: Promise<void>;
  inFlight: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Set once the pool no longer hands this entry out (idle, crashed, pool closed). */
  retired: boolean;
  /** The endpoint's secret values: scrubbed from everything the pool logs or throws. */
  readonly secrets: readonly string[];
  readonly longestSecret: number;
  /** The last bytes a stdio server wrote to stderr (secrets scrubbed): the reason it failed to start, usually. */
  stderrTail: string;
  /** A stderr line not yet ended by a newline, held back so a secret split across chunks is still scrubbed. */
  stderrPartial: string;
  /** Set by the first closeEntry(): later ones wait for the same close. */
  closed: Promise<void> | undefined;
}

const STDERR_TAIL_BYTES = 2_000;
const TERMINATE_SESSION_TIMEOUT_MS = 1_000;

export function createMcpClientPool(opts: McpClientPoolOptions): McpClientPool {
  const { logger } = opts;
  const entries = new Map<string, Entry>();
  /** Closes in progress of entries no longer in `entries`, so close() can wait for them. */
  const closing = new Set<Promise<void>>();
  let closed = false;

  function createEntry(endpoint: McpEndpoint): Entry {
    const transport = createTransport(endpoint);
    const client = new Client({ name: opts.clientInfo.name, version: opts.clientInfo.version });
    const secrets = secretValues(endpoint);
    const entry: Entry = {
      endpoint,
      client,
      transport,
      ready: Promise.resolve(),
      inFlight: 0,
      idleTimer: undefined,
      retired: false,
      secrets,
      longestSecret: Math.max(0, ...secrets.map((v) => v.length)),
      stderrTail: '',
      stderrPartial: '',
      closed: undefined,
    };
    if (transport instanceof StdioClientTransport) captureStderr(entry, transport);

    // Protocol wraps the transport's callbacks: a child that exits, a closed connection or
    // our own close() all land here. Dropping the entry makes the next call reconnect.
    client.onclose = () => {
      if (!entry.retired) {
        logger.warn({ mcpServer: endpoint.name, key: endpoint.key, stderr: entry.stderrTail.slice(-500) || undefined }, 'MCP server connection closed');
      }
      retire(entry);
    };
    client.onerror = (err) => {
      logger.debug({ mcpServer: endpoint.name, key: endpoint.key, err: scrubSecrets(describe(err), entry.secrets) }, 'MCP transport error');
    };

    entry.ready = connect(entry);
    // Callers that gave up (aborted) must not leave an unhandled rejection behind.
    entry.ready.catch(() => {});
    return entry;
  }

  function createTransport(endpoint: McpEndpoint): ClientTransport {
    const t = endpoint.transport;
    if (t.kind === 'stdio') {
      // The SDK spawns with cross-spawn and `shell: false` (client/stdio.js): command and args
      // reach execve as they are, never through a shell, so they need no quoting or escaping.
      // Its start() merges getDefaultEnvironment() itself; done here too so the child's
      // environment is explicit: a safe default set (PATH, HOME, …) plus the definition's values.
      const env: Record<string, string> = { ...getDefaultEnvironment() };
      for (const pair of t.env) env[pair.name] = pair.value;
      return new StdioClientTransport({ command: t.command, args: [...t.args], env, stderr: 'pipe' });
    }
    const headers: Record<string, string> = {};
    for (const pair of t.headers) headers[pair.name] = pair.value;
    return new StreamableHTTPClientTransport(new URL(t.url), { requestInit: { headers }, fetch: watchingFetch });
  }

  /**
   * Piped rather than inherited: logged (debug, by whole lines) and kept for error messages, with
   * the definition's secrets scrubbed (a server may well print its own key). Must be read, or a
   * chatty child blocks on a full pipe.
   */
  function captureStderr(entry: Entry, transport: StdioClientTransport): void {
    const scrub = (text: string) => scrubSecrets(text, entry.secrets);
    transport.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      // Scrubbed together with the tail so far: a secret split across chunks is still whole here.
      entry.stderrTail = scrub(entry.stderrTail + text).slice(-STDERR_TAIL_BYTES);
      const lines = (entry.stderrPartial + text).split('\n');
      entry.stderrPartial = lines.pop()!;
      // A line that never ends is logged in pieces once it is as long as the tail kept; the last
      // (longest secret − 1) characters are held back, so a secret is never cut between two pieces.
      if (entry.stderrPartial.length >= STDERR_TAIL_BYTES) {
        const partial = scrub(entry.stderrPartial);
        const cut = partial.length - entry.longestSecret + 1;
        lines.push(partial.slice(0, cut));
        entry.stderrPartial = partial.slice(cut);
      }
      const complete = lines.join('\n').trimEnd();
      if (complete) logger.debug({ mcpServer: entry.endpoint.name, stderr: scrub(complete) }, 'MCP server stderr');
    });
  }

  async function connect(entry: Entry): Promise<void> {
    const { endpoint, client, transport } = entry;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
    });
    try {
      // The request timeout bounds the initialize handshake; the race also bounds the spawn
      // or HTTP connection that precedes it.
      await Promise.race([client.connect(transport, { timeout: opts.connectTimeoutMs }), timedOut]);
      const server = client.getServerVersion();
      logger.info(
        { mcpServer: endpoint.name, key: endpoint.key, server: server ? `${server.name}@${server.version}` : undefined, ms: Date.now() - started },
        'MCP client connected',
      );
    } catch (err) {
      const failure = scrubbed(
        new ToolCallError('connect', `${connectVerb(endpoint)}: ${describe(err)}${stderrHint(entry)}`, endpoint.name, '', { cause: err }),
        entry.secrets,
      );
      logger.warn({ mcpServer: endpoint.name, key: endpoint.key, err: failure.message }, 'MCP client failed to connect');
      retire(entry);
      // Not awaited: the callers learn the reason now, not after the child has been reaped.
      void closeEntry(entry);
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Removes the entry from the pool (if still there); does not close it. */
  function retire(entry: Entry): void {
    entry.retired = true;
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    if (entries.get(entry.endpoint.key) === entry) entries.delete(entry.endpoint.key);
  }

  async function closeClient(entry: Entry): Promise<void> {
    const { transport, client } = entry;
    try {
      // Tell an HTTP server the session is over, so it frees it now rather than never.
      if (transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          transport.terminateSession().catch(() => {}),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, TERMINATE_SESSION_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
      }
      // stdio: ends stdin, then SIGTERM after 2 s and SIGKILL after 4 s (SDK).
      await client.close();
    } catch (err) {
      logger.debug({ mcpServer: entry.endpoint.name, err: scrubSecrets(describe(err), entry.secrets) }, 'closing MCP client failed');
    }
  }

  function retireAndClose(entry: Entry, reason: string): void {
    if (entry.retired) return;
    logger.info({ mcpServer: entry.endpoint.name, key: entry.endpoint.key, reason }, 'closing MCP client');
    retire(entry);
    void afterConnect(entry);
  }

  /** Closes once connecting has settled either way (a failed connect closes too, memoized). */
  function afterConnect(entry: Entry): Promise<void> {
    return entry.ready.then(
      () => closeEntry(entry),
      () => closeEntry(entry),
    );
  }

  function closeEntry(entry: Entry): Promise<void> {
    if (!entry.closed) {
      const done = closeClient(entry);
      entry.closed = done;
      // A stubborn stdio child takes up to 4 s to go; close() waits for it.
      closing.add(done);
      void done.finally(() => closing.delete(done));
    }
    return entry.closed;
  }

  function acquire(endpoint: McpEndpoint): Entry {
    let entry = entries.get(endpoint.key);
    if (!entry) {
      entry = createEntry(endpoint);
      entries.set(endpoint.key, entry);
    }
    entry.inFlight += 1;
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    return entry;
  }

  function release(entry: Entry): void {
    entry.inFlight -= 1;
    if (entry.inFlight > 0 || entry.retired) return;
    entry.idleTimer = setTimeout(() => {
      if (entry.inFlight === 0) retireAndClose(entry, 'idle');
    }, opts.idleMs);
    // An idle client must not keep the process alive.
    entry.idleTimer.unref();
  }

  async function callTool(endpoint: McpEndpoint, tool: string, args: JsonObject, call: ToolCallOptions): Promise<ToolCallResult> {
    // One retry, only when an HTTP server no longer knows our session: it did not run the call
    // (MCP spec: on 404 the client starts a new session), so repeating it is safe.
    for (let attempt = 1; ; attempt++) {
      if (closed) throw new ToolCallError('connect', 'the MCP client pool is closed', endpoint.name, tool);
      if (call.signal.aborted) throw cancelled(endpoint, tool, call.signal.reason);
      const entry = acquire(endpoint);
      try {
        await untilReadyOrAborted(entry, call.signal, tool);
        return await invoke(entry, tool, args, call);
      } catch (err) {
        if (attempt === 1 && err instanceof SessionExpired) {
          logger.info({ mcpServer: endpoint.name, key: endpoint.key }, 'MCP session expired; reconnecting');
          retireAndClose(entry, 'session expired');
          continue;
        }
        throw err instanceof SessionExpired ? err.toolCallError : err;
      } finally {
        release(entry);
      }
    }
  }

  /** Waits for the shared connect, but lets this caller leave early when its signal aborts. */
  async function untilReadyOrAborted(entry: Entry, signal: AbortSignal, tool: string): Promise<void> {
    let unsubscribe: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      unsubscribe = onAbort(signal, () => reject(cancelled(entry.endpoint, tool, signal.reason)));
    });
    try {
      await Promise.race([entry.ready, aborted]);
    } catch (err) {
      if (err instanceof ToolCallError && err.kind === 'connect') {
        // The connect error carries no tool name; each caller gets one with its own.
        throw new ToolCallError('connect', err.message, entry.endpoint.name, tool, { cause: err.cause });
      }
      throw err;
    } finally {
      unsubscribe!();
    }
  }

  async function invoke(entry: Entry, tool: string, args: JsonObject, call: ToolCallOptions): Promise<ToolCallResult> {
    const { endpoint } = entry;
    // Aborted while the connect finished: the listener below would never fire.
    if (call.signal.aborted) throw cancelled(endpoint, tool, call.signal.reason);
    const controller = new AbortController();
    const unsubscribe = onAbort(call.signal, () => controller.abort(call.signal.reason));
    let settled = false;
    let lost: Error | undefined;
    const watch: CallWatch = {
      lost: (reason) => {
        if (settled || controller.signal.aborted) return;
        lost = reason;
        // Also sends notifications/cancelled: should the server still run the call, it stops.
        controller.abort(reason);
      },
    };
    let result: Record<string, unknown>;
    try {
      result = await currentCall.run(watch, () =>
        entry.client.callTool({ name: tool, arguments: args, _meta: call.meta }, undefined, {
          signal: controller.signal,
          timeout: Math.max(1, call.timeoutMs),
        }),
      );
    } catch (err) {
      if (call.signal.aborted) throw cancelled(endpoint, tool, call.signal.reason, err);
      if (lost) {
        const failure = scrubbed(new ToolCallError('transport', `tool "${tool}" on MCP server "${endpoint.name}": ${lost.message}`, endpoint.name, tool, { cause: lost }), entry.secrets);
        logger.warn({ mcpServer: endpoint.name, key: endpoint.key, tool, err: failure.message }, 'MCP call lost its response stream');
        throw failure;
      }
      const outcome = classify(err, endpoint, tool, call.timeoutMs);
      if (outcome instanceof SessionExpired) throw outcome;
      if (outcome instanceof ToolCallError) {
        const failure = scrubbed(outcome, entry.secrets);
        if (failure.kind === 'transport') {
          logger.warn({ mcpServer: endpoint.name, key: endpoint.key, tool, err: failure.message }, 'MCP call failed in transport; dropping client');
          retireAndClose(entry, 'transport failure');
        }
        throw failure;
      }
      return outcome;
    } finally {
      settled = true;
      unsubscribe();
    }
    return toResult(result, endpoint, tool);
  }

  async function close(): Promise<void> {
    closed = true;
    const all = [...entries.values()];
    for (const entry of all) retire(entry);
    await Promise.allSettled([...all.map(afterConnect), ...closing]);
  }

  return { callTool, close, size: () => entries.size };
}

/**
 * One 'abort' listener per caller signal, whatever the number of calls in flight on it: the
 * engine shares a run's signal among its parallel steps, and Node warns (MaxListeners) past
 * 10 listeners on one signal. Removed again once no call waits on the signal.
 */
const abortSubscribers = new WeakMap<AbortSignal, { readonly fns: Set<() => void>; readonly listener: () => void }>();

function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let subs = abortSubscribers.get(signal);
  if (!subs) {
    const fns = new Set<() => void>();
    const listener = (): void => {
      abortSubscribers.delete(signal);
      for (const f of [...fns]) f();
    };
    subs = { fns, listener };
    abortSubscribers.set(signal, subs);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { fns, listener } = subs;
  fns.add(fn);
  return () => {
    if (!fns.delete(fn) || fns.size > 0) return;
    if (abortSubscribers.get(signal)?.fns === fns) abortSubscribers.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}

/** Lets the fetch wrapper reach the call whose request it carries. */
interface CallWatch {
  lost(reason: Error): void;
}

/**
 * Set by invoke() around client.callTool(): the SDK's send() runs inside it, so the fetch of
 * that call's POST sees it (AsyncLocalStorage follows the awaits in between).
 */
const currentCall = new AsyncLocalStorage<CallWatch>();

/**
 * fetch for the Streamable HTTP transport: a tools/call POST answered with an SSE stream gets
 * its body watched for the JSON-RPC response with the request's id. If the stream errors or
 * ends first, and carried no event id (which would let the SDK resume it), the call is lost.
 * The bytes pass through unchanged.
 */
const watchingFetch: FetchLike = async (url, init) => {
  const response = await fetch(url, init);
  const watch = currentCall.getStore();
  if (!watch || init?.method !== 'POST' || !response.ok || !response.body) return response;
  if (!(response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream')) return response;
  const id = toolsCallIdOf(init.body);
  if (id === undefined) return response;
  return new Response(watchSseBody(response.body, id, watch), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
};

function toolsCallIdOf(body: unknown): string | number | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const message = JSON.parse(body) as { method?: unknown; id?: unknown };
    if (message.method !== 'tools/call') return undefined;
    return typeof message.id === 'string' || typeof message.id === 'number' ? message.id : undefined;
  } catch {
    return undefined;
  }
}

function watchSseBody(body: ReadableStream<Uint8Array>, id: string | number, watch: CallWatch): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  let data: string[] = [];
  let answered = false;
  let resumable = false;

  // Minimal SSE parsing (https://html.spec.whatwg.org/multipage/server-sent-events.html):
  // only `data:` and `id:` fields matter here.
  const dispatch = (): void => {
    if (data.length === 0) return;
    try {
      const message = JSON.parse(data.join('\n')) as { id?: unknown; result?: unknown; error?: unknown };
      if (message.id === id && ('result' in message || 'error' in message)) answered = true;
    } catch {
      // Not JSON: the SDK reports it.
    }
    data = [];
  };
  const scan = (text: string): void => {
    const lines = (pending + text).split(/\r\n|\r|\n/);
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') dispatch();
      else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      else if (line.startsWith('id:') && line.slice(3).trim() !== '') resumable = true;
    }
  };
  const unanswered = (): boolean => !answered && !resumable;

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (unanswered()) watch.lost(new Error(`the response stream broke before the answer: ${describe(err)}`));
        controller.error(err);
        return;
      }
      if (chunk.done) {
        scan(decoder.decode() + '\n\n');
        if (unanswered()) watch.lost(new Error('the server ended the response stream without answering'));
        controller.close();
        return;
      }
      if (!answered) scan(decoder.decode(chunk.value, { stream: true }));
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Internal: an HTTP 404 on a call that carried a session id. */
class SessionExpired extends Error {
  constructor(readonly toolCallError: ToolCallError) {
    super(toolCallError.message);
  }
}

function classify(err: unknown, endpoint: McpEndpoint, tool: string, timeoutMs: number): ToolCallError | SessionExpired | ToolCallResult {
  const where = `tool "${tool}" on MCP server "${endpoint.name}"`;
  if (err instanceof McpError) {
    switch (err.code) {
      case ErrorCode.RequestTimeout:
        return new ToolCallError('timeout', `${where} timed out after ${timeoutMs} ms`, endpoint.name, tool, { cause: err });
      case ErrorCode.ConnectionClosed:
        return new ToolCallError('transport', `${where}: the connection closed during the call`, endpoint.name, tool, { cause: err });
      case ErrorCode.MethodNotFound:
        return unknownTool(endpoint, tool, err);
      default:
        if (err.code === ErrorCode.InvalidParams && mentionsUnknownTool(err.message, tool)) return unknownTool(endpoint, tool, err);
        // The server answered with a JSON-RPC error (bad arguments, internal error): the tool
        // failed, the connection is fine.
        return { isError: true, output: { error: { code: err.code, message: err.message } }, errorText: err.message };
    }
  }
  if (err instanceof StreamableHTTPError) {
    const e = new ToolCallError('transport', `${where}: ${err.message}`, endpoint.name, tool, { cause: err });
    return err.code === 404 && endpoint.transport.kind === 'streamable_http' ? new SessionExpired(e) : e;
  }
  return new ToolCallError('transport', `${where}: ${describe(err)}`, endpoint.name, tool, { cause: err });
}

/**
 * The error with the endpoint's secrets cut out of its message. When that changed the message,
 * the cause (which quotes the same text) is dropped too, so no logger can print it.
 */
function scrubbed(err: ToolCallError, secrets: readonly string[]): ToolCallError {
  const message = scrubSecrets(err.message, secrets);
  return message === err.message ? err : new ToolCallError(err.kind, message, err.endpoint, err.tool);
}

function toResult(result: Record<string, unknown>, endpoint: McpEndpoint, tool: string): ToolCallResult {
  const content = Array.isArray(result.content) ? (result.content as unknown[]) : [];
  const isError = result.isError === true;
  const errorText = isError ? textOf(content) : '';
  if (isError && mentionsUnknownTool(errorText, tool)) throw unknownTool(endpoint, tool, new Error(errorText));
  let output: JsonValue;
  if (result.structuredContent !== undefined && result.structuredContent !== null) output = result.structuredContent as JsonValue;
  else if ('toolResult' in result) output = result.toolResult as JsonValue; // protocol 2024-10-07
  else output = content as JsonValue;
  return { isError, output, errorText };
}

function textOf(content: unknown[]): string {
  return content
    .filter((c): c is { type: 'text'; text: string } => typeof c === 'object' && c !== null && (c as { type?: unknown }).type === 'text')
    .map((c) => c.text)
    .join('\n');
}

/** The wordings of the SDK's McpServer (isError text or McpError message) and of other common servers. */
function mentionsUnknownTool(text: string, tool: string): boolean {
  const t = text.trim().replace(/^MCP error -?\d+: /, '');
  return t === `Tool ${tool} not found` || t === `Unknown tool: ${tool}` || t === `Unknown tool: "${tool}"` || t === `Tool '${tool}' not found`;
}

function unknownTool(endpoint: McpEndpoint, tool: string, cause: unknown): ToolCallError {
  return new ToolCallError('unknown_tool', `MCP server "${endpoint.name}" has no tool "${tool}"`, endpoint.name, tool, { cause });
}

function cancelled(endpoint: McpEndpoint, tool: string, reason: unknown, cause?: unknown): ToolCallError {
  const why = reason === undefined || (reason instanceof Error && reason.name === 'AbortError') ? '' : ` (${describe(reason)})`;
  return new ToolCallError('cancelled', `call to tool "${tool}" on MCP server "${endpoint.name}" was cancelled${why}`, endpoint.name, tool, {
    cause: cause ?? reason,
  });
}

function connectVerb(endpoint: McpEndpoint): string {
  const t = endpoint.transport;
  return t.kind === 'stdio' ? `cannot start MCP server "${endpoint.name}"` : `cannot connect to MCP server "${endpoint.name}" at ${t.url}`;
}

function stderrHint(entry: Entry): string {
  const tail = entry.stderrTail.trim();
  if (!tail) return '';
  const lines = tail.split('\n').slice(-5).join('\n');
  return `\nserver stderr:\n${lines}`;
}

/**
 * Message plus the system error code of its cause (fetch reports ECONNREFUSED only there).
 * Read by property, not instanceof: Node's errors come from another realm under jest.
 */
function describe(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const causeCode = typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  if (causeCode && !message.includes(causeCode)) return `${message} (${causeCode})`;
  return message;
}
