import type { JsonObject } from '@bufbuild/protobuf';
import type { FieldViolation } from '../../../../shared/errors/app-error';
import { compileParametersSchema, PARAMETERS_SCHEMA_DIALECT } from './parameters';
import { collectTemplateRefs } from './template';
import type { RetryPolicy, WorkflowDefinitionInput, WorkflowStep } from './workflow-definition';

/** The documented rules of `WorkflowDefinition` (see workflow_definition.proto). */
export const WORKFLOW_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
export const STEP_ID_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,128}$/;
export const DESCRIPTION_MAX_CHARS = 1000;
export const MIN_STEPS = 1;
export const MAX_STEPS = 100;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const LIMITS = {
  maxAttempts: { min: 1, max: 20 },
  initialBackoffMs: { min: 0, max: HOUR },
  backoffMultiplier: { min: 1, max: 10 },
  maxBackoffMs: { max: HOUR },
  stepTimeoutMs: { min: 1, max: HOUR },
  runTimeoutMs: { min: SECOND, max: 7 * DAY },
} as const;

export interface McpDefinitionTools {
  readonly tools: readonly { readonly name: string }[];
}

export interface WorkflowRulesContext {
  /** Field path of the definition in the request, e.g. `workflow_definition`; '' for none. */
  readonly prefix: string;
  /**
   * Update: the fields the update mask names (of WORKFLOW_DEFINITION_MUTABLE_FIELDS); only
   * those are checked (`input` is the merged result). Undefined: create, everything is checked,
   * `name` included.
   */
  readonly fields?: readonly string[];
  /** The MCP definitions that exist, by name (with their declared tools). */
  readonly knownMcpDefinitions: ReadonlyMap<string, McpDefinitionTools>;
}

/** The part of a step the graph helpers need. */
export interface StepNode {
  readonly id: string;
  readonly dependsOn: readonly string[];
}

/**
 * Every rule a definition breaks, each with the field path of the offending value. Empty
 * means valid.
 *
 * Scope on update: only the masked fields are checked, so that an update of `description`
 * still succeeds when, say, an MCP definition a step uses was deleted since. The template
 * checks couple two fields: parameter references are re-checked when either `steps` or
 * `parameters_schema` changes (removing a property that a step uses is reported on the step's
 * argument), step references and template syntax when `steps` changes.
 */
