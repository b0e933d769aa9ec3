import { Code, ConnectError } from '@connectrpc/connect';
import { BadRequestSchema, ErrorInfoSchema } from '../gen/google/rpc/error_details_pb';
import { AppError, InvalidArgumentError, type ErrorKind } from './app-error';

/** The error domain sent in every `google.rpc.ErrorInfo` (AIP-193). */
export const ERROR_DOMAIN = 'mcpbackend.dev';

const CODES: Record<ErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  aborted: Code.Aborted,
  resource_exhausted: Code.ResourceExhausted,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  unavailable: Code.Unavailable,
  out_of_range: Code.OutOfRange,
};

/**
 * The single mapping from domain errors to RPC status. Known errors keep their message
 * and gain `ErrorInfo` (+ `BadRequest` field violations); anything else becomes a generic
 * INTERNAL whose only link to the real cause is the trace id in the server log.
 */
export function toConnectError(err: unknown, traceId?: string): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof AppError) {
    const details: ConstructorParameters<typeof ConnectError>[3] = [
      { desc: ErrorInfoSchema, value: { reason: err.reason, domain: ERROR_DOMAIN, metadata: { ...err.metadata } } },
    ];
    if (err instanceof InvalidArgumentError) {
      details.push({
        desc: BadRequestSchema,
        value: { fieldViolations: err.violations.map((v) => ({ field: v.field, description: v.description })) },
      });
    }
    return new ConnectError(err.message, CODES[err.kind], undefined, details, err);
  }
  const suffix = traceId ? ` (trace_id ${traceId})` : '';
  return new ConnectError(`internal error${suffix}`, Code.Internal, undefined, [
    { desc: ErrorInfoSchema, value: { reason: 'INTERNAL', domain: ERROR_DOMAIN, metadata: traceId ? { trace_id: traceId } : {} } },
  ], err);
}
