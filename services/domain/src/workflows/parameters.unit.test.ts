import type { JsonObject } from '@bufbuild/protobuf';
import { FailedPreconditionError } from '../../../../shared/errors/app-error';
import {
  clearParametersSchemaCache,
  compileParametersSchema,
  MAX_PARAMETER_VIOLATIONS,
  parametersSchemaCacheSize,
  validateRunParameters,
} from './parameters';

const schema: JsonObject = {
  type: 'object',
  required: ['city'],
  properties: {
    city: { type: 'string', minLength: 2 },
    days: { type: 'integer', minimum: 1, maximum: 14 },
    units: { enum: ['metric', 'imperial'] },
    when: { type: 'string', format: 'date-time' },
    contact: { type: 'string', format: 'email' },
    callback: { type: 'string', format: 'uri' },
    cities: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } },
    matrix: { type: 'array', items: { type: 'array', items: { type: 'number' } } },
    odd: { type: 'object', properties: { 'a/b': { type: 'string' }, 'x~y': { type: 'string' }, '0': { type: 'string' } } },
  },
  additionalProperties: false,
};

describe('validateRunParameters', () => {
  beforeEach(() => clearParametersSchemaCache());

  it('accepts valid parameters', () => {
    expect(
      validateRunParameters(schema, {
        city: 'Oslo',
        days: 3,
        units: 'metric',
        when: '2026-01-02T03:04:05Z',
        contact: 'a@example.com',
        callback: 'https://example.com/cb',
        cities: [{ name: 'Bergen' }],
        matrix: [[1, 2.5]],
        odd: { 'a/b': 'x', 'x~y': 'y', '0': 'z' },
      }),
    ).toEqual([]);
  });

  it('an empty schema accepts any object', () => {
    expect(validateRunParameters({}, { anything: [1, { x: null }] })).toEqual([]);
  });

  it.each<[string, JsonObject, { field: string; description: string }[]]>([
    ['required', {}, [{ field: 'parameters.city', description: 'is required' }]],
    ['type', { city: 5 }, [{ field: 'parameters.city', description: 'must be string' }]],
    ['minLength', { city: 'O' }, [{ field: 'parameters.city', description: 'must NOT have fewer than 2 characters' }]],
    ['integer', { city: 'Oslo', days: 1.5 }, [{ field: 'parameters.days', description: 'must be integer' }]],
    ['maximum', { city: 'Oslo', days: 15 }, [{ field: 'parameters.days', description: 'must be <= 14' }]],
    ['enum', { city: 'Oslo', units: 'kelvin' }, [{ field: 'parameters.units', description: 'must be equal to one of the allowed values: "metric", "imperial"' }]],
    ['format date-time', { city: 'Oslo', when: 'tomorrow' }, [{ field: 'parameters.when', description: 'must match format "date-time"' }]],
    ['format email', { city: 'Oslo', contact: 'nobody' }, [{ field: 'parameters.contact', description: 'must match format "email"' }]],
    ['format uri', { city: 'Oslo', callback: 'not a uri' }, [{ field: 'parameters.callback', description: 'must match format "uri"' }]],
    ['additionalProperties', { city: 'Oslo', extra: 1 }, [{ field: 'parameters.extra', description: 'is not an allowed property' }]],
    ['nested required in array item', { city: 'Oslo', cities: [{ name: 'A' }, {}] }, [{ field: 'parameters.cities[1].name', description: 'is required' }]],
    ['nested type in array item', { city: 'Oslo', cities: [{ name: 7 }] }, [{ field: 'parameters.cities[0].name', description: 'must be string' }]],
    ['array of arrays', { city: 'Oslo', matrix: [[1], [2, 'x']] }, [{ field: 'parameters.matrix[1][1]', description: 'must be number' }]],
    ['escaped pointer tokens', { city: 'Oslo', odd: { 'a/b': 1, 'x~y': 2 } }, [
      { field: 'parameters.odd.`a/b`', description: 'must be string' },
      { field: 'parameters.odd.`x~y`', description: 'must be string' },
    ]],
    ['an object member named 0 is a key, not an index', { city: 'Oslo', odd: { '0': 1 } }, [{ field: 'parameters.odd.`0`', description: 'must be string' }]],
  ])('%s', (_name, params, violations) => {
    expect(validateRunParameters(schema, params)).toEqual(violations);
  });

  it('reports every problem at once, under the given field', () => {
    expect(validateRunParameters(schema, { days: 0, units: 1 }, 'request.parameters')).toEqual([
      { field: 'request.parameters.city', description: 'is required' },
      { field: 'request.parameters.days', description: 'must be >= 1' },
      { field: 'request.parameters.units', description: 'must be equal to one of the allowed values: "metric", "imperial"' },
    ]);
  });

  it('dependentRequired and unevaluatedProperties name the member', () => {
    const s: JsonObject = {
      type: 'object',
      properties: { card: { type: 'string' }, billing: { type: 'string' } },
      dependentRequired: { card: ['billing'] },
      unevaluatedProperties: false,
    };
    expect(validateRunParameters(s, { card: 'x', other: 1 })).toEqual([
      { field: 'parameters.billing', description: 'is required when "card" is present' },
      { field: 'parameters.other', description: 'is not an allowed property' },
    ]);
  });

  it('caps the number of violations', () => {
    const s: JsonObject = { type: 'object', properties: { list: { type: 'array', items: { type: 'string' } } } };
    const violations = validateRunParameters(s, { list: Array.from({ length: 150 }, (_, i) => i) });
    expect(violations).toHaveLength(MAX_PARAMETER_VIOLATIONS + 1);
    expect(violations[0]).toEqual({ field: 'parameters.list[0]', description: 'must be string' });
    expect(violations[MAX_PARAMETER_VIOLATIONS]).toEqual({ field: 'parameters', description: '50 more violations not shown' });
  });

  it('a schema that does not compile is the definition at fault: FailedPreconditionError', () => {
    expect(() => validateRunParameters({ type: 'strin' }, {})).toThrow(FailedPreconditionError);
  });

  it('does not change the parameters (no defaults, no coercion)', () => {
    const s: JsonObject = { type: 'object', properties: { n: { type: 'number', default: 5 }, s: { type: 'string' } } };
    const params: JsonObject = { s: 'x' };
    expect(validateRunParameters(s, params)).toEqual([]);
    expect(params).toEqual({ s: 'x' });
    expect(validateRunParameters(s, { n: '5' })).toEqual([{ field: 'parameters.n', description: 'must be number' }]);
  });
});

