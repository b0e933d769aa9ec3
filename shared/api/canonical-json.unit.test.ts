import { canonicalJson } from './canonical-json';

describe('canonicalJson', () => {
  it('sorts keys recursively and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('is independent of key insertion order', () => {
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it('drops undefined members but keeps array positions as null', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([1, undefined, 2])).toBe('[1,null,2]');
    expect(canonicalJson(undefined)).toBe('null');
  });

  it('converts Date, bigint and bytes', () => {
    expect(canonicalJson({ t: new Date('2026-01-02T03:04:05.006Z') })).toBe('{"t":"2026-01-02T03:04:05.006Z"}');
    expect(canonicalJson({ n: 9007199254740993n })).toBe('{"n":"9007199254740993"}');
    expect(canonicalJson(new Uint8Array([1, 2, 255]))).toBe('"AQL/"');
  });

  it('escapes strings and keys like JSON', () => {
    expect(canonicalJson({ 'k"\n': 'v"\\' })).toBe('{"k\\"\\n":"v\\"\\\\"}');
  });

  it('rejects values JSON would silently mangle', () => {
    expect(() => canonicalJson({ a: NaN })).toThrow('canonicalJson: value.a is NaN, which has no JSON form');
    expect(() => canonicalJson([Infinity])).toThrow('canonicalJson: value[0] is Infinity, which has no JSON form');
    expect(() => canonicalJson({ f: () => 1 })).toThrow('canonicalJson: value.f is a function, which has no JSON form');
    expect(() => canonicalJson(Symbol('s'))).toThrow('canonicalJson: value is a symbol, which has no JSON form');
    expect(() => canonicalJson({ d: new Date('nope') })).toThrow('canonicalJson: value.d is an invalid Date');
    expect(() => canonicalJson({ m: new Map() })).toThrow('canonicalJson: value.m is a Map; convert it to an object or array first');
    expect(() => canonicalJson(new Set())).toThrow('canonicalJson: value is a Set; convert it to an object or array first');
  });

  it('rejects cycles but allows shared (non-circular) references', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => canonicalJson(a)).toThrow('canonicalJson: value.self is a circular reference');
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});
