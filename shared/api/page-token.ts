/**
 * Opaque page tokens for keyset pagination (AIP-158).
 *
 * A token is base64url(JSON `{v:1, f:fingerprint, c:cursor}`):
 * - `c` is the keyset position (e.g. `{ seq: 1234 }`: "continue after seq 1234");
 * - `f` fingerprints the query the token was issued for, so a token cannot be replayed
 *   against a different filter / order / parent (AIP-158: such a request is INVALID_ARGUMENT);
 * - `v` lets a future format be told apart from this one.
 *
 * Tokens are opaque but NOT tamper-proof: a caller can forge a cursor. That is harmless
 * for keyset pagination (it only moves the start position within what the caller may
 * already list), but callers must still type-check the cursor fields they read.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors/app-error';
import { canonicalJson } from './canonical-json';

const TOKEN_VERSION = 1;
/** Anything longer is not a token we issued; refuse before decoding. */
const MAX_TOKEN_LENGTH = 4096;
/** Request fields that may change between pages without invalidating the token (AIP-158). */
const PAGING_FIELDS = new Set(['page_size', 'pageSize', 'page_token', 'pageToken']);

/**
 * Stable fingerprint of the normalized query (filter, order_by, parent, …): sha256 over the
 * canonical JSON (sorted keys), base64url, first 128 bits (collisions only matter by accident,
 * not adversarially). `page_size`/`page_token` keys are ignored because the page size may
 * change between pages. Pass parsed values (e.g. the FilterComparison[] rather than the raw
 * text) so that `a=1` and `a = 1` fingerprint the same.
 */
export function queryFingerprint(parts: Record<string, unknown>): string {
  const query = Object.fromEntries(Object.entries(parts).filter(([key]) => !PAGING_FIELDS.has(key)));
  return createHash('sha256').update(canonicalJson(query)).digest().subarray(0, 16).toString('base64url');
}

/** Builds the `next_page_token` for a query; `cursor` values must be strings or finite numbers (int64 → string). */
export function encodePageToken(fingerprint: string, cursor: Record<string, string | number>): string {
  for (const [key, value] of Object.entries(cursor)) {
    if (!isCursorValue(value)) throw new TypeError(`encodePageToken: cursor.${key} must be a string or finite number`);
  }
  return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, f: fingerprint, c: cursor }), 'utf8').toString('base64url');
}

/**
 * Returns the cursor of a token issued by {@link encodePageToken} for the same fingerprint.
 * Callers handle the empty token (= first page) before calling; an empty string here is a bug.
 * Throws InvalidArgumentError on `page_token` when the token is malformed, from another
 * format version, or was issued for a different query.
 */
export function decodePageToken(token: string, fingerprint: string): Record<string, string | number> {
  if (token === '') throw new Error('decodePageToken: an empty page_token means "first page"; check for it before decoding');
  const malformed = InvalidArgumentError.field(
    'page_token',
    'is malformed; pass the next_page_token of a previous response unchanged, or omit it to start from the first page',
  );
  // Buffer.from(…, 'base64url') silently skips invalid characters, so check the alphabet first.
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw malformed;

  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw malformed;
  }
  if (!isPlainObject(payload)) throw malformed;
  if (payload.v !== TOKEN_VERSION) {
    throw InvalidArgumentError.field(
      'page_token',
      'was issued by an incompatible version of this API; repeat the request without page_token to start from the first page',
    );
  }
  const { f, c } = payload;
  if (typeof f !== 'string' || !isPlainObject(c) || !Object.values(c).every(isCursorValue)) throw malformed;
  if (f !== fingerprint) {
    throw InvalidArgumentError.field(
      'page_token',
      'belongs to a different query; filter, order_by and parent must stay the same across pages (page_size may change); ' +
        'repeat the request without page_token to start over',
    );
  }
  return c as Record<string, string | number>;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

/**
 * AIP-158 page size: 0 → default (50, or max if smaller), above max (1000) → max,
 * negative → INVALID_ARGUMENT on `page_size`.
 * A non-integer is also rejected (proto int32 cannot produce one, but JSON callers of helpers can).
 */
export function resolvePageSize(pageSize: number, opts: { default?: number; max?: number } = {}): number {
  const max = opts.max ?? MAX_PAGE_SIZE;
  const def = opts.default ?? Math.min(DEFAULT_PAGE_SIZE, max);
  if (!Number.isInteger(max) || max < 1 || !Number.isInteger(def) || def < 1 || def > max) {
    throw new RangeError(`resolvePageSize: need integers 1 <= default <= max, got default=${opts.default} max=${opts.max}`);
  }
  if (!Number.isInteger(pageSize)) throw InvalidArgumentError.field('page_size', `must be an integer, got ${pageSize}`);
  if (pageSize < 0) throw InvalidArgumentError.field('page_size', `must not be negative, got ${pageSize}`);
  if (pageSize === 0) return def;
  return Math.min(pageSize, max);
}

function isCursorValue(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The page and the token for the next one, from a keyset query that fetched `limit + 1`
 * rows: the extra row only tells that more exist, without a COUNT.
 */
export function keysetPage<T>(
  rows: readonly T[],
  limit: number,
  fingerprint: string,
  cursorOf: (last: T) => Record<string, string | number>,
  /** Rows were left out of `rows` for another reason (a size budget): more follow regardless. */
  cutShort = false,
): { items: T[]; nextPageToken: string } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const more = rows.length > limit || cutShort;
  return { items, nextPageToken: more && last !== undefined ? encodePageToken(fingerprint, cursorOf(last)) : '' };
}
