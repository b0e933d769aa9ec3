/**
 * Secrets never leave: env variables and headers marked `secret` are stored, but every
 * copy of a definition that is returned, logged or audited goes through `redactMcpDefinition`
 * first, which replaces their values with '' (the value the contract documents on read).
 *
 * Because reads return '', a client that reads a definition and sends it back on update
 * would wipe its secrets; `mergeSecrets` restores them (the contract's "an empty value for a
 * secret that already exists keeps the stored value").
 */
import type { McpTransport, SecretablePair } from './mcp-definition';

/** The documented read-back value of a secret. */
export const REDACTED_SECRET_VALUE = '';

/**
 * A deep copy of `d` with every secret value replaced by ''. The copy shares nothing with
 * `d`, so mutating it (or a serializer caching it) cannot reach the stored secrets.
 */
export function redactMcpDefinition<T extends { readonly transport: McpTransport | undefined }>(d: T): T {
  const copy = deepCopy(d);
  return { ...copy, transport: copy.transport === undefined ? undefined : redactTransport(copy.transport) };
}

/**
 * A deep copy of plain data (objects, arrays, Dates, primitives). Not structuredClone: that
 * builds its objects in the host realm, so under jest's VM context a copied Date would fail
 * `instanceof Date` (which canonicalJson relies on) even though it is one.
 */
function deepCopy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => deepCopy(item)) as T;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = deepCopy(item);
  return out as T;
}

/** `t` with every secret value replaced by '' (a new object; `t` is not modified). */
export function redactTransport(t: McpTransport): McpTransport {
  switch (t.kind) {
    case 'stdio':
      return { kind: 'stdio', command: t.command, args: [...t.args], env: t.env.map(redactPair) };
    case 'streamable_http':
      return { kind: 'streamable_http', url: t.url, headers: t.headers.map(redactPair) };
  }
}

function redactPair(p: SecretablePair): SecretablePair {
  return { name: p.name, value: p.secret ? REDACTED_SECRET_VALUE : p.value, secret: p.secret };
}

/**
 * The transport to store on update: `next`, except that a secret entry sent with an empty
 * value keeps the value stored in `previous` for the same entry. "The same entry" means the
 * same transport kind, the same name (env names are case-sensitive, header names are not,
 * RFC 9110 §5.1), and a previous entry that was itself secret — a value that was readable
 * before was returned to the client, so an empty one now is deliberate.
 *
 * Entries only in `previous` are dropped (the update replaces the list); entries with a
 * non-empty value replace the stored one; a secret turned non-secret does not inherit the
 * stored value, which would otherwise become readable.
 */
export function mergeSecrets(next: McpTransport, previous: McpTransport): McpTransport {
  switch (next.kind) {
    case 'stdio': {
      const stored = previous.kind === 'stdio' ? storedSecrets(previous.env, (name) => name) : new Map<string, string>();
      return { kind: 'stdio', command: next.command, args: [...next.args], env: next.env.map((p) => keepStored(p, stored.get(p.name))) };
    }
    case 'streamable_http': {
      const key = (name: string): string => name.toLowerCase();
      const stored = previous.kind === 'streamable_http' ? storedSecrets(previous.headers, key) : new Map<string, string>();
      return { kind: 'streamable_http', url: next.url, headers: next.headers.map((p) => keepStored(p, stored.get(key(p.name)))) };
    }
  }
}

function storedSecrets(pairs: readonly SecretablePair[], key: (name: string) => string): Map<string, string> {
  const map = new Map<string, string>();
  // Names are unique in a valid definition; should duplicates ever exist, the first wins, deterministically.
  for (const p of pairs) if (p.secret && !map.has(key(p.name))) map.set(key(p.name), p.value);
  return map;
}

function keepStored(p: SecretablePair, stored: string | undefined): SecretablePair {
  const value = p.secret && p.value === REDACTED_SECRET_VALUE && stored !== undefined ? stored : p.value;
  return { name: p.name, value, secret: p.secret };
}

/**
 * Every non-empty secret value in `d`, de-duplicated: what a log or audit scrubber must never
 * let through (and what tests grep for). '' is left out because it is in every string.
 */
export function secretValues(d: { readonly transport: McpTransport | undefined }): string[] {
  const t = d.transport;
  if (t === undefined) return [];
  const pairs = t.kind === 'stdio' ? t.env : t.headers;
  return [...new Set(pairs.filter((p) => p.secret && p.value !== '').map((p) => p.value))];
}

/**
 * `text` with every occurrence of each secret value replaced by `[redacted]` (for errors and logs
 * that quote a server). Longest first: a secret that contains another is replaced whole.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  return [...secrets].sort((a, b) => b.length - a.length).reduce((t, secret) => t.split(secret).join('[redacted]'), text);
}
