import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { ActionLogEntry, ActionTypeName, ActorTypeName, EntityTypeName, OutcomeName } from '../entries/action-log-entry';
import { budgetedPageSql, wasCutShort, type BudgetColumns } from '../../../../shared/db/budgeted-page';
import { pgErrorCode, UNIQUE_VIOLATION, violatedConstraint } from '../../../../shared/db/pg-errors';

/** The only place that knows the action log's SQL. Everything it returns is a plain object. */

interface EntryRow {
  seq: string;
  event_id: string;
  occur_time: Date;
  record_time: Date;
  actor_id: string;
  action_type: string;
  entity_type: string;
  entity_id: string;
  details: ActionLogEntry['details'];
  trace_id: string;
  span_id: string;
  trace_state: string;
  service_name: string;
  client_ip: string;
  user_agent: string;
  prev_hash: string;
  hash: string;
  hash_version: number;
  actor_type: string;
  actor_subject: string;
  actor_issuer: string;
  actor_verified: boolean;
  unverified_actor_id: string;
  outcome: string;
}

const COLUMNS =
  'seq, event_id, occur_time, record_time, actor_id, action_type, entity_type, entity_id, details, ' +
  'trace_id, span_id, trace_state, service_name, client_ip, user_agent, prev_hash, hash, ' +
  'hash_version, actor_type, actor_subject, actor_issuer, actor_verified, unverified_actor_id, outcome';
/** COLUMNS qualified with the alias `e`, for joins. */
const E_COLUMNS = COLUMNS.split(', ').map((c) => `e.${c}`).join(', ');

function toEntry(r: EntryRow): ActionLogEntry {
  return {
    seq: BigInt(r.seq),
    eventId: r.event_id,
    occurTime: r.occur_time,
    recordTime: r.record_time,
    actorId: r.actor_id,
    actionType: r.action_type as ActionTypeName,
    entityType: r.entity_type as EntityTypeName,
    entityId: r.entity_id,
    details: r.details,
    traceId: r.trace_id,
    spanId: r.span_id,
    traceState: r.trace_state,
    serviceName: r.service_name,
    clientIp: r.client_ip,
    userAgent: r.user_agent,
    prevHash: r.prev_hash,
    hash: r.hash,
    hashVersion: r.hash_version as 1 | 2,
    // Version 1 rows predate identity: they were written by unauthenticated callers.
    actorType: (r.actor_type || (r.actor_id === 'system' ? 'SYSTEM' : 'USER')) as ActorTypeName,
    actorSubject: r.actor_subject,
    actorIssuer: r.actor_issuer,
    actorVerified: r.actor_verified,
    unverifiedActorId: r.unverified_actor_id,
    outcome: r.outcome as OutcomeName,
  };
}

export interface ChainHead {
  readonly seq: bigint;
  readonly hash: string;
}

/** Operations valid only while the chain head is locked (one appender at a time). */
export interface ChainAppender {
  readonly head: ChainHead;
  /**
   * The record time for this transaction's entries: the database's clock, read by the statement
   * that takes the lock, to the millisecond. One clock for every replica, so record_time never
   * decreases along seq however the replicas' own clocks disagree. (It is also kept from falling
   * behind the head entry's, a guard against that clock stepping back, as far as the statement's
   * snapshot shows that entry: not when it waited for the lock.)
   */
  readonly recordTime: Date;
  /** Entries already recorded under the event ids given to withChainLock (read under the lock). */
  readonly existing: readonly ActionLogEntry[];
  insert(entries: readonly ActionLogEntry[]): Promise<void>;
}

export interface ListQuery {
  /** SQL condition over the table's columns with `$n` placeholders starting at $1, or ''. */
  readonly where: string;
  readonly bind: readonly unknown[];
  readonly afterSeq: bigint | undefined;
  readonly desc: boolean;
  readonly limit: number;
  /** Bytes (rows as text) one page may carry; see list(). */
  readonly maxBytes: number;
}

