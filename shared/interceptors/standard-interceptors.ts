import type { Interceptor } from '@connectrpc/connect';
import type { Logger } from '../logging/logger';
import { createErrorInterceptor } from './error-interceptor';
import { createLoggingInterceptor } from './logging-interceptor';
import { createRequestContextInterceptor } from './request-context';
import { createTracingInterceptor } from './tracing-interceptor';

/**
 * The server chain both services use, outermost first: the span exists before the request
 * context reads its trace id; logging sees final codes; errors are converted innermost.
 */
export function createStandardInterceptors(opts: { logger: Logger; serviceName: string }): Interceptor[] {
  return [
    createTracingInterceptor({ tracerName: opts.serviceName }),
    createRequestContextInterceptor(),
    createLoggingInterceptor({ logger: opts.logger }),
    createErrorInterceptor({ logger: opts.logger }),
  ];
}
