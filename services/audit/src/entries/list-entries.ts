import { filterToSql, parseFilter, type FilterFieldSpec } from '../../../../shared/api/filter';
import { parseOrderBy } from '../../../../shared/api/order-by';
import { decodePageToken, keysetPage, queryFingerprint, resolvePageSize } from '../../../../shared/api/page-token';
import type { ActionLogRepository } from '../repositories/action-log-repository';
import { ACTION_TYPES, ENTITY_TYPES, type ActionLogEntry } from './action-log-entry';
import { PAGE_MAX_BYTES } from '../../../../shared/db/budgeted-page';

/** Enum names in filters map to their proto numbers; the table stores the short names. */
const enumValues = (names: readonly string[]) => Object.fromEntries(names.map((n, i) => [n, i + 1]));

const FILTER_FIELDS: Record<string, FilterFieldSpec> = {
  actor_id: { type: 'string', column: 'actor_id', ops: ['='] },
  action_type: { type: 'enum', column: 'action_type', values: enumValues(ACTION_TYPES), prefix: 'ACTION_TYPE_', ops: ['='] },
  entity_type: { type: 'enum', column: 'entity_type', values: enumValues(ENTITY_TYPES), prefix: 'ENTITY_TYPE_', ops: ['='] },
  entity_id: { type: 'string', column: 'entity_id', ops: ['='] },
  trace_id: { type: 'string', column: 'trace_id', ops: ['='] },
  service_name: { type: 'string', column: 'service_name', ops: ['='] },
  seq: { type: 'int', column: 'seq' },
  occur_time: { type: 'timestamp', column: 'occur_time' },
  record_time: { type: 'timestamp', column: 'record_time' },
};

const ENUM_NAMES: Record<string, readonly string[]> = { action_type: ACTION_TYPES, entity_type: ENTITY_TYPES };

export interface ListRequest {
  readonly filter: string;
  readonly orderBy: string;
  readonly pageSize: number;
  readonly pageToken: string;
}

export interface ListPage {
  readonly entries: ActionLogEntry[];
  readonly nextPageToken: string;
}

/**
 * Keyset pagination over seq: a page token carries the last seq returned and a fingerprint
 * of the query, so a token can only continue the query that produced it.
 */
export async function listEntries(repo: ActionLogRepository, req: ListRequest): Promise<ListPage> {
  const limit = resolvePageSize(req.pageSize, { default: 50, max: 1000 });
  const order = parseOrderBy(req.orderBy, { seq: 'seq' }, { field: 'seq', desc: false });
  const comparisons = parseFilter(req.filter, FILTER_FIELDS).map((c) =>
    c.field in ENUM_NAMES ? { ...c, value: ENUM_NAMES[c.field]![Number(c.value) - 1]! } : c,
  );
  const fingerprint = queryFingerprint({ filter: req.filter.trim(), order_by: `${order.field} ${order.desc ? 'desc' : 'asc'}` });
  const cursor = req.pageToken ? decodePageToken(req.pageToken, fingerprint) : undefined;
  const { sql, bind } = filterToSql(comparisons, 1);

  // One extra row tells whether another page exists without a COUNT.
  const { entries, cutShort } = await repo.list({
    where: sql,
    bind,
    afterSeq: cursor ? BigInt(cursor.seq as string) : undefined,
    desc: order.desc,
    limit: limit + 1,
    maxBytes: PAGE_MAX_BYTES,
  });
  const page = keysetPage(entries, limit, fingerprint, (last) => ({ seq: last.seq.toString() }), cutShort);
  return { entries: page.items, nextPageToken: page.nextPageToken };
}
