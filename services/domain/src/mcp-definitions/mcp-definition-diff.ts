/**
 * What an update changed, for the audit log's `details`.
 *
 * Keys are the proto field names of the update mask (`repository_url`); values are in the
 * API's proto-JSON shape (camelCase members, e.g. `inputSchema`, and the transport as
 * `{ stdio: … }` or `{ streamableHttp: … }`), with implicit defaults written out so an entry
 * shows what it was even when it was empty.
 *
 * Secrets: changes are detected on the stored values (so rotating a secret is recorded), but
 * the values written out are redacted. A rotated secret therefore shows up as a `transport`
 * entry whose before and after look alike — the audit says the transport changed, not to what.
 */
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { canonicalJson } from '../../../../shared/api/canonical-json';
import type { McpDefinition, McpDefinitionMutableField, McpTransport, SecretablePair, ToolDeclaration } from './mcp-definition';
import { redactTransport } from './redact';

/** A type alias, not an interface, so a diff is assignable to JsonValue (audit `details`). */
export type FieldChange = { readonly before: JsonValue; readonly after: JsonValue };

/** The fields among `fields` whose value differs between `before` and `after`; secrets redacted. */
export function diffMcpDefinitions(
  before: McpDefinition,
  after: McpDefinition,
  fields: readonly McpDefinitionMutableField[],
): Record<string, FieldChange> {
  const changes: Record<string, FieldChange> = {};
  for (const field of new Set(fields)) {
    // Compare unredacted (in memory only), so a rotated secret still counts as a change.
    if (canonicalJson(fieldJson(before, field, false)) === canonicalJson(fieldJson(after, field, false))) continue;
    changes[field] = { before: fieldJson(before, field, true), after: fieldJson(after, field, true) };
  }
  return changes;
}

function fieldJson(d: McpDefinition, field: McpDefinitionMutableField, redact: boolean): JsonValue {
  switch (field) {
    case 'title':
      return d.title;
    case 'description':
      return d.description;
    case 'version':
      return d.version;
    case 'repository_url':
      return d.repositoryUrl;
    case 'tags':
      return [...d.tags];
    case 'tools':
      return d.tools.map(toolJson);
    case 'transport':
      return transportJson(redact ? redactTransport(d.transport) : d.transport);
  }
}

export function toolJson(t: ToolDeclaration): JsonObject {
  // A copy of the schema: the result goes to the audit outbox and must not alias stored state.
  return t.inputSchema === undefined
    ? { name: t.name, description: t.description }
    : { name: t.name, description: t.description, inputSchema: copyJson(t.inputSchema) };
}

function copyJson<T extends JsonValue>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item: JsonValue) => copyJson(item)) as T;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) out[key] = copyJson(item);
  return out as T;
}

/** Proto JSON of the `transport` oneof: the set case's JSON name and its message. */
export function transportJson(t: McpTransport): JsonObject {
  switch (t.kind) {
    case 'stdio':
      return { stdio: { command: t.command, args: [...t.args], env: t.env.map(pairJson) } };
    case 'streamable_http':
      return { streamableHttp: { url: t.url, headers: t.headers.map(pairJson) } };
  }
}

function pairJson(p: SecretablePair): JsonObject {
  return { name: p.name, value: p.value, secret: p.secret };
}
