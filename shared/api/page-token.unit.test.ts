import { InvalidArgumentError } from '../errors/app-error';
import { decodePageToken, encodePageToken, queryFingerprint, resolvePageSize } from './page-token';

const MALFORMED =
  'page_token: is malformed; pass the next_page_token of a previous response unchanged, or omit it to start from the first page';

describe('queryFingerprint', () => {
  it('is stable across key order and ignores page_size / page_token', () => {
    const a = queryFingerprint({ filter: 'seq > 5', order_by: 'seq desc', parent: '' });
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(queryFingerprint({ parent: '', order_by: 'seq desc', filter: 'seq > 5', page_size: 10, page_token: 'x' })).toBe(a);
    expect(queryFingerprint({ parent: '', order_by: 'seq desc', filter: 'seq > 5', pageSize: 99 })).toBe(a);
  });

  it('differs when the query differs', () => {
    expect(queryFingerprint({ filter: 'seq > 5' })).not.toBe(queryFingerprint({ filter: 'seq > 6' }));
    expect(queryFingerprint({ order_by: 'seq' })).not.toBe(queryFingerprint({ order_by: 'seq desc' }));
  });

  it('accepts parsed values (bigint, Date)', () => {
    expect(queryFingerprint({ filter: [{ v: 5n, t: new Date(0) }] })).toBe(queryFingerprint({ filter: [{ t: new Date(0), v: 5n }] }));
  });
});

describe('encodePageToken / decodePageToken', () => {
  const fp = queryFingerprint({ filter: 'seq > 5' });

  it('round-trips the cursor', () => {
    const token = encodePageToken(fp, { seq: '9007199254740993', n: 3 });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePageToken(token, fp)).toEqual({ seq: '9007199254740993', n: 3 });
  });

  it('encodes {v:1,f,c} as base64url JSON', () => {
    const token = encodePageToken('fp', { seq: 1 });
    expect(JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))).toEqual({ v: 1, f: 'fp', c: { seq: 1 } });
  });

  it('rejects non-string/number cursor values when encoding (programming error)', () => {
    expect(() => encodePageToken(fp, { seq: NaN })).toThrow('encodePageToken: cursor.seq must be a string or finite number');
    expect(() => encodePageToken(fp, { seq: 1n } as unknown as Record<string, number>)).toThrow(TypeError);
  });

  it('refuses an empty token (the caller must treat it as "first page")', () => {
    expect(() => decodePageToken('', fp)).toThrow('decodePageToken: an empty page_token means "first page"');
  });

  const raw = (payload: unknown): string => Buffer.from(JSON.stringify(payload)).toString('base64url');

  it.each([
    ['not base64url', 'abc$%^'],
    ['padding / standard base64 chars', 'eyJ2IjoxfQ=='],
    ['too long', 'A'.repeat(4097)],
    ['not JSON', Buffer.from('hello').toString('base64url')],
    ['JSON but not an object', raw([1, 2])],
    ['JSON null', raw(null)],
    ['missing fingerprint', raw({ v: 1, c: { seq: 1 } })],
    ['cursor is not an object', raw({ v: 1, f: 'x', c: 'seq' })],
    ['cursor value is an object', raw({ v: 1, f: 'x', c: { seq: { $gt: 1 } } })],
  ])('rejects a malformed token: %s', (_name, token) => {
    expectInvalid(() => decodePageToken(token, 'x'), 'page_token', MALFORMED);
  });

  it('rejects another version with its own message', () => {
    expectInvalid(
      () => decodePageToken(raw({ v: 2, f: fp, c: { seq: 1 } }), fp),
      'page_token',
      'page_token: was issued by an incompatible version of this API; repeat the request without page_token to start from the first page',
    );
  });

  it('rejects a token issued for a different query', () => {
    const other = encodePageToken(queryFingerprint({ filter: 'seq > 6' }), { seq: 1 });
    expectInvalid(
      () => decodePageToken(other, fp),
      'page_token',
      'page_token: belongs to a different query; filter, order_by and parent must stay the same across pages ' +
        '(page_size may change); repeat the request without page_token to start over',
    );
  });
});

describe('resolvePageSize', () => {
  it.each([
    [0, undefined, 50],
    [1, undefined, 1],
    [50, undefined, 50],
    [1000, undefined, 1000],
    [1001, undefined, 1000],
    [2147483647, undefined, 1000],
    [0, { default: 10 }, 10],
    [0, { max: 20 }, 20],
    [30, { max: 20 }, 20],
    [0, { default: 5, max: 20 }, 5],
  ])('resolvePageSize(%j, %j) = %j', (size, opts, expected) => {
    expect(resolvePageSize(size, opts)).toBe(expected);
  });

  it('rejects a negative size', () => {
    expectInvalid(() => resolvePageSize(-1), 'page_size', 'page_size: must not be negative, got -1');
  });

  it('rejects a non-integer size', () => {
    expectInvalid(() => resolvePageSize(1.5), 'page_size', 'page_size: must be an integer, got 1.5');
    expectInvalid(() => resolvePageSize(NaN), 'page_size', 'page_size: must be an integer, got NaN');
  });

  it('treats inconsistent options as a programming error', () => {
    expect(() => resolvePageSize(0, { default: 100, max: 10 })).toThrow(
      'resolvePageSize: need integers 1 <= default <= max, got default=100 max=10',
    );
    expect(() => resolvePageSize(0, { max: 0 })).toThrow(RangeError);
  });
});

function expectInvalid(fn: () => unknown, field: string, message: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect((error as InvalidArgumentError).violations[0]?.field).toBe(field);
  expect((error as Error).message).toBe(message);
}
