import type { JsonObject } from '@bufbuild/protobuf';
import { DEFAULT_RETRY_POLICY, DEFAULT_RUN_TIMEOUT_MS, DEFAULT_STEP_TIMEOUT_MS, type WorkflowDefinitionInput, type WorkflowStep } from './workflow-definition';
import { ancestors, formatDuration, topologicalOrder, validateWorkflowDefinitionInput, type McpDefinitionTools, type WorkflowRulesContext } from './workflow-rules';

const P = 'workflow_definition';

const known = new Map<string, McpDefinitionTools>([
  ['io.github.acme/weather', { tools: [{ name: 'get_forecast' }, { name: 'get_alerts' }] }],
  ['io.github.acme/anything', { tools: [] }],
]);

function step(id: string, over: Partial<WorkflowStep> = {}): WorkflowStep {
  return {
    id,
    mcpDefinition: 'io.github.acme/weather',
    tool: 'get_forecast',
    arguments: {},
    dependsOn: [],
    retryPolicy: DEFAULT_RETRY_POLICY,
    timeoutMs: DEFAULT_STEP_TIMEOUT_MS,
    ...over,
  };
}

function def(over: Partial<WorkflowDefinitionInput> = {}): WorkflowDefinitionInput {
  return {
    name: 'daily-weather',
    description: 'Fetch and summarise',
    parametersSchema: { type: 'object', properties: { city: { type: 'string' }, cities: { type: 'array' } } },
    steps: [step('fetch', { arguments: { city: '${params.city}' } }), step('summarise', { dependsOn: ['fetch'], arguments: { t: '${steps.fetch.output.temp}' } })],
    runTimeoutMs: DEFAULT_RUN_TIMEOUT_MS,
    ...over,
  };
}

function validate(input: WorkflowDefinitionInput, over: Partial<WorkflowRulesContext> = {}) {
  return validateWorkflowDefinitionInput(input, { prefix: P, knownMcpDefinitions: known, ...over });
}

/** The default definition with these steps instead. */
function withSteps(...steps: WorkflowStep[]): WorkflowDefinitionInput {
  return def({ steps });
}

