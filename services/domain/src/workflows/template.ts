import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { InvalidArgumentError, type FieldViolation } from '../../../../shared/errors/app-error';

/**
 * The argument template language of workflow steps.
 *
 * String values anywhere inside a step's `arguments` (nested objects and arrays included;
 * object keys are never templates) may contain references:
 *
 *   ${params}                       the whole run parameters object
 *   ${params.<path>}                a run parameter, e.g. ${params.cities[0].name}
 *   ${steps.<id>.output}            an earlier step's whole output
 *   ${steps.<id>.output.<path>}     part of it, e.g. ${steps.fetch.output.temperature}
 *
 * <path> is a sequence of `.name` (object member; name = [A-Za-z0-9_-]+) and `[n]` (array
 * item; n = a non-negative decimal integer without leading zeros). The grammar is deliberately
 * strict (no whitespace, no quoting, no expressions): a template that parses means exactly one
 * thing, and a typo is reported when the definition is saved rather than when a run renders it.
 *
 * `$${` is the escape for a literal `${` (scanned left to right, so `$${params.x}` renders as the
 * text `${params.x}`). A `$` or `}` anywhere else is plain text.
 *
 * Rendering (`renderTemplate`): a string that is exactly one reference becomes the referenced
 * value with its JSON type (a number stays a number, an object an object); references embedded
 * in longer text are stringified (strings as they are, anything else as JSON).
 */

export type TemplatePath = (string | number)[];

export type TemplateRef = { kind: 'params'; path: TemplatePath } | { kind: 'steps'; stepId: string; path: TemplatePath };

export interface TemplateRefAt {
  readonly ref: TemplateRef;
  /** Field path of the string holding the reference, e.g. `workflow_definition.steps[1].arguments.city`. */
  readonly field: string;
}

/** What the references resolve against when a step's arguments are rendered. */
export interface TemplateScope {
  readonly params: JsonValue;
  readonly steps: Readonly<Record<string, { readonly output: JsonValue }>>;
}

/** A template that cannot be rendered: a syntax error or a reference that resolves to nothing. */
export class TemplateRenderError extends Error {
  constructor(
    /** Field path of the offending string, e.g. `arguments.city`. */
    readonly field: string,
    /** The reference as written, e.g. `${steps.fetch.output.temp}` (for syntax errors: the bad text). */
    readonly ref: string,
    readonly reason: 'syntax' | 'unresolved',
    description: string,
  ) {
    super(`${field}: ${description}`);
    this.name = 'TemplateRenderError';
  }
}

// ---------------------------------------------------------------------------------------------
// Field paths

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Appends an object key to a field path. Keys that are not identifiers are backtick-quoted
 * (a literal backtick doubled), as AIP-161 does for map keys, so that a key like `a.b` cannot
 * be mistaken for two path segments.
 */
export function appendFieldKey(path: string, key: string): string {
  const segment = IDENTIFIER.test(key) ? key : `\`${key.replace(/`/g, '``')}\``;
  return path ? `${path}.${segment}` : segment;
}

export function appendFieldIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

type Part = { kind: 'text'; text: string } | { kind: 'ref'; ref: TemplateRef; text: string };

type ParseResult = { ok: true; parts: Part[] } | { ok: false; text: string; description: string };

const SEGMENT_CHAR = /[A-Za-z0-9_-]/;

/** Renders a reference back to its canonical text, e.g. `${steps.fetch.output.list[0]}`. */
export function formatTemplateRef(ref: TemplateRef): string {
  const head = ref.kind === 'params' ? 'params' : `steps.${ref.stepId}.output`;
  return `\${${head}${formatPath(ref.path)}}`;
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('');
}

