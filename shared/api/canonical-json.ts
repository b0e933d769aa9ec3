/**
 * Canonical JSON: one byte-exact text per logical value, so that hashes over it
 * (page-token fingerprints, etags) do not depend on key insertion order or on
 * types JSON.stringify handles badly.
 *
 * Rules:
 * - object keys sorted (UTF-16 code unit order, i.e. `Array.prototype.sort`), recursively;
 * - no whitespace;
 * - `undefined` object members are dropped (as JSON.stringify does), `undefined` array items become `null`;
 * - Date → its ISO-8601 string, bigint → decimal string, Uint8Array/other typed arrays → base64 string;
 * - NaN/Infinity, functions, symbols, Map/Set, invalid Dates and cycles throw a TypeError:
 *   JSON.stringify would silently turn them into `null`/`{}`, and two different values
 *   hashing the same is exactly the bug this module exists to prevent.
 */
export function canonicalJson(value: unknown): string {
  return write(value, [], []);
}

/**
 * `ancestors` detects cycles; `at` holds the keys and indexes leading to `value`, turned into
 * a path string only for an error message (this runs for every audit entry hashed, so the
 * happy path builds no strings it does not return).
 */
function write(value: unknown, ancestors: object[], at: (string | number)[]): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${pathOf(at)} is ${value}, which has no JSON form`);
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'undefined':
      // Only reachable at the top level or inside arrays (object members are filtered out before).
      return 'null';
    case 'function':
    case 'symbol':
      throw new TypeError(`canonicalJson: ${pathOf(at)} is a ${typeof value}, which has no JSON form`);
    case 'object':
      break;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (obj instanceof Date) {
    if (Number.isNaN(obj.getTime())) throw new TypeError(`canonicalJson: ${pathOf(at)} is an invalid Date`);
    return JSON.stringify(obj.toISOString());
  }
  if (ArrayBuffer.isView(obj)) {
    return JSON.stringify(Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString('base64'));
  }
  if (obj instanceof Map || obj instanceof Set) {
    throw new TypeError(`canonicalJson: ${pathOf(at)} is a ${obj.constructor.name}; convert it to an object or array first`);
  }
  if (ancestors.includes(obj)) throw new TypeError(`canonicalJson: ${pathOf(at)} is a circular reference`);
  ancestors.push(obj);
  try {
    let out: string;
    if (Array.isArray(obj)) {
      out = '[';
      for (let i = 0; i < obj.length; i++) {
        at.push(i);
        out += (i ? ',' : '') + write(obj[i], ancestors, at);
        at.pop();
      }
      return out + ']';
    }
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    out = '{';
    for (const key of keys) {
      const member = record[key];
      if (member === undefined) continue;
      at.push(key);
      out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + write(member, ancestors, at);
      at.pop();
    }
    return out + '}';
  } finally {
    ancestors.pop();
  }
}

function pathOf(at: readonly (string | number)[]): string {
  return at.reduce<string>((path, step) => (typeof step === 'number' ? `${path}[${step}]` : `${path}.${step}`), 'value');
}
