import type { Interceptor } from '@connectrpc/connect';
import { ConnectError } from '@connectrpc/connect';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { bindStream } from './bind-stream';

const headerGetter = {
  get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
  keys: (carrier: Headers) => [...carrier.keys()],
};

function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    const code = ConnectError.from(err).code;
    span.setAttribute('rpc.grpc.status_code', code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: ConnectError.from(err).rawMessage });
  } else {
    span.setAttribute('rpc.grpc.status_code', 0);
  }
  span.end();
}

/**
 * One SERVER span per call, a child of the caller's W3C `traceparent` when one is sent,
 * so a request can be followed across services. Handlers run inside the span's context.
 */
export function createTracingInterceptor(opts: { tracerName: string }): Interceptor {
  const tracer = trace.getTracer(opts.tracerName);
  return (next) => async (req) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.header, headerGetter);
    const span = tracer.startSpan(
      `${req.service.typeName}/${req.method.name}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': req.service.typeName, 'rpc.method': req.method.name },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    try {
      const res = await context.with(ctx, () => next(req));
      if (!res.stream) {
        endSpan(span);
        return res;
      }
      return { ...res, message: bindStream(res.message, (fn) => context.with(ctx, fn), (err) => endSpan(span, err)) };
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  };
}