describe('validateWorkflowDefinitionInput', () => {
  it('accepts a valid definition', () => {
    expect(validate(def())).toEqual([]);
  });

  it('uses no prefix when the prefix is empty', () => {
    expect(validate(def({ name: '' }), { prefix: '' })).toEqual([{ field: 'name', description: 'is required' }]);
  });

  describe('name (create only)', () => {
    it.each(['a', 'daily-weather-2', `a${'b'.repeat(62)}`])('accepts %s', (name) => {
      expect(validate(def({ name }))).toEqual([]);
    });

    it.each([
      ['', 'is required'],
      ['Daily', '"Daily" must match ^[a-z][a-z0-9-]{0,62}$ (a lowercase letter, then up to 62 lowercase letters, digits or hyphens)'],
      ['1abc', '"1abc" must match ^[a-z][a-z0-9-]{0,62}$ (a lowercase letter, then up to 62 lowercase letters, digits or hyphens)'],
      ['a_b', '"a_b" must match ^[a-z][a-z0-9-]{0,62}$ (a lowercase letter, then up to 62 lowercase letters, digits or hyphens)'],
      [`a${'b'.repeat(63)}`, `"a${'b'.repeat(63)}" must match ^[a-z][a-z0-9-]{0,62}$ (a lowercase letter, then up to 62 lowercase letters, digits or hyphens)`],
    ])('rejects %j', (name, description) => {
      expect(validate(def({ name }))).toEqual([{ field: `${P}.name`, description }]);
    });

    it('is not checked on update', () => {
      expect(validate(def({ name: 'Bad Name' }), { fields: ['description'] })).toEqual([]);
    });
  });

  describe('description', () => {
    it('accepts 1000 characters (code points, not UTF-16 units)', () => {
      expect(validate(def({ description: '😀'.repeat(1000) }))).toEqual([]);
    });

    it('rejects 1001 characters', () => {
      expect(validate(def({ description: 'x'.repeat(1001) }))).toEqual([{ field: `${P}.description`, description: 'must be at most 1000 characters (got 1001)' }]);
    });
  });

  describe('parameters_schema', () => {
    it('accepts an empty schema', () => {
      expect(validate(def({ parametersSchema: {}, steps: [step('a', { arguments: { x: '${params.anything.deep}' } })] }))).toEqual([]);
    });

    it('rejects a schema that does not compile', () => {
      expect(validate(def({ parametersSchema: { type: 'object', properties: { city: { type: 'strin' } } } }))).toEqual([
        {
          field: `${P}.parameters_schema`,
          description: 'is not a valid JSON Schema (JSON Schema draft 2020-12): at /properties/city/type: must be equal to one of the allowed values',
        },
      ]);
    });

    it('rejects an unresolvable $ref', () => {
      expect(validate(def({ parametersSchema: { $ref: '#/$defs/x' }, steps: [step('a')] }))).toEqual([
        { field: `${P}.parameters_schema`, description: "is not a valid JSON Schema (JSON Schema draft 2020-12): can't resolve reference #/$defs/x from id #" },
      ]);
    });

    it.each<[JsonObject, string]>([
      [{ type: 'string' }, 'must be "object" (run parameters are always an object), got "string"'],
      [{ type: ['object', 'null'] }, 'must be "object" (run parameters are always an object), got ["object","null"]'],
    ])('rejects top-level type %j', (parametersSchema, description) => {
      expect(validate(def({ parametersSchema, steps: [step('a')] }))).toEqual([{ field: `${P}.parameters_schema.type`, description }]);
    });
  });

  describe('run_timeout', () => {
    it.each([1000, 7 * 24 * 3600 * 1000])('accepts %d ms', (runTimeoutMs) => {
      expect(validate(def({ runTimeoutMs }))).toEqual([]);
    });

    it.each([
      [999, 'must be between 1s and 7d (got 999ms)'],
      [7 * 24 * 3600 * 1000 + 1, 'must be between 1s and 7d (got 604800001ms)'],
      [Number.NaN, 'must be between 1s and 7d (got NaN)'],
    ])('rejects %d ms', (runTimeoutMs, description) => {
      expect(validate(def({ runTimeoutMs }))).toEqual([{ field: `${P}.run_timeout`, description }]);
    });
  });

  describe('steps', () => {
    it('rejects no steps', () => {
      expect(validate(def({ steps: [] }))).toEqual([{ field: `${P}.steps`, description: 'must have at least 1 step' }]);
    });

    it('accepts 100 steps and rejects 101', () => {
      const many = (n: number) => Array.from({ length: n }, (_, i) => step(`s${i}`, { dependsOn: i ? [`s${i - 1}`] : [] }));
      expect(validate(def({ steps: many(100) }))).toEqual([]);
      expect(validate(def({ steps: many(101) }))).toEqual([{ field: `${P}.steps`, description: 'must have at most 100 steps (got 101)' }]);
    });

    describe('id', () => {
      it.each(['a', 'fetch_2', `a${'b'.repeat(62)}`])('accepts %s', (id) => {
        expect(validate(withSteps(step(id)))).toEqual([]);
      });

      it.each([
        ['', 'is required'],
        ['Fetch', '"Fetch" must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then up to 62 lowercase letters, digits or underscores)'],
        ['fetch-1', '"fetch-1" must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then up to 62 lowercase letters, digits or underscores)'],
        ['_a', '"_a" must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then up to 62 lowercase letters, digits or underscores)'],
      ])('rejects %j', (id, description) => {
        expect(validate(withSteps(step('ok'), step(id)))).toEqual([{ field: `${P}.steps[1].id`, description }]);
      });

      it('reports a duplicate on the later step, naming the earlier index', () => {
        expect(validate(withSteps(step('a'), step('b'), step('a'), step('a')))).toEqual([
          { field: `${P}.steps[2].id`, description: 'duplicate step id "a" (already used by steps[0])' },
          { field: `${P}.steps[3].id`, description: 'duplicate step id "a" (already used by steps[0])' },
        ]);
      });
    });

    describe('mcp_definition and tool', () => {
      it('accepts a declared tool, and any tool of a definition that declares none', () => {
        expect(validate(withSteps(step('a', { tool: 'get_alerts' }), step('b', { mcpDefinition: 'io.github.acme/anything', tool: 'whatever.v2-x' })))).toEqual([]);
      });

      it.each<[Partial<WorkflowStep>, { field: string; description: string }]>([
        [{ mcpDefinition: '' }, { field: 'mcp_definition', description: 'is required' }],
        [{ mcpDefinition: 'io.github.acme/nope' }, { field: 'mcp_definition', description: 'unknown MCP definition "io.github.acme/nope"' }],
        [{ tool: '' }, { field: 'tool', description: 'is required' }],
        [{ tool: 'get forecast' }, { field: 'tool', description: '"get forecast" must match ^[a-zA-Z0-9_.-]{1,128}$' }],
        [{ tool: 'x'.repeat(129) }, { field: 'tool', description: `"${'x'.repeat(80)}…" must match ^[a-zA-Z0-9_.-]{1,128}$` }],
        [
          { tool: 'get_history' },
          { field: 'tool', description: 'MCP definition "io.github.acme/weather" declares no tool "get_history" (it declares: get_forecast, get_alerts)' },
        ],
      ])('rejects %j', (over, { field, description }) => {
        expect(validate(withSteps(step('ok'), step('a', over)))).toEqual([{ field: `${P}.steps[1].${field}`, description }]);
      });

      it('does not also complain about the tool when the MCP definition is unknown', () => {
        expect(validate(withSteps(step('a', { mcpDefinition: 'x', tool: 'y' })))).toEqual([{ field: `${P}.steps[0].mcp_definition`, description: 'unknown MCP definition "x"' }]);
      });
    });

    describe('depends_on', () => {
      it.each([
        ['', 'must not be empty'],
        ['fetch', 'references unknown step "fetch"'],
      ])('rejects %j', (dep, description) => {
        expect(validate(withSteps(step('a'), step('b'), step('c', { dependsOn: ['a', dep] })))).toEqual([
          { field: `${P}.steps[2].depends_on[1]`, description },
        ]);
      });

      it('rejects a duplicate entry, naming the first', () => {
        expect(validate(withSteps(step('a'), step('b', { dependsOn: ['a', 'a'] })))).toEqual([
          { field: `${P}.steps[1].depends_on[1]`, description: 'duplicate of depends_on[0] ("a")' },
        ]);
      });

      it('cycle of length 1: a step depending on itself', () => {
        expect(validate(withSteps(step('a'), step('b', { dependsOn: ['a', 'b'] })))).toEqual([
          { field: `${P}.steps[1].depends_on[1]`, description: 'depends on itself (dependency cycle: b → b)' },
        ]);
      });

      it('cycle of length 2', () => {
        expect(validate(withSteps(step('a', { dependsOn: ['b'] }), step('b', { dependsOn: ['a'] })))).toEqual([
          { field: `${P}.steps[0].depends_on[0]`, description: 'dependency cycle: a → b → a' },
        ]);
      });

      it('cycle of length 3, reported from its first-defined step, on the entry that starts it', () => {
        expect(
          validate(withSteps(step('root'), step('c', { dependsOn: ['a'] }), step('a', { dependsOn: ['root', 'b'] }), step('b', { dependsOn: ['c'] }))),
        ).toEqual([{ field: `${P}.steps[1].depends_on[0]`, description: 'dependency cycle: c → a → b → c' }]);
      });

      it('reports each separate cycle, and the shortest one through a step', () => {
        expect(
          validate(
            withSteps(
              step('a', { dependsOn: ['b', 'c'] }),
              step('b', { dependsOn: ['c'] }),
              step('c', { dependsOn: ['a'] }),
              step('x', { dependsOn: ['y'] }),
              step('y', { dependsOn: ['x'] }),
            ),
          ),
        ).toEqual([
          { field: `${P}.steps[0].depends_on[1]`, description: 'dependency cycle: a → c → a' },
          { field: `${P}.steps[1].depends_on[0]`, description: 'dependency cycle: b → c → a → b' },
          { field: `${P}.steps[3].depends_on[0]`, description: 'dependency cycle: x → y → x' },
        ]);
      });
    });

    describe('retry_policy and timeout', () => {
      const R = DEFAULT_RETRY_POLICY;
      it.each([
        { ...R, maxAttempts: 1 },
        { ...R, maxAttempts: 20 },
        { ...R, initialBackoffMs: 0, maxBackoffMs: 0 },
        { ...R, initialBackoffMs: 3_600_000, maxBackoffMs: 3_600_000 },
        { ...R, backoffMultiplier: 1 },
        { ...R, backoffMultiplier: 10 },
        { ...R, backoffMultiplier: 1.5 },
      ])('accepts %j', (retryPolicy) => {
        expect(validate(withSteps(step('a', { retryPolicy })))).toEqual([]);
      });

      it.each<[object, string, string]>([
        [{ maxAttempts: 0 }, 'max_attempts', 'must be an integer between 1 and 20 (got 0)'],
        [{ maxAttempts: 21 }, 'max_attempts', 'must be an integer between 1 and 20 (got 21)'],
        [{ maxAttempts: 2.5 }, 'max_attempts', 'must be an integer between 1 and 20 (got 2.5)'],
        [{ initialBackoffMs: -1 }, 'initial_backoff', 'must be between 0s and 1h (got -1ms)'],
        [{ initialBackoffMs: 3_600_001, maxBackoffMs: 3_600_000 }, 'initial_backoff', 'must be between 0s and 1h (got 3600001ms)'],
        [{ backoffMultiplier: 0.5 }, 'backoff_multiplier', 'must be between 1 and 10 (got 0.5)'],
        [{ backoffMultiplier: 10.5 }, 'backoff_multiplier', 'must be between 1 and 10 (got 10.5)'],
        [{ backoffMultiplier: Number.NaN }, 'backoff_multiplier', 'must be between 1 and 10 (got NaN)'],
        [{ maxBackoffMs: 7_200_000 }, 'max_backoff', 'must be at most 1h (got 2h)'],
        [{ initialBackoffMs: 5000, maxBackoffMs: 1000 }, 'max_backoff', 'must be at least initial_backoff (5s) (got 1s)'],
      ])('rejects %j', (over, field, description) => {
        expect(validate(withSteps(step('a', { retryPolicy: { ...R, ...over } })))).toEqual([
          { field: `${P}.steps[0].retry_policy.${field}`, description },
        ]);
      });

      it.each([1, 3_600_000])('accepts timeout %d ms', (timeoutMs) => {
        expect(validate(withSteps(step('a', { timeoutMs })))).toEqual([]);
      });

      it.each([
        [0, 'must be between 1ms and 1h (got 0s)'],
        [3_600_001, 'must be between 1ms and 1h (got 3600001ms)'],
      ])('rejects timeout %d ms', (timeoutMs, description) => {
        expect(validate(withSteps(step('a', { timeoutMs })))).toEqual([{ field: `${P}.steps[0].timeout`, description }]);
      });
    });
  });

  describe('templates', () => {
    it('accepts parameter and transitive upstream step references', () => {
      const steps = [
        step('fetch', { arguments: { city: '${params.city}', first: '${params.cities[0].name}', all: '${params}' } }),
        step('mid', { dependsOn: ['fetch'] }),
        step('last', { dependsOn: ['mid'], arguments: { x: { y: ['${steps.fetch.output.temp} / ${steps.mid.output}'] } } }),
      ];
      expect(validate(def({ steps }))).toEqual([]);
    });

    it('reports a syntax error on the argument path', () => {
      expect(validate(withSteps(step('a', { arguments: { opts: { list: ['ok', '${env.HOME}'] } } })))).toEqual([
        { field: `${P}.steps[0].arguments.opts.list[1]`, description: 'unknown reference root "env" in "${env.HOME}" (expected "params" or "steps")' },
      ]);
    });

    it('rejects an undeclared parameter when the schema declares properties', () => {
      expect(validate(withSteps(step('a'), step('b', { arguments: { city: '${params.town}' } })))).toEqual([
        { field: `${P}.steps[1].arguments.city`, description: 'references unknown parameter "town"' },
      ]);
    });

    it('rejects an unknown step', () => {
      expect(validate(withSteps(step('a'), step('b', { dependsOn: ['a'], arguments: { t: '${steps.fetch.output.temp}' } })))).toEqual([
        { field: `${P}.steps[1].arguments.t`, description: 'references unknown step "fetch"' },
      ]);
    });

    it.each([
      ['a step not in depends_on', [step('a'), step('b', { arguments: { t: '${steps.a.output}' } })]],
      ['a downstream step', [step('a', { arguments: { t: '${steps.b.output}' } }), step('b', { dependsOn: ['a'] })]],
      ['its own output', [step('a'), step('b', { dependsOn: ['a'], arguments: { t: '${steps.b.output}' } })]],
    ])('rejects %s', (_name, steps) => {
      const violations = validate(def({ steps }));
      expect(violations).toHaveLength(1);
      expect(violations[0]!.description).toMatch(/^references step "[ab]" which is not in its depends_on chain$/);
    });

    it('names the field of a step reference not in the chain', () => {
      expect(validate(withSteps(step('a'), step('b', { arguments: { t: 'x ${steps.a.output.v}' } })))).toEqual([
        { field: `${P}.steps[1].arguments.t`, description: 'references step "a" which is not in its depends_on chain' },
      ]);
    });

    it('on update of parameters_schema alone, re-checks parameter references against the new schema', () => {
      const input = def({ parametersSchema: { type: 'object', properties: { town: { type: 'string' } } } });
      expect(validate(input, { fields: ['parameters_schema'] })).toEqual([
        { field: `${P}.steps[0].arguments.city`, description: 'references unknown parameter "city"' },
      ]);
    });
  });

  describe('update masks', () => {
    const broken = def({
      name: 'BAD',
      description: 'x'.repeat(1001),
      parametersSchema: { type: 'string' },
      steps: [step('a', { mcpDefinition: 'gone' })],
      runTimeoutMs: 0,
    });

    it('checks only the masked fields', () => {
      expect(validate(broken, { fields: ['description'] }).map((x) => x.field)).toEqual([`${P}.description`]);
      expect(validate(broken, { fields: ['run_timeout'] }).map((x) => x.field)).toEqual([`${P}.run_timeout`]);
      expect(validate(broken, { fields: ['parameters_schema'] }).map((x) => x.field)).toEqual([`${P}.parameters_schema.type`]);
      expect(validate(broken, { fields: ['steps'] }).map((x) => x.field)).toEqual([`${P}.steps[0].mcp_definition`]);
      expect(validate(broken, { fields: [] })).toEqual([]);
    });

    it('create checks everything', () => {
      expect(validate(broken).map((x) => x.field)).toEqual([
        `${P}.name`,
        `${P}.description`,
        `${P}.parameters_schema.type`,
        `${P}.run_timeout`,
        `${P}.steps[0].mcp_definition`,
      ]);
    });
  });
});