/** The unique key on event_id (PostgreSQL's default name for the column's UNIQUE constraint). */
const EVENT_ID_KEY = 'action_log_entries_event_id_key';
/** Each retry follows a replica's commit of one of the same event ids, so one is enough; three is a margin. */
const MAX_APPEND_ATTEMPTS = 3;

export function createActionLogRepository(sequelize: Sequelize) {
  const select = <T extends object>(sql: string, bind: readonly unknown[], transaction?: Transaction) =>
    sequelize.query<T>(sql, { bind: bind as unknown[], type: QueryTypes.SELECT, transaction });

  /** One attempt of withChainLock (see there): the lock, the replay read, and `fn`, in one transaction. */
  function lockedAppend<T>(eventIds: readonly string[], fn: (appender: ChainAppender) => Promise<T>): Promise<T> {
    return sequelize.transaction(async (transaction) => {
      const rows = await select<{ head_seq: string; head_hash: string; record_time_now: Date } & Partial<EntryRow>>(
        `SELECT h.seq AS head_seq, h.hash AS head_hash,
           date_trunc('milliseconds', greatest(clock_timestamp(), (SELECT l.record_time FROM action_log_entries l WHERE l.seq = h.seq))) AS record_time_now,
           ${E_COLUMNS}
         FROM audit_chain_head h LEFT JOIN action_log_entries e ON e.event_id = ANY($1::uuid[])
         WHERE h.id = 1 FOR UPDATE OF h`,
        [eventIds],
        transaction,
      );
      const [head] = rows;
      if (!head) throw new Error('audit_chain_head is missing its row: the schema is not migrated');
      let current: ChainHead = { seq: BigInt(head.head_seq), hash: head.head_hash };
      const existing = rows.filter((r) => r.event_id != null).map((r) => toEntry(r as EntryRow));
      const appender: ChainAppender = {
        get head() {
          return current;
        },
        recordTime: head.record_time_now,
        existing,
        async insert(entries) {
          if (entries.length === 0) return;
          // One statement for the whole batch: unnest() of column arrays keeps the bind
          // count fixed (26) however many rows there are.
          const col = <K extends keyof ActionLogEntry>(k: K) => entries.map((e) => e[k]);
          const last = entries[entries.length - 1]!;
          // The rows and the new chain head in one statement (one round trip under the lock).
          await sequelize.query(
            `WITH inserted AS (
               INSERT INTO action_log_entries (${COLUMNS})
               SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::text[],
               $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::text[], $12::text[], $13::text[],
               $14::text[], $15::text[], $16::text[], $17::text[], $18::smallint[], $19::text[], $20::text[], $21::text[],
               $22::boolean[], $23::text[], $24::text[])
             )
             UPDATE audit_chain_head SET seq = $25, hash = $26 WHERE id = 1`,
            {
              bind: [
                entries.map((e) => e.seq.toString()),
                col('eventId'),
                col('occurTime'),
                col('recordTime'),
                col('actorId'),
                col('actionType'),
                col('entityType'),
                col('entityId'),
                entries.map((e) => JSON.stringify(e.details)),
                col('traceId'),
                col('spanId'),
                col('traceState'),
                col('serviceName'),
                col('clientIp'),
                col('userAgent'),
                col('prevHash'),
                col('hash'),
                col('hashVersion'),
                col('actorType'),
                col('actorSubject'),
                col('actorIssuer'),
                col('actorVerified'),
                col('unverifiedActorId'),
                col('outcome'),
                last.seq.toString(),
                last.hash,
              ],
              type: QueryTypes.UPDATE,
              transaction,
            },
          );
          current = { seq: last.seq, hash: last.hash };
        },
      };
      return fn(appender);
    });
  }

  return {
    /**
     * Runs `fn` in one transaction holding the chain-head row lock. Appends are therefore
     * serialised across requests and replicas: seq is gap-free and increases in commit order,
     * and each entry links to the hash of the entry committed just before it. The entries
     * already recorded under `eventIds` (replays) are read with the lock, in the same round trip.
     *
     * That read sees the log as it was when the statement began, before it queued for the lock:
     * another replica may meanwhile have committed one of these event ids, and the insert then
     * violates the event_id key. The whole transaction is then run again, and its fresh read
     * finds that entry as a replay (a rare path: two replicas given one event id at once).
     */
    async withChainLock<T>(eventIds: readonly string[], fn: (appender: ChainAppender) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await lockedAppend(eventIds, fn);
        } catch (err) {
          const raced = pgErrorCode(err) === UNIQUE_VIOLATION && violatedConstraint(err) === EVENT_ID_KEY;
          if (!raced || attempt >= MAX_APPEND_ATTEMPTS) throw err;
        }
      }
    },

    async findBySeq(seq: bigint): Promise<ActionLogEntry | undefined> {
      const rows = await select<EntryRow>(`SELECT ${COLUMNS} FROM action_log_entries WHERE seq = $1`, [seq.toString()]);
      return rows[0] && toEntry(rows[0]);
    },

    /** Keyset page: rows after the cursor in the requested direction, at most `limit`, cut short at `maxBytes` (see budgeted-page.ts). */
    async list(q: ListQuery): Promise<{ entries: ActionLogEntry[]; cutShort: boolean }> {
      const conditions = q.where ? [`(${q.where})`] : [];
      const bind = [...q.bind];
      if (q.afterSeq !== undefined) {
        bind.push(q.afterSeq.toString());
        conditions.push(`seq ${q.desc ? '<' : '>'} $${bind.length}`);
      }
      const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
      const dir = q.desc ? 'DESC' : 'ASC';
      const pageSql = `SELECT ${COLUMNS} FROM action_log_entries ${where} ORDER BY seq ${dir} LIMIT $${bind.push(q.limit)}`;
      const rows = await select<EntryRow & BudgetColumns>(
        // details is the one field without a small fixed bound (64 KiB each); the rest is a few hundred bytes.
        budgetedPageSql({ pageSql, orderBy: `seq ${dir}`, budgetParam: `$${bind.push(q.maxBytes)}`, rowBytes: 'octet_length(page.details::text)' }),
        bind,
      );
      return { entries: rows.map(toEntry), cutShort: wasCutShort(rows) };
    },

    /** Entries with start <= seq <= end in seq order, fetched in chunks so memory stays flat. */
    async *scan(start: bigint, end: bigint | undefined, chunk = 2000): AsyncGenerator<ActionLogEntry> {
      let from = start;
      for (;;) {
        const bind: unknown[] = [from.toString(), chunk];
        const endCond = end === undefined ? '' : ` AND seq <= $${bind.push(end.toString())}`;
        const rows = await select<EntryRow>(
          `SELECT ${COLUMNS} FROM action_log_entries WHERE seq >= $1${endCond} ORDER BY seq ASC LIMIT $2`,
          bind,
        );
        for (const row of rows) yield toEntry(row);
        if (rows.length < chunk) return;
        from = BigInt(rows[rows.length - 1]!.seq) + 1n;
      }
    },

    /** The lowest seq above `seq`, if any (an entry past the chain head should not exist). */
    async firstSeqAfter(seq: bigint): Promise<bigint | undefined> {
      const [row] = await select<{ seq: string | null }>('SELECT min(seq) AS seq FROM action_log_entries WHERE seq > $1', [seq.toString()]);
      return row?.seq == null ? undefined : BigInt(row.seq);
    },

    async readHead(): Promise<ChainHead> {
      const [head] = await select<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_chain_head WHERE id = 1', []);
      if (!head) throw new Error('audit_chain_head is missing its row: the schema is not migrated');
      return { seq: BigInt(head.seq), hash: head.hash };
    },
  };
}

export type ActionLogRepository = ReturnType<typeof createActionLogRepository>;
