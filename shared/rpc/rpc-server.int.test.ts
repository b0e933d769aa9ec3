import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type ConnectRouter } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { service as grpcJsHealthService } from 'grpc-health-check';
import { Health, HealthCheckResponse_ServingStatus } from '../gen/grpc/health/v1/health_pb';
import { ExtensionRequestSchema, ServerReflection, type ServerReflectionRequest } from '../gen/grpc/reflection/v1/reflection_pb';
import { ServerReflection as ServerReflectionV1alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb';
import { ActionLogEntrySchema } from '../gen/mcpbackend/audit/v1/action_log_entry_pb';
import { AuditService } from '../gen/mcpbackend/audit/v1/audit_service_pb';
import { createRpcClientTransport } from './client-transport';
import { createHealthRegistry, type HealthRegistry } from './health-service';
import { createRpcServer, type RpcServer } from './rpc-server';

const BUF = path.resolve(__dirname, '../../node_modules/.bin/buf');
const READ_MAX_BYTES = 4096;
const GET_PATH = '/mcpbackend.audit.v1.AuditService/GetActionLogEntry';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fake audit service: "slow" takes 300 ms, "hang" waits until the server aborts it. */
function fakeAuditRoutes(onCallStarted: () => void) {
  return (router: ConnectRouter) =>
    router.service(AuditService, {
      async getActionLogEntry(req, ctx) {
        onCallStarted();
        if (req.name === 'slow') await sleep(300);
        if (req.name === 'hang') {
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          throw ctx.signal.reason;
        }
        const actionLogEntry = create(ActionLogEntrySchema, {
          name: req.name,
          seq: 1n,
          actorId: 'user-1',
          occurTime: timestampFromDate(new Date('2026-01-02T03:04:05Z')),
          // "large": a response well over connect's 1 KiB compression threshold.
          details: req.name === 'large' ? { tool: 'search', text: 'x'.repeat(8192) } : { tool: 'search' },
        });
        return { actionLogEntry };
      },
    });
}

async function startServer(
  health: HealthRegistry,
  onCallStarted: () => void = () => {},
  intercepted: string[] = [],
  compressMinBytes?: number,
) {
  const server = createRpcServer({
    routes: fakeAuditRoutes(onCallStarted),
    interceptors: [(next) => (req) => (intercepted.push(req.method.parent.typeName), next(req))],
    health,
    reflection: true,
    readMaxBytes: READ_MAX_BYTES,
    compressMinBytes,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, baseUrl: `http://127.0.0.1:${port}`, port };
}

function bufCurl(args: string[]) {
  return promisify(execFile)(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeout: 15_000 });
}

describe('rpc server (gRPC, gRPC-Web and Connect on one port)', () => {
  let health: HealthRegistry;
  let server: RpcServer;
  let baseUrl: string;
  let port: number;
  let callStarted: () => void = () => {};
  const intercepted: string[] = [];

  beforeAll(async () => {
    health = createHealthRegistry();
    ({ server, baseUrl, port } = await startServer(health, () => callStarted(), intercepted));
  });

  it('(a) serves gRPC over h2c', async () => {
    const client = createClient(AuditService, createRpcClientTransport({ baseUrl, protocol: 'grpc' }));
    const res = await client.getActionLogEntry({ name: 'actionLogEntries/1' });
    expect(res.actionLogEntry?.name).toBe('actionLogEntries/1');
    expect(res.actionLogEntry?.seq).toBe(1n);
  });

  it('(b) serves Connect JSON over HTTP/1.1 to a plain fetch', async () => {
    const res = await fetch(baseUrl + GET_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'actionLogEntries/2' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      actionLogEntry: {
        name: 'actionLogEntries/2',
        seq: '1',
        actorId: 'user-1',
        occurTime: '2026-01-02T03:04:05Z',
        details: { tool: 'search' },
      },
    });
  });

  it('(b) serves the Connect protocol through the client transport factory', async () => {
    const client = createClient(AuditService, createRpcClientTransport({ baseUrl, protocol: 'connect' }));
    const res = await client.getActionLogEntry({ name: 'actionLogEntries/3' });
    expect(res.actionLogEntry?.name).toBe('actionLogEntries/3');
  });

  it('(c) serves gRPC-Web', async () => {
    const client = createClient(AuditService, createRpcClientTransport({ baseUrl, protocol: 'grpc-web' }));
    const res = await client.getActionLogEntry({ name: 'actionLogEntries/4' });
    expect(res.actionLogEntry?.actorId).toBe('user-1');
  });

  it('(d) rejects a request larger than readMaxBytes with RESOURCE_EXHAUSTED', async () => {
    const client = createClient(AuditService, createRpcClientTransport({ baseUrl, protocol: 'grpc' }));
    const err = await client.getActionLogEntry({ name: 'x'.repeat(READ_MAX_BYTES + 1) }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.ResourceExhausted);

    const res = await fetch(baseUrl + GET_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(READ_MAX_BYTES + 1) }),
    });
    expect(await res.json()).toMatchObject({ code: 'resource_exhausted' });
  });

  it('(e) answers grpc-js health Check and Watch, and Watch sees NOT_SERVING → SERVING', async () => {
    const HealthClient = grpc.makeClientConstructor(grpcJsHealthService, 'grpc.health.v1.Health');
    const client = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Check(req: object, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
      Watch(req: object): grpc.ClientReadableStream<{ status: string }>;
    };
    const check = (service: string) =>
      new Promise<{ status?: string; code?: number }>((resolve) =>
        client.Check({ service }, (err, res) => resolve(err ? { code: err.code } : { status: res?.status })),
      );
    try {
      expect(await check('')).toEqual({ status: 'NOT_SERVING' });
      expect(await check('no.such.Service')).toEqual({ code: grpc.status.NOT_FOUND });

      const seen: string[] = [];
      const watch = client.Watch({ service: '' });
      const flipped = new Promise<void>((resolve, reject) => {
        watch.on('data', ({ status }) => {
          seen.push(status);
          if (status === 'NOT_SERVING') health.setStatus('', 'SERVING');
          if (status === 'SERVING') resolve();
        });
        watch.on('error', (err: grpc.ServiceError) => err.code !== grpc.status.CANCELLED && reject(err));
      });
      await flipped;
      watch.cancel();
      expect(seen).toEqual(['NOT_SERVING', 'SERVING']);
      expect(await check('')).toEqual({ status: 'SERVING' });

      const unknown = client.Watch({ service: 'no.such.Service' });
      const [first] = await new Promise<[{ status: string }]>((resolve) => unknown.once('data', (msg) => resolve([msg])));
      unknown.on('error', () => {});
      unknown.cancel();
      expect(first.status).toBe('SERVICE_UNKNOWN');
    } finally {
      client.close();
    }
  });

  it('(e) lists health statuses', async () => {
    health.setStatus('mcpbackend.audit.v1.AuditService', 'SERVING');
    const client = createClient(Health, createGrpcTransport({ baseUrl }));
    const res = await client.list({});
    expect(res.statuses['mcpbackend.audit.v1.AuditService']?.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it('(f) lists methods and calls a method through reflection with buf curl (no schema)', async () => {
    const list = await bufCurl(['--list-methods', baseUrl]);
    const methods = list.stdout.trim().split('\n');
    expect(methods).toEqual(
      expect.arrayContaining([
        'mcpbackend.audit.v1.AuditService/GetActionLogEntry',
        'grpc.health.v1.Health/Watch',
        'grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        'grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
      ]),
    );

    // The response holds a Timestamp and a Struct: buf can only render it if the well-known types resolve.
    const call = await bufCurl(['-d', '{"name":"x"}', baseUrl + GET_PATH]);
    expect(JSON.parse(call.stdout)).toEqual({
      actionLogEntry: { name: 'x', seq: '1', actorId: 'user-1', occurTime: '2026-01-02T03:04:05Z', details: { tool: 'search' } },
    });
  });

  it('(f) answers reflection queries in-stream, sending each dependency once', async () => {
    const client = createClient(ServerReflection, createGrpcTransport({ baseUrl }));
    const queries: ServerReflectionRequest['messageRequest'][] = [
      { case: 'fileContainingSymbol', value: 'mcpbackend.audit.v1.AuditService.GetActionLogEntry' },
      { case: 'fileContainingSymbol', value: 'mcpbackend.audit.v1.ActionLogEntry' },
      { case: 'fileByFilename', value: 'google/protobuf/timestamp.proto' },
      { case: 'fileContainingSymbol', value: 'grpc.health.v1.HealthCheckResponse.ServingStatus' },
      { case: 'fileContainingSymbol', value: 'no.such.Symbol' },
      { case: 'fileContainingExtension', value: create(ExtensionRequestSchema, { containingType: 'google.protobuf.Struct', extensionNumber: 1000 }) },
    ];
    async function* requests() {
      for (const messageRequest of queries) yield { host: '', messageRequest };
    }
    const answers: { files?: number; error?: number }[] = [];
    for await (const res of client.serverReflectionInfo(requests())) {
      const r = res.messageResponse;
      if (r.case === 'fileDescriptorResponse') answers.push({ files: r.value.fileDescriptorProto.length });
      if (r.case === 'errorResponse') answers.push({ error: r.value.errorCode });
    }
    expect(answers).toEqual([
      { files: 4 }, // audit_service.proto + action_log_entry.proto + struct.proto + timestamp.proto
      { files: 1 }, // already sent, but the requested file always comes back
      { files: 1 },
      { files: 1 },
      { error: Code.NotFound },
      { error: Code.NotFound },
    ]);
  });

  it('(f) serves reflection v1alpha for older clients', async () => {
    const client = createClient(ServerReflectionV1alpha, createGrpcTransport({ baseUrl }));
    async function* requests() {
      yield { host: '', messageRequest: { case: 'listServices' as const, value: '' } };
    }
    for await (const res of client.serverReflectionInfo(requests())) {
      expect(res.messageResponse.case === 'listServicesResponse' && res.messageResponse.value.service.map((s) => s.name)).toEqual([
        'mcpbackend.audit.v1.AuditService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]);
    }
  });

  it('applies the interceptors to the application, health and reflection services alike', () => {
    expect(new Set(intercepted)).toEqual(
      new Set([
        'mcpbackend.audit.v1.AuditService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]),
    );
  });

  it('(g) close() lets in-flight calls finish, ends Watch streams and leaves no open handles', async () => {
    const client = createClient(AuditService, createRpcClientTransport({ baseUrl, protocol: 'grpc' }));
    let startedCalls = 0;
    const bothStarted = new Promise<void>((resolve) => (callStarted = () => ++startedCalls === 2 && resolve()));
    const slowCall = client.getActionLogEntry({ name: 'slow' });
    const slowHttp1Call = fetch(baseUrl + GET_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'slow' }),
    });
    await bothStarted;

    const healthClient = createClient(Health, createRpcClientTransport({ baseUrl, protocol: 'grpc' }));
    const watched: HealthCheckResponse_ServingStatus[] = [];
    let watching!: () => void;
    const watchOpen = new Promise<void>((resolve) => (watching = resolve));
    const watchEnded = (async () => {
      for await (const res of healthClient.watch({ service: '' })) {
        watched.push(res.status);
        watching();
      }
    })();
    await watchOpen;

    const closeStarted = Date.now();
    await server.close(5_000);
    expect(Date.now() - closeStarted).toBeLessThan(2_000);
    expect((await slowCall).actionLogEntry?.name).toBe('slow');
    expect(await (await slowHttp1Call).json()).toMatchObject({ actionLogEntry: { name: 'slow' } });
    await watchEnded;
    expect(watched.at(-1)).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);

    const refused = await fetch(baseUrl + GET_PATH, { method: 'POST' }).catch((e: { cause?: { code?: string } }) => e);
    expect((refused as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    // Client-side sockets (fetch keep-alive, the refused connect) need a few ticks to see the server's FIN/RST.
    const tcpHandles = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
    for (let waited = 0; tcpHandles().length > 0 && waited < 1_000; waited += 10) await sleep(10);
    expect(tcpHandles()).toEqual([]);
  });

  it('(g) close() aborts calls still running when the grace period expires', async () => {
    let started!: () => void;
    const startedPromise = new Promise<void>((resolve) => (started = resolve));
    const other = await startServer(createHealthRegistry(), () => started());
    const client = createClient(AuditService, createRpcClientTransport({ baseUrl: other.baseUrl, protocol: 'grpc' }));
    const hangingCall = client.getActionLogEntry({ name: 'hang' }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e).code,
    );
    await startedPromise;

    const closeStarted = Date.now();
    await other.server.close(200);
    const elapsed = Date.now() - closeStarted;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(2_000);
    expect(await hangingCall).toBe(Code.Unavailable);
  });
});

describe('rpc server response compression (compressMinBytes)', () => {
  /** A Connect JSON call from a client that accepts gzip: the Content-Encoding it got, and the entry's text length. */
  async function callAcceptingGzip(baseUrl: string, name: string) {
    const res = await fetch(baseUrl + GET_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: JSON.stringify({ name }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { actionLogEntry: { details: { text?: string } } };
    return { encoding: res.headers.get('content-encoding'), textLength: body.actionLogEntry.details.text?.length ?? 0 };
  }

  async function withServer(compressMinBytes: number | undefined, fn: (baseUrl: string) => Promise<void>) {
    const { server, baseUrl } = await startServer(createHealthRegistry(), undefined, [], compressMinBytes);
    try {
      await fn(baseUrl);
    } finally {
      await server.close(0);
    }
  }

  it('by default gzips responses of 1 KiB and more, and only those', async () => {
    await withServer(undefined, async (baseUrl) => {
      expect(await callAcceptingGzip(baseUrl, 'large')).toEqual({ encoding: 'gzip', textLength: 8192 });
      expect(await callAcceptingGzip(baseUrl, 'small')).toEqual({ encoding: null, textLength: 0 });
    });
  });

  it('never compresses with Infinity (RPC_COMPRESS_MIN_BYTES=off), and still answers in full', async () => {
    await withServer(Number.POSITIVE_INFINITY, async (baseUrl) => {
      expect(await callAcceptingGzip(baseUrl, 'large')).toEqual({ encoding: null, textLength: 8192 });
    });
  });

  it('compresses even small responses with 0', async () => {
    await withServer(0, async (baseUrl) => {
      expect(await callAcceptingGzip(baseUrl, 'small')).toEqual({ encoding: 'gzip', textLength: 0 });
    });
  });
});
