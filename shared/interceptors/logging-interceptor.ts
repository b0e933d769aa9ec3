import type { Interceptor } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from '../logging/logger';
import { currentRequestContext } from './request-context';

/** Health probes arrive every few seconds; logging each would drown the real traffic. */
const QUIET_SERVICES = new Set(['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);

/** One log line per completed unary call (or per stream opened): procedure, code, duration, actor. */
export function createLoggingInterceptor(opts: { logger: Logger }): Interceptor {
  return (next) => async (req) => {
    const started = process.hrtime.bigint();
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const level = QUIET_SERVICES.has(req.service.typeName) ? 'debug' : 'info';
    const log = (code: Code) =>
      opts.logger[code === Code.Internal || code === Code.Unknown ? 'error' : level](
        {
          procedure,
          code: Code[code] ?? code,
          duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
          actor_id: currentRequestContext()?.actorId,
        },
        'rpc',
      );
    try {
      const res = await next(req);
      log(0 as Code);
      return res;
    } catch (err) {
      log(ConnectError.from(err).code);
      throw err;
    }
  };
}