describe('graph helpers', () => {
  const node = (id: string, ...dependsOn: string[]) => ({ id, dependsOn });

  it('topologicalOrder puts dependencies first, definition order breaking ties', () => {
    expect(topologicalOrder([node('d', 'b', 'c'), node('c', 'a'), node('b', 'a'), node('a'), node('e')])).toEqual(['a', 'c', 'b', 'd', 'e']);
    expect(topologicalOrder([node('x'), node('y'), node('z')])).toEqual(['x', 'y', 'z']);
    expect(topologicalOrder([node('z', 'y'), node('y', 'x'), node('x')])).toEqual(['x', 'y', 'z']);
    expect(topologicalOrder([])).toEqual([]);
  });

  it.each([
    [[node('a', 'b'), node('b', 'a')], 'topologicalOrder: dependency cycle among a, b'],
    [[node('a', 'a')], 'topologicalOrder: dependency cycle among a'],
    [[node('a', 'zz')], 'topologicalOrder: step "a" depends on unknown step "zz"'],
    [[node('a'), node('a')], 'topologicalOrder: step ids are not unique'],
  ])('topologicalOrder throws on %j', (steps, message) => {
    expect(() => topologicalOrder(steps)).toThrow(message);
  });

  it('ancestors are transitive, direct and indirect', () => {
    const result = ancestors([node('a'), node('b', 'a'), node('c', 'b'), node('d', 'c', 'a'), node('e')]);
    expect([...result.entries()].map(([id, set]) => [id, [...set].sort()])).toEqual([
      ['a', []],
      ['b', ['a']],
      ['c', ['a', 'b']],
      ['d', ['a', 'b', 'c']],
      ['e', []],
    ]);
  });

  it('formatDuration picks the largest exact unit', () => {
    expect([0, 1, 1500, 2000, 90_000, 120_000, 3_600_000, 86_400_000, 604_800_000].map(formatDuration)).toEqual([
      '0s',
      '1ms',
      '1500ms',
      '2s',
      '90s',
      '2m',
      '1h',
      '1d',
      '7d',
    ]);
  });
});
