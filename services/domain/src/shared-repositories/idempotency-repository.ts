import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';

/**
 * AIP-155 request ids. The key is inserted first in the creating transaction, so a
 * concurrent retry with the same id waits on it and then finds the finished result.
 */
export function createIdempotencyRepository(sequelize: Sequelize) {
  return {
    async find(operation: string, requestId: string, tx?: Transaction): Promise<string | undefined> {
      const rows = await sequelize.query<{ resource_uid: string }>(
        'SELECT resource_uid FROM idempotency_keys WHERE operation = $1 AND request_id = $2',
        { bind: [operation, requestId], type: QueryTypes.SELECT, transaction: tx },
      );
      return rows[0]?.resource_uid;
    },
    async save(tx: Transaction, operation: string, requestId: string, resourceUid: string): Promise<void> {
      await sequelize.query('INSERT INTO idempotency_keys (operation, request_id, resource_uid) VALUES ($1, $2, $3)', {
        bind: [operation, requestId, resourceUid],
        transaction: tx,
      });
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
