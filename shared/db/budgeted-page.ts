/**
 * A memory bound for List pages. A keyset page holds up to `page_size` rows (at most 1,000),
 * and rows can be large (a definition of up to the request size limit, a run with its step
 * outputs, an audit entry's details), so a full page could take hundreds of MiB under the
 * services' heap cap. The page query is wrapped so that it ends once its rows add up to
 * PAGE_MAX_BYTES as text (the first row always stays); the caller tells from `cutShort`
 * that rows were left out and hands out a page token anyway (AIP-158 lets a page hold fewer
 * than `page_size` results).
 */
export const PAGE_MAX_BYTES = 4 * 1024 * 1024;

/** Columns the wrapped query adds to each row. */
export interface BudgetColumns {
  readonly page_fetched: string | number;
}

/**
 * `pageSql`: the keyset query, with its ORDER BY and LIMIT. `orderBy`: the same ordering over
 * the query's output columns (unique, so no two rows tie). `rowBytes`: a row's size, an
 * expression over the alias `page` (default: the whole row as text). `budgetParam`: the
 * placeholder bound to the budget in bytes.
 */
export function budgetedPageSql(opts: { pageSql: string; orderBy: string; budgetParam: string; rowBytes?: string }): string {
  return `SELECT * FROM (
      SELECT sized.*, count(*) OVER () AS page_fetched,
        sum(page_row_bytes) OVER (ORDER BY ${opts.orderBy} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - page_row_bytes AS page_bytes_before
      FROM (SELECT page.*, ${opts.rowBytes ?? 'octet_length(page::text)'} AS page_row_bytes FROM (${opts.pageSql}) page) sized
    ) budgeted
    WHERE page_bytes_before < ${opts.budgetParam}
    ORDER BY ${opts.orderBy}`;
}

/** True when the budget left rows of the page out: more follow even if the page is short. */
export function wasCutShort(rows: readonly BudgetColumns[]): boolean {
  return rows.length > 0 && rows.length < Number(rows[0]!.page_fetched);
}
