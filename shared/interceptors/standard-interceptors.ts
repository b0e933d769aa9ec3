import type { Interceptor } from '@connectrpc/connect';
import type { Logger } from '../logging/logger';
import { createAuthInterceptor } from './auth-interceptor';
import { createErrorInterceptor } from './error-interceptor';
import { createLoggingInterceptor } from './logging-interceptor';
import { createRequestContextInterceptor } from './request-context';
import { createTracingInterceptor } from './tracing-interceptor';

/**
 * The server chain both services use, outermost first: the span exists before the request
 * context reads its trace id; logging sees final codes; errors are converted next; the
 * caller is authenticated and authorized last, right before the handler.
 */
export function createStandardInterceptors(opts: {
  logger: Logger;
  serviceName: string;
  auth: Omit<Parameters<typeof createAuthInterceptor>[0], 'logger'>;
}): Interceptor[] {
  return [
    createTracingInterceptor({ tracerName: opts.serviceName }),
    createRequestContextInterceptor(),
    createLoggingInterceptor({ logger: opts.logger }),
    createErrorInterceptor({ logger: opts.logger }),
    // Inside the error interceptor, so its refusals get the one error mapping.
    createAuthInterceptor({ ...opts.auth, logger: opts.logger }),
  ];
}
