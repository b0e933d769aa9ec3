import { InvalidArgumentError } from '../../../../shared/errors/app-error';
import { pgErrorCode, UNIQUE_VIOLATION, violatedConstraint } from '../../../../shared/db/pg-errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** AIP-155: `request_id` is optional and, when given, a UUID. Returns it lower-cased, or undefined. */
export function parseRequestId(requestId: string): string | undefined {
  if (!requestId) return undefined;
  if (!UUID.test(requestId)) throw InvalidArgumentError.field('request_id', `"${requestId}" is not a UUID`);
  return requestId.toLowerCase();
}

/** True when a transaction lost a race to another with the same request id. */
export function isRequestIdRace(err: unknown): boolean {
  return pgErrorCode(err) === UNIQUE_VIOLATION && violatedConstraint(err) === 'idempotency_keys_pkey';
}

/** True when an insert hit the unique constraint on a resource's name. */
export function isDuplicateName(err: unknown, table: string): boolean {
  return pgErrorCode(err) === UNIQUE_VIOLATION && violatedConstraint(err) === `${table}_name_key`;
}
