import { createHash } from 'node:crypto';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { canonicalJson } from '../../../../shared/api/canonical-json';
import { FailedPreconditionError, type FieldViolation } from '../../../../shared/errors/app-error';
import { appendFieldIndex, appendFieldKey } from './template';

/**
 * JSON Schema for run parameters.
 *
 * Dialect: draft 2020-12 (Ajv2020), because the contract (`WorkflowDefinition.parameters_schema`)
 * says so. A `$schema` naming another draft fails to compile and is reported as such.
 *
 * Options, and why:
 * - `strict: false`: definition authors may annotate schemas with keywords Ajv does not know
 *   (`x-ui-hint`, `deprecated`…), and unknown `format`s are ignored, as 2020-12 treats `format`
 *   as an annotation. Real errors (an invalid meta-schema value, an unresolvable `$ref`, a bad
 *   `pattern`) still fail the compile.
 * - `logger: false`: with strict off Ajv would warn on the console about every such keyword of
 *   every user-supplied schema.
 * - `allErrors: true`: a caller starting a run gets every problem with its parameters at once.
 *   The request size limit bounds the work this does.
 * - no `useDefaults`/`coerceTypes`/`removeAdditional`: validation must never change the
 *   parameters a run records.
 * - no `loadSchema`: a `$ref` can only point inside the schema itself (never the network).
 * - formats from `ajv-formats` (date-time, email, uri, uuid…).
 *
 * Schemas are written by authenticated definition authors; a pathological `pattern` (ReDoS) is
 * still possible, which is one more reason compiled schemas are cached rather than recompiled.
 *
 * One Ajv instance is shared, and every compiled schema is removed from it right after
 * compiling: Ajv otherwise keeps every schema object it has seen (an unbounded leak, since each
 * request brings new objects) and registers each `$id`, so a second definition reusing an `$id`
 * would fail to compile, and one definition could `$ref` another's schema. The compiled function
 * keeps working after removal (references are resolved at compile time).
 */
const ajv = new Ajv2020({ strict: false, logger: false, allErrors: true });
addFormats(ajv);

export const PARAMETERS_SCHEMA_DIALECT = 'JSON Schema draft 2020-12';

export type CompiledParametersSchema = { ok: true; validate: ValidateFunction } | { ok: false; error: string };

// Bounded LRU (Map iteration order = insertion order; a hit is re-inserted at the end). The key
// is a hash of the canonical JSON, so the same schema with keys in another order hits, and keys
// stay small however large the schema; byte accounting bounds memory, not only the entry count.
const CACHE_MAX_ENTRIES = 256;
const CACHE_MAX_BYTES = 16 * 1024 * 1024;
const cache = new Map<string, { compiled: CompiledParametersSchema; bytes: number }>();
let cacheBytes = 0;

/**
 * Compiles a parameters schema (cached). Never throws: a schema Ajv rejects comes back as
 * `{ ok: false, error }`, the error text naming the offending location as a JSON pointer.
 */
export function compileParametersSchema(schema: JsonObject): CompiledParametersSchema {
  let text: string;
  try {
    text = canonicalJson(schema);
  } catch (err) {
    // NaN/Infinity can arrive through a binary google.protobuf.Value; such a schema has no JSON form.
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  const key = createHash('sha256').update(text).digest('base64url');
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit.compiled;
  }
  const compiled = compileUncached(schema);
  const bytes = text.length;
  if (bytes <= CACHE_MAX_BYTES) {
    cache.set(key, { compiled, bytes });
    cacheBytes += bytes;
    for (const [oldKey, entry] of cache) {
      if (cache.size <= CACHE_MAX_ENTRIES && cacheBytes <= CACHE_MAX_BYTES) break;
      cache.delete(oldKey);
      cacheBytes -= entry.bytes;
    }
  }
  return compiled;
}

/** Test hook: empties the compiled-schema cache. */
export function clearParametersSchemaCache(): void {
  cache.clear();
  cacheBytes = 0;
}

/** Test hook: the number of cached compiled schemas. */
export function parametersSchemaCacheSize(): number {
  return cache.size;
}