describe('compileParametersSchema', () => {
  beforeEach(() => clearParametersSchemaCache());

  it('caches by canonical JSON: key order does not matter', () => {
    const a = compileParametersSchema({ type: 'object', properties: { x: { type: 'string', minLength: 1 } } });
    const b = compileParametersSchema({ properties: { x: { minLength: 1, type: 'string' } }, type: 'object' });
    expect(b).toBe(a);
    expect(parametersSchemaCacheSize()).toBe(1);
  });

  it('the cache is bounded', () => {
    for (let i = 0; i < 300; i += 1) compileParametersSchema({ type: 'object', properties: { [`p${i}`]: { type: 'string' } } });
    expect(parametersSchemaCacheSize()).toBe(256);
  });

  it('two schemas may use the same $id (compiled schemas are not kept in the shared Ajv)', () => {
    const a = compileParametersSchema({ $id: 'https://example.com/p', type: 'object', required: ['a'] });
    const b = compileParametersSchema({ $id: 'https://example.com/p', type: 'object', required: ['b'] });
    expect(a.ok && b.ok).toBe(true);
    expect(validateRunParameters({ $id: 'https://example.com/p', type: 'object', required: ['b'] }, { a: 1 })).toEqual([
      { field: 'parameters.b', description: 'is required' },
    ]);
  });

  it('one schema cannot $ref another one compiled earlier', () => {
    compileParametersSchema({ $id: 'https://example.com/other', type: 'object' });
    expect(compileParametersSchema({ $ref: 'https://example.com/other' })).toEqual({
      ok: false,
      error: "can't resolve reference https://example.com/other from id #",
    });
  });

  it('internal $ref and $defs work, recursion included', () => {
    const s: JsonObject = {
      type: 'object',
      properties: { tree: { $ref: '#/$defs/node' } },
      $defs: { node: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } }, v: { type: 'integer' } } } },
    };
    expect(validateRunParameters(s, { tree: { children: [{ v: 1 }, { children: [{ v: 'x' }] }] } })).toEqual([
      { field: 'parameters.tree.children[1].children[0].v', description: 'must be integer' },
    ]);
  });

  it('unknown keywords and unknown formats are allowed (annotations)', () => {
    const c = compileParametersSchema({ type: 'object', 'x-ui': { widget: 'map' }, properties: { p: { type: 'string', format: 'phone' } } });
    expect(c.ok).toBe(true);
  });

  it('a schema without a JSON form (NaN) is rejected, not thrown', () => {
    expect(compileParametersSchema({ type: 'number', maximum: Number.NaN })).toEqual({ ok: false, error: 'canonicalJson: value.maximum is NaN, which has no JSON form' });
  });

  it.each<[string, JsonObject, string]>([
    ['bad type value', { type: 'strin' }, 'at /type: must be equal to one of the allowed values'],
    ['bad nested value', { properties: { a: { minLength: -1 } } }, 'at /properties/a/minLength: must be >= 0'],
    ['several locations', { properties: 5, required: 'a' }, 'at /properties: must be object; at /required: must be array'],
    ['unresolvable $ref', { $ref: '#/$defs/nope' }, "can't resolve reference #/$defs/nope from id #"],
    ['other draft', { $schema: 'http://json-schema.org/draft-07/schema#' }, 'no schema with key or ref "http://json-schema.org/draft-07/schema#"'],
    ['bad regex', { properties: { a: { pattern: '(' } } }, 'Invalid regular expression: /(/u: Unterminated group'],
    ['$async', { $async: true, type: 'object' }, '"$async" schemas are not supported'],
  ])('rejects %s', (_name, s, error) => {
    expect(compileParametersSchema(s)).toEqual({ ok: false, error });
  });
});
