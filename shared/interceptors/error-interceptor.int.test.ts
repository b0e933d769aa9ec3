import { Writable } from 'node:stream';
import { Code, ConnectError, createClient, type ConnectRouter } from '@connectrpc/connect';
import { ErrorInfoSchema } from '../gen/google/rpc/error_details_pb';
import { AuditService } from '../gen/mcpbackend/audit/v1/audit_service_pb';
import { NotFoundError } from '../errors/app-error';
import { createLogger } from '../logging/logger';
import { createRpcClientTransport } from '../rpc/client-transport';
import { createHealthRegistry } from '../rpc/health-service';
import { createRpcServer, type RpcServer } from '../rpc/rpc-server';
import { setupTelemetry, type Telemetry } from '../telemetry/setup-telemetry';
import { createErrorInterceptor } from './error-interceptor';
import { createTracingInterceptor } from './tracing-interceptor';

/**
 * The one error mapping, on a real server: an unexpected error reaches the caller as INTERNAL
 * with a generic message and the trace id (in the message and in ErrorInfo), never its own
 * text; the log gets the whole error with its stack and the same trace id.
 */
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;

const logLines: Record<string, unknown>[] = [];
const destination = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});
const logger = createLogger({ service: 'error-test', level: 'info', destination });

let telemetry: Telemetry;
let server: RpcServer;
let client: ReturnType<typeof createClient<typeof AuditService>>;

beforeAll(async () => {
  // As the services start: the SDK with the W3C propagator and the async context manager.
  telemetry = setupTelemetry({ serviceName: 'error-test' });
  const routes = (router: ConnectRouter) =>
    router.service(AuditService, {
      getActionLogEntry(req) {
        if (req.name === 'missing') throw new NotFoundError('ActionLogEntry', 'missing');
        // What a driver error may carry: connection details, SQL, values.
        throw new Error('connect to db.internal:5432 as app with password hunter2 failed');
      },
    });
  server = createRpcServer({
    routes,
    interceptors: [createTracingInterceptor({ tracerName: 'error-test' }), createErrorInterceptor({ logger })],
    health: createHealthRegistry(),
    reflection: false,
    readMaxBytes: 65536,
  });
  const { port } = await server.listen(0, '127.0.0.1');
  client = createClient(AuditService, createRpcClientTransport({ baseUrl: `http://127.0.0.1:${port}`, protocol: 'grpc' }));
});
afterAll(async () => {
  await server?.close(0);
  await telemetry?.shutdown();
});

async function failure(name: string): Promise<ConnectError> {
  return client.getActionLogEntry({ name }, { headers: { traceparent: TRACEPARENT } }).then(
    () => {
      throw new Error('the call succeeded');
    },
    (e: unknown) => ConnectError.from(e),
  );
}

test('an unexpected error is INTERNAL with a generic message and the trace id; the log has the rest', async () => {
  const err = await failure('boom');
  expect(err.code).toBe(Code.Internal);
  expect(err.rawMessage).toBe(`internal error (trace_id ${TRACE_ID})`);
  const [info] = err.findDetails(ErrorInfoSchema);
  expect(info).toMatchObject({ reason: 'INTERNAL', domain: 'mcpbackend.dev', metadata: { trace_id: TRACE_ID } });
  expect(JSON.stringify({ message: err.rawMessage, details: err.details, metadata: [...err.metadata] })).not.toContain('hunter2');

  const logged = logLines.find((l) => l.msg === 'unexpected error while serving a call');
  expect(logged).toMatchObject({
    level: 'error',
    trace_id: TRACE_ID,
    procedure: 'mcpbackend.audit.v1.AuditService/GetActionLogEntry',
    err: { type: 'Error', message: 'connect to db.internal:5432 as app with password hunter2 failed' },
  });
  expect((logged!.err as { stack: string }).stack).toMatch(/^Error: connect to db.internal[^\n]*\n\s+at /);
});

test('a domain error keeps its code and message, gains ErrorInfo, and is not logged as unexpected', async () => {
  const before = logLines.length;
  const err = await failure('missing');
  expect(err.code).toBe(Code.NotFound);
  expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe('RESOURCE_NOT_FOUND');
  expect(logLines.slice(before).some((l) => l.msg === 'unexpected error while serving a call')).toBe(false);
});
