/**
 * Domain errors. Use cases throw these; exactly one place (`to-connect-error.ts`)
 * turns them into RPC status codes, so no business code knows about gRPC.
 */

/** A single offending field, named by its path in the request (e.g. `action_log_entry.event_id`). */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

export type ErrorKind =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'aborted'
  | 'resource_exhausted'
  | 'unauthenticated'
  | 'permission_denied'
  | 'unavailable'
  | 'out_of_range';

export abstract class AppError extends Error {
  abstract readonly kind: ErrorKind;
  /** UPPER_SNAKE_CASE machine-readable reason, sent as `google.rpc.ErrorInfo.reason`. */
  abstract readonly reason: string;
  /** Extra context, sent as `google.rpc.ErrorInfo.metadata`. Never put secrets here. */
  readonly metadata: Readonly<Record<string, string>>;

  protected constructor(message: string, metadata: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.metadata = metadata;
  }
}

export class InvalidArgumentError extends AppError {
  readonly kind = 'invalid_argument';
  readonly reason = 'INVALID_ARGUMENT';
  readonly violations: readonly FieldViolation[];

  constructor(violations: FieldViolation | readonly FieldViolation[]) {
    const list = Array.isArray(violations) ? violations : [violations as FieldViolation];
    super(list.map((v) => `${v.field}: ${v.description}`).join('; '), { field: list[0]?.field ?? '' });
    this.violations = list;
  }

  static field(field: string, description: string): InvalidArgumentError {
    return new InvalidArgumentError({ field, description });
  }
}

export class NotFoundError extends AppError {
  readonly kind = 'not_found';
  readonly reason = 'RESOURCE_NOT_FOUND';
  constructor(
    readonly resourceType: string,
    readonly resourceName: string,
  ) {
    super(`${resourceType} "${resourceName}" not found`, { resource_type: resourceType, resource_name: resourceName });
  }
}

export class AlreadyExistsError extends AppError {
  readonly kind = 'already_exists';
  readonly reason = 'RESOURCE_ALREADY_EXISTS';
  constructor(
    readonly resourceType: string,
    readonly resourceName: string,
  ) {
    super(`${resourceType} "${resourceName}" already exists`, { resource_type: resourceType, resource_name: resourceName });
  }
}

export class FailedPreconditionError extends AppError {
  readonly kind = 'failed_precondition';
  constructor(
    readonly reason: string,
    message: string,
    metadata: Record<string, string> = {},
  ) {
    super(message, metadata);
  }
}

/** Optimistic concurrency failed: the caller's etag is stale (AIP-154). */
export class EtagMismatchError extends AppError {
  readonly kind = 'aborted';
  readonly reason = 'ETAG_MISMATCH';
  constructor(
    readonly resourceName: string,
    readonly expectedEtag: string,
  ) {
    super(`etag does not match the current state of "${resourceName}"; read it again and retry`, {
      resource_name: resourceName,
    });
  }
}

export class ResourceExhaustedError extends AppError {
  readonly kind = 'resource_exhausted';
  constructor(
    readonly reason: string,
    message: string,
    readonly field: string,
    readonly limit: number,
  ) {
    super(message, { field, limit: String(limit) });
  }
}

export class UnauthenticatedError extends AppError {
  readonly kind = 'unauthenticated';
  readonly reason = 'UNAUTHENTICATED';
  constructor(message = 'authentication required') {
    super(message);
  }
}

export class PermissionDeniedError extends AppError {
  readonly kind = 'permission_denied';
  readonly reason = 'PERMISSION_DENIED';
  constructor(message = 'permission denied') {
    super(message);
  }
}

/** A dependency (database, downstream service) is not reachable right now; the caller may retry. */
export class UnavailableError extends AppError {
  readonly kind = 'unavailable';
  readonly reason = 'UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, {}, options);
  }
}

/** A position past the end of what exists yet (it may become valid later, unlike INVALID_ARGUMENT). */
export class OutOfRangeError extends AppError {
  readonly kind = 'out_of_range';
  readonly reason = 'OUT_OF_RANGE';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`, { field });
  }
}