export function validateWorkflowDefinitionInput(input: WorkflowDefinitionInput, ctx: WorkflowRulesContext): FieldViolation[] {
  const v: FieldViolation[] = [];
  const at = (field: string): string => (ctx.prefix ? `${ctx.prefix}.${field}` : field);
  const inScope = (field: string): boolean => ctx.fields === undefined || ctx.fields.includes(field);

  if (ctx.fields === undefined) {
    if (!input.name) v.push({ field: at('name'), description: 'is required' });
    else if (!WORKFLOW_NAME_PATTERN.test(input.name)) {
      v.push({
        field: at('name'),
        description: `${quote(input.name)} must match ${WORKFLOW_NAME_PATTERN.source} (a lowercase letter, then up to 62 lowercase letters, digits or hyphens)`,
      });
    }
  }

  if (inScope('description')) {
    const chars = [...input.description].length;
    if (chars > DESCRIPTION_MAX_CHARS) v.push({ field: at('description'), description: `must be at most ${DESCRIPTION_MAX_CHARS} characters (got ${chars})` });
  }

  const schemaOk = checkParametersSchema(input.parametersSchema, at('parameters_schema'), inScope('parameters_schema') ? v : []);

  if (inScope('run_timeout')) {
    checkRange(input.runTimeoutMs, LIMITS.runTimeoutMs.min, LIMITS.runTimeoutMs.max, at('run_timeout'), v, formatDuration);
  }

  const stepsInScope = inScope('steps');
  const steps = input.steps;
  if (stepsInScope) {
    if (steps.length < MIN_STEPS) v.push({ field: at('steps'), description: `must have at least ${MIN_STEPS} step` });
    if (steps.length > MAX_STEPS) v.push({ field: at('steps'), description: `must have at most ${MAX_STEPS} steps (got ${steps.length})` });
  }
  // The graph checks are quadratic; beyond the limit the count violation is enough.
  const graphChecks = steps.length <= MAX_STEPS;
  const firstIndex = firstIndexById(steps);

  if (stepsInScope) {
    steps.forEach((step, i) => checkStep(step, i, at(`steps[${i}]`), firstIndex, ctx.knownMcpDefinitions, v));
    if (graphChecks) v.push(...cycleViolations(steps, firstIndex, (i, j) => at(`steps[${i}].depends_on[${j}]`)));
  }

  if ((stepsInScope || inScope('parameters_schema')) && graphChecks) {
    const props = schemaOk ? declaredProperties(input.parametersSchema) : undefined;
    const upstream = ancestorsByIndex(steps, firstIndex);
    steps.forEach((step, i) => {
      const { refs, violations } = collectTemplateRefs(step.arguments, at(`steps[${i}].arguments`));
      if (stepsInScope) v.push(...violations);
      for (const { ref, field } of refs) {
        if (ref.kind === 'params') {
          const first = ref.path[0];
          if (props && typeof first === 'string' && !props.has(first)) v.push({ field, description: `references unknown parameter "${first}"` });
        } else if (stepsInScope) {
          if (!firstIndex.has(ref.stepId)) v.push({ field, description: `references unknown step "${ref.stepId}"` });
          else if (ref.stepId === step.id || !upstream[i]!.has(ref.stepId)) {
            v.push({ field, description: `references step "${ref.stepId}" which is not in its depends_on chain` });
          }
        }
      }
    });
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Fields

/** Returns whether the schema compiled (the template checks trust its `properties` only then). */
function checkParametersSchema(schema: JsonObject, field: string, v: FieldViolation[]): boolean {
  // Run parameters are a Struct, i.e. always an object: any other top-level type would make
  // every run fail validation.
  if (schema.type !== undefined && schema.type !== 'object') {
    v.push({ field: `${field}.type`, description: `must be "object" (run parameters are always an object), got ${JSON.stringify(schema.type)}` });
  }
  const compiled = compileParametersSchema(schema);
  if (!compiled.ok) v.push({ field, description: `is not a valid JSON Schema (${PARAMETERS_SCHEMA_DIALECT}): ${compiled.error}` });
  return compiled.ok;
}

/** The top-level `properties` names, or undefined when the schema declares none (any parameter goes). */
function declaredProperties(schema: JsonObject): Set<string> | undefined {
  const props = schema.properties;
  if (props === null || typeof props !== 'object' || Array.isArray(props)) return undefined;
  return new Set(Object.keys(props));
}

function checkStep(
  step: WorkflowStep,
  i: number,
  base: string,
  firstIndex: ReadonlyMap<string, number>,
  known: ReadonlyMap<string, McpDefinitionTools>,
  v: FieldViolation[],
): void {
  if (!step.id) v.push({ field: `${base}.id`, description: 'is required' });
  else if (!STEP_ID_PATTERN.test(step.id)) {
    v.push({
      field: `${base}.id`,
      description: `${quote(step.id)} must match ${STEP_ID_PATTERN.source} (a lowercase letter, then up to 62 lowercase letters, digits or underscores)`,
    });
  } else {
    const first = firstIndex.get(step.id)!;
    if (first !== i) v.push({ field: `${base}.id`, description: `duplicate step id "${step.id}" (already used by steps[${first}])` });
  }

  const mcp = step.mcpDefinition ? known.get(step.mcpDefinition) : undefined;
  if (!step.mcpDefinition) v.push({ field: `${base}.mcp_definition`, description: 'is required' });
  else if (!mcp) v.push({ field: `${base}.mcp_definition`, description: `unknown MCP definition ${quote(step.mcpDefinition)}` });

  if (!step.tool) v.push({ field: `${base}.tool`, description: 'is required' });
  else if (!TOOL_NAME_PATTERN.test(step.tool)) v.push({ field: `${base}.tool`, description: `${quote(step.tool)} must match ${TOOL_NAME_PATTERN.source}` });
  // An MCP definition that declares no tools is taken to expose whatever its server lists at run time.
  else if (mcp && mcp.tools.length > 0 && !mcp.tools.some((t) => t.name === step.tool)) {
    const names = mcp.tools.slice(0, 20).map((t) => t.name);
    if (mcp.tools.length > 20) names.push('…');
    v.push({ field: `${base}.tool`, description: `MCP definition "${step.mcpDefinition}" declares no tool ${quote(step.tool)} (it declares: ${names.join(', ')})` });
  }

  const seen = new Map<string, number>();
  step.dependsOn.forEach((dep, j) => {
    const field = `${base}.depends_on[${j}]`;
    if (!dep) {
      v.push({ field, description: 'must not be empty' });
      return;
    }
    const earlier = seen.get(dep);
    if (earlier !== undefined) v.push({ field, description: `duplicate of depends_on[${earlier}] ("${dep}")` });
    else if (dep === step.id) v.push({ field, description: `depends on itself (dependency cycle: ${dep} → ${dep})` });
    else if (!firstIndex.has(dep)) v.push({ field, description: `references unknown step ${quote(dep)}` });
    if (earlier === undefined) seen.set(dep, j);
  });

  checkRetryPolicy(step.retryPolicy, `${base}.retry_policy`, v);
  checkRange(step.timeoutMs, LIMITS.stepTimeoutMs.min, LIMITS.stepTimeoutMs.max, `${base}.timeout`, v, formatDuration);
}

function checkRetryPolicy(p: RetryPolicy, base: string, v: FieldViolation[]): void {
  const { maxAttempts, initialBackoffMs, backoffMultiplier, maxBackoffMs } = LIMITS;
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < maxAttempts.min || p.maxAttempts > maxAttempts.max) {
    v.push({ field: `${base}.max_attempts`, description: `must be an integer between ${maxAttempts.min} and ${maxAttempts.max} (got ${p.maxAttempts})` });
  }
  const initialOk = checkRange(p.initialBackoffMs, initialBackoffMs.min, initialBackoffMs.max, `${base}.initial_backoff`, v, formatDuration);
  checkRange(p.backoffMultiplier, backoffMultiplier.min, backoffMultiplier.max, `${base}.backoff_multiplier`, v, String);
  const field = `${base}.max_backoff`;
  if (!Number.isFinite(p.maxBackoffMs) || p.maxBackoffMs > maxBackoffMs.max) {
    v.push({ field, description: `must be at most ${formatDuration(maxBackoffMs.max)} (got ${formatDuration(p.maxBackoffMs)})` });
  } else if (initialOk && p.maxBackoffMs < p.initialBackoffMs) {
    v.push({ field, description: `must be at least initial_backoff (${formatDuration(p.initialBackoffMs)}) (got ${formatDuration(p.maxBackoffMs)})` });
  }
}

function checkRange(value: number, min: number, max: number, field: string, v: FieldViolation[], format: (n: number) => string): boolean {
  // NaN fails both comparisons, so test for finiteness explicitly.
  if (Number.isFinite(value) && value >= min && value <= max) return true;
  v.push({ field, description: `must be between ${format(min)} and ${format(max)} (got ${format(value)})` });
  return false;
}

/** `90000` → `90s`, `3600000` → `1h`: the largest unit that divides the value exactly. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return '0s';
  for (const [unit, size] of [['d', DAY], ['h', HOUR], ['m', MINUTE], ['s', SECOND]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A user value inside a message: JSON-quoted, cut so a huge value cannot bloat the error. */
function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

// ---------------------------------------------------------------------------------------------
// Graph

/** Index of the first step with each id (a later duplicate is reported, and ignored by the graph). */
function firstIndexById(steps: readonly StepNode[]): Map<string, number> {
  const m = new Map<string, number>();
  steps.forEach((s, i) => {
    if (!m.has(s.id)) m.set(s.id, i);
  });
  return m;
}

/** Edges of step i: indexes of the steps it depends on, in depends_on order, without self, unknown or repeated entries. */
function edges(steps: readonly StepNode[], firstIndex: ReadonlyMap<string, number>, i: number): number[] {
  const out: number[] = [];
  for (const dep of steps[i]!.dependsOn) {
    const j = firstIndex.get(dep);
    if (j !== undefined && j !== i && dep !== steps[i]!.id && !out.includes(j)) out.push(j);
  }
  return out;
}

/** For each step (by index), the ids of all steps it depends on, directly or transitively. */
function ancestorsByIndex(steps: readonly StepNode[], firstIndex: ReadonlyMap<string, number>): Set<string>[] {
  const adjacency = steps.map((_, i) => edges(steps, firstIndex, i));
  return steps.map((_, i) => {
    const found = new Set<string>();
    const visited = new Set<number>([i]);
    const queue = [...adjacency[i]!];
    while (queue.length) {
      const j = queue.shift()!;
      found.add(steps[j]!.id);
      if (visited.has(j)) continue;
      visited.add(j);
      queue.push(...adjacency[j]!);
    }
    return found;
  });
}

/**
 * One violation per dependency cycle (self-dependencies are reported by the depends_on check).
 * For each step in definition order that is not yet on a reported cycle, the shortest cycle
 * through it (breadth-first, depends_on order as tie-break) is reported on the step's
 * depends_on entry that starts it, e.g. `dependency cycle: a → b → c → a`. Deterministic, and
 * at most one violation per step however tangled the graph is.
 */
function cycleViolations(steps: readonly StepNode[], firstIndex: ReadonlyMap<string, number>, fieldOf: (i: number, j: number) => string): FieldViolation[] {
  const adjacency = steps.map((_, i) => edges(steps, firstIndex, i));
  const onReported = new Set<number>();
  const out: FieldViolation[] = [];
  steps.forEach((step, start) => {
    if (onReported.has(start) || firstIndex.get(step.id) !== start) return;
    const parent = new Map<number, number>();
    const queue = [start];
    let last: number | undefined;
    search: while (queue.length) {
      const u = queue.shift()!;
      for (const w of adjacency[u]!) {
        if (w === start) {
          last = u;
          break search;
        }
        if (!parent.has(w)) {
          parent.set(w, u);
          queue.push(w);
        }
      }
    }
    if (last === undefined) return;
    const cycle = [last];
    while (cycle[0] !== start) cycle.unshift(parent.get(cycle[0]!)!);
    cycle.forEach((n) => onReported.add(n));
    const ids = [...cycle, start].map((n) => steps[n]!.id);
    const second = cycle.length > 1 ? cycle[1]! : start;
    out.push({ field: fieldOf(start, step.dependsOn.indexOf(steps[second]!.id)), description: `dependency cycle: ${ids.join(' → ')}` });
  });
  return out;
}

/**
 * For each step id, the ids of every step it depends on directly or transitively. Entries
 * naming unknown steps are ignored. (On a definition with a cycle, a step on the cycle is its
 * own ancestor; valid definitions have none.)
 */
export function ancestors(steps: readonly StepNode[]): Map<string, Set<string>> {
  const firstIndex = firstIndexById(steps);
  const byIndex = ancestorsByIndex(steps, firstIndex);
  const out = new Map<string, Set<string>>();
  for (const [id, i] of firstIndex) out.set(id, byIndex[i]!);
  return out;
}

/**
 * Step ids in an order where every step comes after everything it depends on. Among steps that
 * are ready at the same time, the one defined first comes first, so the order is a function of
 * the definition alone. Throws on duplicate ids, unknown dependencies and cycles: it is meant
 * for definitions that passed validateWorkflowDefinitionInput.
 */
export function topologicalOrder(steps: readonly StepNode[]): string[] {
  const firstIndex = firstIndexById(steps);
  if (firstIndex.size !== steps.length) throw new Error('topologicalOrder: step ids are not unique');
  const remaining = steps.map((s) => new Set(s.dependsOn));
  for (const [i, deps] of remaining.entries()) {
    for (const dep of deps) if (!firstIndex.has(dep)) throw new Error(`topologicalOrder: step "${steps[i]!.id}" depends on unknown step "${dep}"`);
  }
  const dependents = steps.map(() => [] as number[]);
  remaining.forEach((deps, i) => deps.forEach((dep) => dependents[firstIndex.get(dep)!]!.push(i)));
  const done = new Array<boolean>(steps.length).fill(false);
  const order: string[] = [];
  // O(n²) selection of the lowest ready index: n ≤ 100, and it keeps the tie-break obvious.
  while (order.length < steps.length) {
    const next = remaining.findIndex((deps, i) => !done[i] && deps.size === 0);
    if (next < 0) {
      const stuck = steps.filter((_, i) => !done[i]).map((s) => s.id);
      throw new Error(`topologicalOrder: dependency cycle among ${stuck.join(', ')}`);
    }
    done[next] = true;
    order.push(steps[next]!.id);
    for (const d of dependents[next]!) remaining[d]!.delete(steps[next]!.id);
  }
  return order;
}