/** Splits one string into literal text and references; the first syntax error stops the scan. */
function parseString(s: string): ParseResult {
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('$${', i)) {
      text += '${';
      i += 3;
      continue;
    }
    if (!s.startsWith('${', i)) {
      text += s[i];
      i += 1;
      continue;
    }
    const end = s.indexOf('}', i + 2);
    if (end < 0) {
      return { ok: false, text: s.slice(i), description: `unterminated reference "${s.slice(i)}" (missing "}"; write "$\${" for a literal "\${")` };
    }
    const raw = s.slice(i, end + 1);
    const parsed = parseExpression(s.slice(i + 2, end), raw);
    if (typeof parsed === 'string') return { ok: false, text: raw, description: parsed };
    if (text) parts.push({ kind: 'text', text });
    text = '';
    parts.push({ kind: 'ref', ref: parsed, text: raw });
    i = end + 1;
  }
  if (text) parts.push({ kind: 'text', text });
  return { ok: true, parts };
}

/** Parses the inside of `${…}`; returns the reference or a description of the syntax error. */
function parseExpression(expr: string, raw: string): TemplateRef | string {
  let i = 0;
  const readName = (): string => {
    const start = i;
    while (i < expr.length && SEGMENT_CHAR.test(expr[i]!)) i += 1;
    return expr.slice(start, i);
  };

  const root = readName();
  if (!root) {
    return expr === '' ? `empty reference "${raw}"` : `invalid reference "${raw}": expected "params" or "steps" at the start`;
  }
  if (root !== 'params' && root !== 'steps') return `unknown reference root "${root}" in "${raw}" (expected "params" or "steps")`;

  if (root === 'steps') {
    const shape = `must have the form \${steps.<step id>.output…}`;
    if (expr[i] !== '.') return `step reference "${raw}" ${shape}`;
    i += 1;
    const stepId = readName();
    if (!stepId) return `empty path segment in "${raw}"`;
    if (expr[i] !== '.') return `step reference "${raw}" ${shape}`;
    i += 1;
    const output = readName();
    if (output !== 'output') return `step reference "${raw}" ${shape}`;
    const path = parsePath();
    return typeof path === 'string' ? path : { kind: 'steps', stepId, path };
  }

  const path = parsePath();
  if (typeof path === 'string') return path;
  // Run parameters are always an object (a Struct), so indexing the root can never resolve.
  if (typeof path[0] === 'number') return `invalid reference "${raw}": parameters are an object; use \${params.<name>}`;
  return { kind: 'params', path };

  function parsePath(): TemplatePath | string {
    const path: TemplatePath = [];
    while (i < expr.length) {
      const c = expr[i];
      if (c === '.') {
        i += 1;
        const name = readName();
        if (!name) {
          return i >= expr.length || expr[i] === '.' || expr[i] === '['
            ? `empty path segment in "${raw}"`
            : `invalid character "${expr[i]}" in "${raw}"`;
        }
        path.push(name);
      } else if (c === '[') {
        const close = expr.indexOf(']', i + 1);
        if (close < 0) return `unterminated index in "${raw}" (missing "]")`;
        const digits = expr.slice(i + 1, close);
        if (digits === '') return `empty path segment "[]" in "${raw}"`;
        if (!/^(0|[1-9][0-9]*)$/.test(digits) || !Number.isSafeInteger(Number(digits))) {
          return `invalid index "[${digits}]" in "${raw}" (expected a non-negative integer)`;
        }
        path.push(Number(digits));
        i = close + 1;
      } else {
        return `invalid character "${c}" in "${raw}"`;
      }
    }
    return path;
  }
}

/** Calls `visit` for every string value inside `value`, with its field path. */
function forEachString(value: JsonValue, path: string, visit: (s: string, field: string) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((item, i) => forEachString(item, appendFieldIndex(path, i), visit));
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) forEachString(item, appendFieldKey(path, key), visit);
  }
}

/**
 * Every reference inside `value` (strings at any depth), plus a violation for every string
 * with a syntax error. The non-throwing form: callers that collect all problems of a request
 * (the definition rules) use this one.
 */
