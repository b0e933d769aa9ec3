import type { JsonObject } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '../../../../shared/errors/app-error';
import { appendFieldKey, collectTemplateRefs, formatTemplateRef, parseTemplateRefs, renderTemplate, TemplateRenderError, type TemplateScope } from './template';

const P = 'workflow_definition.steps[1].arguments';

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('parseTemplateRefs', () => {
  it.each([
    ['${params}', { kind: 'params', path: [] }],
    ['${params.city}', { kind: 'params', path: ['city'] }],
    ['${params.cities[0].name}', { kind: 'params', path: ['cities', 0, 'name'] }],
    ['${params.a-b_c.D9}', { kind: 'params', path: ['a-b_c', 'D9'] }],
    ['${params.m[10][2]}', { kind: 'params', path: ['m', 10, 2] }],
    ['${steps.fetch.output}', { kind: 'steps', stepId: 'fetch', path: [] }],
    ['${steps.fetch.output.temperature}', { kind: 'steps', stepId: 'fetch', path: ['temperature'] }],
    ['${steps.fetch.output[0].items[3]}', { kind: 'steps', stepId: 'fetch', path: [0, 'items', 3] }],
  ])('parses %s', (text, ref) => {
    expect(parseTemplateRefs({ x: text }, P)).toEqual([{ ref, field: `${P}.x` }]);
    expect(formatTemplateRef(ref as never)).toBe(text);
  });

  it('finds references at any depth, with field paths, in order', () => {
    const args: JsonObject = {
      city: '${params.city}',
      nested: { list: ['plain', 'a ${params.a} and ${steps.s1.output.b}', { deep: '${steps.s2.output}' }] },
      'odd key': '${params.k}',
      n: 5,
      b: true,
      z: null,
    };
    expect(parseTemplateRefs(args, P)).toEqual([
      { ref: { kind: 'params', path: ['city'] }, field: `${P}.city` },
      { ref: { kind: 'params', path: ['a'] }, field: `${P}.nested.list[1]` },
      { ref: { kind: 'steps', stepId: 's1', path: ['b'] }, field: `${P}.nested.list[1]` },
      { ref: { kind: 'steps', stepId: 's2', path: [] }, field: `${P}.nested.list[2].deep` },
      { ref: { kind: 'params', path: ['k'] }, field: `${P}.\`odd key\`` },
    ]);
  });

  it('treats object keys as plain text and escapes as literals', () => {
    expect(parseTemplateRefs({ '${params.x}': 'v', e: '$${params.x}', d: 'costs $5 }' }, P)).toEqual([]);
  });

  it.each([
    ['${params.city', 'unterminated reference "${params.city" (missing "}"; write "$${" for a literal "${")'],
    ['ok ${params.a} then ${', 'unterminated reference "${" (missing "}"; write "$${" for a literal "${")'],
    ['${env.X}', 'unknown reference root "env" in "${env.X}" (expected "params" or "steps")'],
    ['${paramsx}', 'unknown reference root "paramsx" in "${paramsx}" (expected "params" or "steps")'],
    ['${}', 'empty reference "${}"'],
    ['${ params.x}', 'invalid reference "${ params.x}": expected "params" or "steps" at the start'],
    ['${steps.fetch}', 'step reference "${steps.fetch}" must have the form ${steps.<step id>.output…}'],
    ['${steps}', 'step reference "${steps}" must have the form ${steps.<step id>.output…}'],
    ['${steps.fetch.result}', 'step reference "${steps.fetch.result}" must have the form ${steps.<step id>.output…}'],
    ['${steps..output}', 'empty path segment in "${steps..output}"'],
    ['${params..x}', 'empty path segment in "${params..x}"'],
    ['${params.x.}', 'empty path segment in "${params.x.}"'],
    ['${steps.a.output.}', 'empty path segment in "${steps.a.output.}"'],
    ['${params.x[]}', 'empty path segment "[]" in "${params.x[]}"'],
    ['${params.x[-1]}', 'invalid index "[-1]" in "${params.x[-1]}" (expected a non-negative integer)'],
    ['${params.x[01]}', 'invalid index "[01]" in "${params.x[01]}" (expected a non-negative integer)'],
    ['${params.x[0}', 'unterminated index in "${params.x[0}" (missing "]")'],
    ['${params.x y}', 'invalid character " " in "${params.x y}"'],
    ['${params.x.$y}', 'invalid character "$" in "${params.x.$y}"'],
    ['${params[0]}', 'invalid reference "${params[0]}": parameters are an object; use ${params.<name>}'],
  ])('rejects %s', (text, description) => {
    const error = catchError(() => parseTemplateRefs({ a: [text] }, P));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).violations).toEqual([{ field: `${P}.a[0]`, description }]);
  });

  it('collects every syntax error and the good references beside them', () => {
    const { refs, violations } = collectTemplateRefs({ a: '${env.A}', b: '${params.b}', c: { d: '${steps.x}' } }, P);
    expect(refs).toEqual([{ ref: { kind: 'params', path: ['b'] }, field: `${P}.b` }]);
    expect(violations.map((x) => x.field)).toEqual([`${P}.a`, `${P}.c.d`]);
  });
});

describe('appendFieldKey', () => {
  it.each([
    ['city', 'args.city'],
    ['_a1', 'args._a1'],
    ['a.b', 'args.`a.b`'],
    ['1a', 'args.`1a`'],
    ['we`ird', 'args.`we``ird`'],
  ])('%s', (key, path) => expect(appendFieldKey('args', key)).toBe(path));
});

