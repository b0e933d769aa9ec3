import { trace } from '@opentelemetry/api';
import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON logs, one line per event. Every line written inside a traced request
 * carries `trace_id`/`span_id`, so logs and audit entries of one request can be joined.
 */
export function createLogger(opts: { service: string; level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: opts.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: safeErrorSerializer },
      mixin() {
        const ctx = trace.getActiveSpan()?.spanContext();
        return ctx && trace.isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
      },
    },
    opts.destination,
  );
}

/**
 * Errors are logged with type, message, code and stack, never with the SQL or bind
 * parameters a database error carries: those hold request data, secrets included.
 */
function safeErrorSerializer(err: unknown): unknown {
  // Duck-typed: `instanceof Error` is false for errors from another realm (e.g. under jest).
  if (typeof err !== 'object' || err === null || !('message' in err)) return err;
  const e = err as { name?: unknown; message: unknown; code?: unknown; stack?: unknown; cause?: unknown };
  return {
    type: e.name,
    message: e.message,
    ...(e.code !== undefined ? { code: e.code } : {}),
    stack: e.stack,
    ...(e.cause !== undefined ? { cause: safeErrorSerializer(e.cause) } : {}),
  };
}