export function collectTemplateRefs(value: JsonValue, path: string): { refs: TemplateRefAt[]; violations: FieldViolation[] } {
  const refs: TemplateRefAt[] = [];
  const violations: FieldViolation[] = [];
  forEachString(value, path, (s, field) => {
    // Fast path: most argument strings are plain text.
    if (!s.includes('${')) return;
    const parsed = parseString(s);
    if (!parsed.ok) violations.push({ field, description: parsed.description });
    else for (const part of parsed.parts) if (part.kind === 'ref') refs.push({ ref: part.ref, field });
  });
  return { refs, violations };
}

/** Every reference inside `value`; throws InvalidArgumentError listing every syntax error. */
export function parseTemplateRefs(value: JsonValue, path: string): TemplateRefAt[] {
  const { refs, violations } = collectTemplateRefs(value, path);
  if (violations.length) throw new InvalidArgumentError(violations);
  return refs;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/**
 * Renders a step's arguments. `path` only names fields in errors (`arguments.city`).
 * The result never shares objects with `args` or `scope`: a tool call (or the engine) that
 * mutates its arguments must not change a stored step output or the run's parameters.
 */
export function renderTemplate(args: JsonObject, scope: TemplateScope, path = 'arguments'): JsonObject {
  return renderValue(args, scope, path) as JsonObject;
}

function renderValue(value: JsonValue, scope: TemplateScope, path: string): JsonValue {
  if (typeof value === 'string') return renderString(value, scope, path);
  if (Array.isArray(value)) return value.map((item, i) => renderValue(item, scope, appendFieldIndex(path, i)));
  if (value !== null && typeof value === 'object') {
    // Object.fromEntries defines own properties, so a `__proto__` key stays data instead of
    // replacing the result's prototype (assignment would).
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderValue(item, scope, appendFieldKey(path, key))]));
  }
  return value;
}

function renderString(s: string, scope: TemplateScope, field: string): JsonValue {
  if (!s.includes('${')) return s;
  const parsed = parseString(s);
  if (!parsed.ok) throw new TemplateRenderError(field, parsed.text, 'syntax', parsed.description);
  const { parts } = parsed;
  if (parts.length === 1 && parts[0]!.kind === 'ref') return structuredClone(resolve(parts[0]!, scope, field));
  return parts
    .map((part) => {
      if (part.kind === 'text') return part.text;
      const v = resolve(part, scope, field);
      return typeof v === 'string' ? v : JSON.stringify(v);
    })
    .join('');
}

function resolve(part: { ref: TemplateRef; text: string }, scope: TemplateScope, field: string): JsonValue {
  const { ref } = part;
  const fail = (why: string): never => {
    throw new TemplateRenderError(field, part.text, 'unresolved', `"${part.text}" resolves to nothing: ${why}`);
  };
  let current: JsonValue;
  let at: string;
  if (ref.kind === 'params') {
    current = scope.params;
    at = 'params';
  } else {
    // hasOwn: a step id such as `constructor` must not find Object.prototype members.
    const step = Object.hasOwn(scope.steps, ref.stepId) ? scope.steps[ref.stepId] : undefined;
    if (!step || step.output === undefined) return fail(`step "${ref.stepId}" has no output`);
    current = step.output;
    at = `steps.${ref.stepId}.output`;
  }
  for (const segment of ref.path) {
    if (typeof segment === 'number') {
      if (!Array.isArray(current)) return fail(`${at} is ${describeType(current)}, not an array`);
      if (segment >= current.length) return fail(`${at} has ${current.length} item${current.length === 1 ? '' : 's'}, no index ${segment}`);
      current = current[segment]!;
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return fail(`${at} is ${describeType(current)}, not an object`);
      if (!Object.hasOwn(current, segment) || current[segment] === undefined) return fail(`${at} has no member "${segment}"`);
      current = current[segment]!;
    }
    at += typeof segment === 'number' ? `[${segment}]` : `.${segment}`;
  }
  return current;
}

function describeType(v: JsonValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