describe('renderTemplate', () => {
  const scope: TemplateScope = {
    params: { city: 'Oslo', days: 3, ratio: 0.5, flag: false, none: null, cities: [{ name: 'Oslo' }, { name: 'Bergen' }], opts: { units: 'metric' } },
    steps: {
      fetch: { output: { temperature: 21.5, tags: ['a', 'b'], summary: 'sunny', obj: { k: 1 } } },
      list: { output: [1, 2, 3] },
      nothing: { output: null },
    },
  };

  it('a string that is exactly one reference keeps the JSON type', () => {
    expect(
      renderTemplate(
        {
          s: '${params.city}',
          n: '${params.days}',
          f: '${params.ratio}',
          b: '${params.flag}',
          z: '${params.none}',
          o: '${params.opts}',
          a: '${steps.fetch.output.tags}',
          whole: '${steps.list.output}',
          nul: '${steps.nothing.output}',
          idx: '${params.cities[1].name}',
          all: '${params}',
        },
        scope,
      ),
    ).toEqual({
      s: 'Oslo',
      n: 3,
      f: 0.5,
      b: false,
      z: null,
      o: { units: 'metric' },
      a: ['a', 'b'],
      whole: [1, 2, 3],
      nul: null,
      idx: 'Bergen',
      all: scope.params,
    });
  });

  it('embedded references are stringified: strings as-is, other values as JSON', () => {
    expect(
      renderTemplate(
        {
          t: 'Weather in ${params.city} for ${params.days} days: ${steps.fetch.output.temperature}°C',
          j: 'tags=${steps.fetch.output.tags} obj=${steps.fetch.output.obj} none=${params.none} flag=${params.flag}',
          two: '${params.city}${params.days}',
          spaced: ' ${params.days}',
        },
        scope,
      ),
    ).toEqual({
      t: 'Weather in Oslo for 3 days: 21.5°C',
      j: 'tags=["a","b"] obj={"k":1} none=null flag=false',
      two: 'Oslo3',
      spaced: ' 3',
    });
  });

  it('renders nested objects and arrays, leaves non-strings alone', () => {
    expect(renderTemplate({ a: [{ b: '${params.days}' }, 'x', 1, null, true], c: { d: { e: '${steps.fetch.output.summary}' } } }, scope)).toEqual({
      a: [{ b: 3 }, 'x', 1, null, true],
      c: { d: { e: 'sunny' } },
    });
  });

  it('$${ escapes a literal ${', () => {
    expect(
      renderTemplate({ a: '$${params.city}', b: 'cost: $${x} and ${params.city}', c: '$$${params.city}', d: 'price $5 }', e: '$${' }, scope),
    ).toEqual({ a: '${params.city}', b: 'cost: ${x} and Oslo', c: '$${params.city}', d: 'price $5 }', e: '${' });
  });

  it('never aliases the scope or the template', () => {
    const args = { o: '${params.opts}', k: { fixed: 1 } };
    const out = renderTemplate(args, scope);
    (out.o as JsonObject).units = 'imperial';
    (out.k as JsonObject).fixed = 2;
    expect((scope.params as JsonObject).opts).toEqual({ units: 'metric' });
    expect(args.k.fixed).toBe(1);
  });

  it('keeps a "__proto__" key as data', () => {
    const args = JSON.parse('{"__proto__": "${params.city}"}') as JsonObject;
    const out = renderTemplate(args, scope);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(out['__proto__']).toBe('Oslo');
  });

  it.each([
    ['${params.missing}', '"${params.missing}" resolves to nothing: params has no member "missing"'],
    ['${params.opts.size}', '"${params.opts.size}" resolves to nothing: params.opts has no member "size"'],
    ['${params.city.x}', '"${params.city.x}" resolves to nothing: params.city is a string, not an object'],
    ['${params.cities.x}', '"${params.cities.x}" resolves to nothing: params.cities is an array, not an object'],
    ['${params.cities[2].name}', '"${params.cities[2].name}" resolves to nothing: params.cities has 2 items, no index 2'],
    ['${params.opts[0]}', '"${params.opts[0]}" resolves to nothing: params.opts is an object, not an array'],
    ['${params.none.x}', '"${params.none.x}" resolves to nothing: params.none is null, not an object'],
    ['${params.constructor}', '"${params.constructor}" resolves to nothing: params has no member "constructor"'],
    ['${steps.later.output}', '"${steps.later.output}" resolves to nothing: step "later" has no output'],
    ['${steps.toString.output}', '"${steps.toString.output}" resolves to nothing: step "toString" has no output'],
    ['${steps.fetch.output.wind}', '"${steps.fetch.output.wind}" resolves to nothing: steps.fetch.output has no member "wind"'],
    ['${steps.list.output[3]}', '"${steps.list.output[3]}" resolves to nothing: steps.list.output has 3 items, no index 3'],
  ])('%s → TemplateRenderError naming the reference', (ref, description) => {
    const error = catchError(() => renderTemplate({ x: { y: [`text ${ref}`] } }, scope));
    expect(error).toBeInstanceOf(TemplateRenderError);
    const e = error as TemplateRenderError;
    expect(e.field).toBe('arguments.x.y[0]');
    expect(e.ref).toBe(ref);
    expect(e.reason).toBe('unresolved');
    expect(e.message).toBe(`arguments.x.y[0]: ${description}`);
  });

  it('a syntax error found while rendering is a TemplateRenderError too, with the caller-given path', () => {
    const error = catchError(() => renderTemplate({ x: '${env.HOME}' }, scope, 'steps[2].arguments')) as TemplateRenderError;
    expect(error).toBeInstanceOf(TemplateRenderError);
    expect(error).toMatchObject({ field: 'steps[2].arguments.x', ref: '${env.HOME}', reason: 'syntax' });
    expect(error.message).toBe('steps[2].arguments.x: unknown reference root "env" in "${env.HOME}" (expected "params" or "steps")');
  });
});