function compileUncached(schema: JsonObject): CompiledParametersSchema {
  try {
    // Validate against the meta-schema ourselves, to report only the first error per schema
    // location: Ajv's own message for `type: "strin"` lists three (enum, array, anyOf).
    if (!ajv.validateSchema(schema)) return { ok: false, error: metaSchemaErrors(ajv.errors ?? []) };
    const validate = ajv.compile(schema);
    // An async schema's validator returns a Promise, which is truthy: every input would pass.
    if ((validate as { $async?: unknown }).$async) return { ok: false, error: '"$async" schemas are not supported' };
    return { ok: true, validate };
  } catch (err) {
    // validateSchema throws for an unknown `$schema`; compile for an unresolvable `$ref`, an
    // invalid `pattern` regex, etc.
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    ajv.removeSchema(schema);
  }
}

function metaSchemaErrors(errors: readonly ErrorObject[]): string {
  const seen = new Set<string>();
  const messages: string[] = [];
  for (const e of errors) {
    if (seen.has(e.instancePath)) continue;
    seen.add(e.instancePath);
    messages.push(`at ${e.instancePath || '/'}: ${e.message ?? 'is invalid'}`);
  }
  return messages.join('; ');
}

/** At most this many violations are reported; a summary line says how many more there were. */
export const MAX_PARAMETER_VIOLATIONS = 100;

/**
 * Validates run parameters against the definition's schema. Each Ajv error becomes one
 * violation whose field is a path under `field` (`parameters.cities[0].name`), its description
 * Ajv's message (`must be string`), except where the offending member is named by the error
 * rather than its location (`required` → `parameters.city: is required`).
 *
 * Throws FailedPreconditionError if the schema itself does not compile: the schema was
 * accepted when the definition was saved, so that is the definition's state, not the caller's
 * parameters, being wrong.
 */
export function validateRunParameters(schema: JsonObject, params: JsonObject, field = 'parameters'): FieldViolation[] {
  const compiled = compileParametersSchema(schema);
  if (!compiled.ok) {
    throw new FailedPreconditionError('INVALID_PARAMETERS_SCHEMA', `the workflow's parameters_schema does not compile: ${compiled.error}`);
  }
  if (compiled.validate(params)) return [];
  const violations: FieldViolation[] = [];
  const seen = new Set<string>();
  for (const error of compiled.validate.errors ?? []) {
    const violation = toViolation(error, params, field);
    const key = `${violation.field}\u0000${violation.description}`;
    if (seen.has(key)) continue;
    seen.add(key);
    violations.push(violation);
  }
  if (violations.length > MAX_PARAMETER_VIOLATIONS) {
    const more = violations.length - MAX_PARAMETER_VIOLATIONS;
    violations.length = MAX_PARAMETER_VIOLATIONS;
    violations.push({ field, description: `${more} more violation${more === 1 ? '' : 's'} not shown` });
  }
  return violations;
}

function toViolation(error: ErrorObject, params: JsonObject, field: string): FieldViolation {
  const path = pointerToField(error.instancePath, params, field);
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { field: appendFieldKey(path, String(p.missingProperty)), description: 'is required' };
    case 'dependentRequired':
      return { field: appendFieldKey(path, String(p.missingProperty)), description: `is required when "${String(p.property)}" is present` };
    case 'additionalProperties':
      return { field: appendFieldKey(path, String(p.additionalProperty)), description: 'is not an allowed property' };
    case 'unevaluatedProperties':
      return { field: appendFieldKey(path, String(p.unevaluatedProperty)), description: 'is not an allowed property' };
    case 'enum': {
      // Ajv's message does not say which values are allowed; the caller needs that to fix it.
      const allowed = Array.isArray(p.allowedValues) ? (p.allowedValues as JsonValue[]) : [];
      const shown = allowed.slice(0, 10).map((v) => JSON.stringify(v));
      if (allowed.length > 10) shown.push('…');
      return { field: path, description: `${error.message ?? 'is invalid'}: ${shown.join(', ')}` };
    }
    default:
      return { field: path, description: error.message ?? 'is invalid' };
  }
}

/**
 * Turns an Ajv instancePath (a JSON pointer) into a field path, looking at the data to tell an
 * array index (`[0]`) from an object member that happens to be named `0` (`.\`0\``).
 */
function pointerToField(pointer: string, root: JsonValue, field: string): string {
  let path = field;
  let value: JsonValue | undefined = root;
  if (!pointer) return path;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(value) && /^(0|[1-9][0-9]*)$/.test(token)) {
      path = appendFieldIndex(path, Number(token));
      value = value[Number(token)];
    } else {
      path = appendFieldKey(path, token);
      value = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, token) ? value[token] : undefined;
    }
  }
  return path;
}
