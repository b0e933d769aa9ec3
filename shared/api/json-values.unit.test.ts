import { jsonValueViolations } from './json-values';

describe('jsonValueViolations', () => {
  it('accepts ordinary JSON', () => {
    expect(jsonValueViolations({ a: [1, 'x', null, true, { b: 2.5 }] }, 'parameters')).toEqual([]);
  });

  it('names NUL characters in values and keys, and non-finite numbers, by path', () => {
    expect(jsonValueViolations({ a: ['ok', 'x\u0000y'], 'k\u0000': 1, n: { m: NaN }, i: -Infinity }, 'p')).toEqual([
      { field: 'p.a[1]', description: 'contains a NUL character (U+0000), which cannot be stored' },
      { field: 'p', description: 'has a key containing a NUL character (U+0000)' },
      { field: 'p.n.m', description: 'is NaN; JSON numbers must be finite' },
      { field: 'p.i', description: 'is -Infinity; JSON numbers must be finite' },
    ]);
  });

  it('stops after 20 violations', () => {
    expect(jsonValueViolations(Array.from({ length: 50 }, () => NaN), 'p')).toHaveLength(20);
  });
});
