import { InvalidArgumentError } from '../errors/app-error';
import { parseOrderBy } from './order-by';

const allowed = { seq: 'seq', occur_time: 'occur_time_utc' };
const byDefault = { field: 'seq', desc: false };

describe('parseOrderBy', () => {
  it.each([
    ['', { field: 'seq', column: 'seq', desc: false }],
    ['   ', { field: 'seq', column: 'seq', desc: false }],
    ['seq', { field: 'seq', column: 'seq', desc: false }],
    ['seq asc', { field: 'seq', column: 'seq', desc: false }],
    ['seq desc', { field: 'seq', column: 'seq', desc: true }],
    ['  seq   DESC ', { field: 'seq', column: 'seq', desc: true }],
    ['occur_time desc', { field: 'occur_time', column: 'occur_time_utc', desc: true }],
  ])('parses %j', (text, expected) => {
    expect(parseOrderBy(text, allowed, byDefault)).toEqual(expected);
  });

  it('uses the default direction for empty text', () => {
    expect(parseOrderBy('', allowed, { field: 'occur_time', desc: true })).toEqual({
      field: 'occur_time',
      column: 'occur_time_utc',
      desc: true,
    });
  });

  it.each([
    ['seq, occur_time', 'order_by: only one field is supported, got 2 in "seq, occur_time"; allowed fields: occur_time, seq'],
    ['seq desc,', 'order_by: only one field is supported, got 2 in "seq desc,"; allowed fields: occur_time, seq'],
    ['colour', 'order_by: unknown field "colour"; allowed: occur_time, seq'],
    ['Seq', 'order_by: unknown field "Seq"; allowed: occur_time, seq'],
    ['constructor', 'order_by: unknown field "constructor"; allowed: occur_time, seq'],
    ['seq descending', 'order_by: expected "asc" or "desc" after "seq", got "descending"'],
    ['seq desc occur_time', 'order_by: unexpected "occur_time" after "seq desc"; only one field is supported'],
    ['x'.repeat(201), 'order_by: is 201 characters long; the maximum is 200'],
  ])('rejects %j', (text, message) => {
    const error = catchError(() => parseOrderBy(text, allowed, byDefault));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).violations[0]?.field).toBe('order_by');
    expect((error as Error).message).toBe(message);
  });

  it('treats a default field missing from allowed as a programming error', () => {
    expect(() => parseOrderBy('', allowed, { field: 'nope', desc: false })).toThrow(
      'parseOrderBy: default field "nope" is not in allowed',
    );
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
