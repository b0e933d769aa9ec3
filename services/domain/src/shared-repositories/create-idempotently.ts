import { randomUUID } from 'node:crypto';
import type { Sequelize, Transaction } from 'sequelize';
import type { IdempotencyRepository } from './idempotency-repository';
import { FailedPreconditionError } from '../../../../shared/errors/app-error';
import { isRequestIdRace, parseRequestId } from './request-id';

/**
 * AIP-155 for create-like methods. With a `request_id` seen before, returns what the first
 * call created (loaded by uid) instead of creating again. Otherwise creates in one
 * transaction that claims the key first, so a concurrent retry with the same key blocks on
 * it and then, seeing the key taken, replays the result.
 */
export async function createIdempotently<T>(
  deps: { sequelize: Sequelize; idempotency: IdempotencyRepository },
  opts: {
    operation: string;
    rawRequestId: string;
    load: (uid: string) => Promise<T | undefined>;
    create: (tx: Transaction, uid: string) => Promise<T>;
  },
): Promise<T> {
  const requestId = parseRequestId(opts.rawRequestId);
  const replay = async () => {
    const uid = requestId && (await deps.idempotency.find(opts.operation, requestId));
    if (!uid) return undefined;
    const earlier = await opts.load(uid);
    // The first request succeeded, but what it created has since been deleted: creating again
    // would not be a replay, and there is nothing left to return.
    if (!earlier) {
      throw new FailedPreconditionError(
        'REQUEST_ID_ALREADY_USED',
        `request_id ${requestId} was used by an earlier ${opts.operation} whose result no longer exists; send a new request_id`,
        { request_id: requestId! },
      );
    }
    return earlier;
  };
  const earlier = await replay();
  if (earlier) return earlier;
  const uid = randomUUID();
  try {
    return await deps.sequelize.transaction(async (tx) => {
      if (requestId) await deps.idempotency.save(tx, opts.operation, requestId, uid);
      return opts.create(tx, uid);
    });
  } catch (err) {
    if (isRequestIdRace(err)) {
      const replayed = await replay();
      if (replayed) return replayed;
    }
    throw err;
  }
}
