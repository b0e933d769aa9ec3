import { randomUUID } from 'node:crypto';
import type { Sequelize, Transaction } from 'sequelize';
import type { IdempotencyRepository } from './idempotency-repository';
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
    return uid ? opts.load(uid) : undefined;
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
