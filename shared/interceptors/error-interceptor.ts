import type { Interceptor } from '@connectrpc/connect';
import { ConnectError } from '@connectrpc/connect';
import { trace } from '@opentelemetry/api';
import { isDatabaseUnavailable } from '../db/pg-errors';
import { AppError, UnavailableError } from '../errors/app-error';
import { toConnectError } from '../errors/to-connect-error';
import type { Logger } from '../logging/logger';
import { bindStream } from './bind-stream';

/**
 * Innermost interceptor: every error a handler throws leaves as a ConnectError. A database
 * that cannot be reached becomes UNAVAILABLE (retryable); other unexpected errors are logged
 * here, with stack and trace id, and reach the caller only as INTERNAL.
 */
export function createErrorInterceptor(opts: { logger: Logger }): Interceptor {
  const convert = (err: unknown, procedure: string): ConnectError => {
    if (err instanceof AppError || err instanceof ConnectError) return toConnectError(err);
    if (isDatabaseUnavailable(err)) {
      // Retryable, and the caller's cue to back off; the cause stays in the log.
      opts.logger.warn({ err, procedure }, 'database unavailable while serving a call');
      return toConnectError(new UnavailableError('the database is unavailable; retry later', { cause: err }));
    }
    const traceId = trace.getActiveSpan()?.spanContext().traceId;
    opts.logger.error({ err, procedure }, 'unexpected error while serving a call');
    return toConnectError(err, traceId);
  };
  return (next) => async (req) => {
    const procedure = `${req.service.typeName}/${req.method.name}`;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const source = res.message;
      async function* mapped() {
        try {
          yield* source;
        } catch (err) {
          throw convert(err, procedure);
        }
      }
      return { ...res, message: bindStream(mapped(), (fn) => fn()) };
    } catch (err) {
      throw convert(err, procedure);
    }
  };
}
