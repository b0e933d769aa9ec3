/**
 * AIP-132 `order_by`, restricted to a single field: `seq`, `seq asc` or `seq desc`.
 * Keyset pagination needs a total order on a unique key, so multi-field orders are
 * refused rather than half-supported. `asc`/`desc` are accepted in any case; field
 * names are case-sensitive.
 */
import { InvalidArgumentError } from '../errors/app-error';

export interface OrderBy {
  field: string;
  column: string;
  desc: boolean;
}

/** Longest accepted text; it is echoed in error messages. */
export const MAX_ORDER_BY_LENGTH = 200;

/**
 * Parses `text`; empty or whitespace-only → `defaultOrder`. `allowed` maps API field names
 * to trusted SQL columns. Throws InvalidArgumentError on `order_by` for caller mistakes.
 */
export function parseOrderBy(
  text: string,
  allowed: Record<string, string>,
  defaultOrder: { field: string; desc: boolean },
): OrderBy {
  const column = (field: string): string | undefined => (Object.hasOwn(allowed, field) ? allowed[field] : undefined);
  const defaultColumn = column(defaultOrder.field);
  if (defaultColumn === undefined) throw new Error(`parseOrderBy: default field "${defaultOrder.field}" is not in allowed`);

  if (text.length > MAX_ORDER_BY_LENGTH) {
    throw fail(`is ${text.length} characters long; the maximum is ${MAX_ORDER_BY_LENGTH}`);
  }
  const trimmed = text.trim();
  if (trimmed === '') return { field: defaultOrder.field, column: defaultColumn, desc: defaultOrder.desc };

  const allowedList = Object.keys(allowed).sort().join(', ');
  const fieldCount = trimmed.split(',').length;
  if (fieldCount > 1) {
    throw fail(`only one field is supported, got ${fieldCount} in "${trimmed}"; allowed fields: ${allowedList}`);
  }
  const [field = '', direction, ...rest] = trimmed.split(/\s+/);
  const col = column(field);
  if (col === undefined) throw fail(`unknown field "${field}"; allowed: ${allowedList}`);
  if (direction !== undefined && !/^(asc|desc)$/i.test(direction)) {
    throw fail(`expected "asc" or "desc" after "${field}", got "${direction}"`);
  }
  if (rest.length > 0) {
    throw fail(`unexpected "${rest.join(' ')}" after "${field} ${direction}"; only one field is supported`);
  }
  return { field, column: col, desc: direction?.toLowerCase() === 'desc' };
}

function fail(description: string): InvalidArgumentError {
  return InvalidArgumentError.field('order_by', description);
}
