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
  return write(value, [], 'value');
}

function write(value: unknown, ancestors: object[], path: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is ${value}, which has no JSON form`);
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'undefined':
      // Only reachable at the top level or inside arrays (object members are filtered out before).
      return 'null';
    case 'function':
    case 'symbol':
      throw new TypeError(`canonicalJson: ${path} is a ${typeof value}, which has no JSON form`);
    case 'object':
      break;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (obj instanceof Date) {
    if (Number.isNaN(obj.getTime())) throw new TypeError(`canonicalJson: ${path} is an invalid Date`);
    return JSON.stringify(obj.toISOString());
  }
  if (ArrayBuffer.isView(obj)) {
    return JSON.stringify(Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength).toString('base64'));
  }
  if (obj instanceof Map || obj instanceof Set) {
    throw new TypeError(`canonicalJson: ${path} is a ${obj.constructor.name}; convert it to an object or array first`);
  }
  if (ancestors.includes(obj)) throw new TypeError(`canonicalJson: ${path} is a circular reference`);
  ancestors.push(obj);
  try {
    if (Array.isArray(obj)) {
      return `[${obj.map((item, i) => write(item, ancestors, `${path}[${i}]`)).join(',')}]`;
    }
    const record = obj as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${write(record[key], ancestors, `${path}.${key}`)}`);
    return `{${members.join(',')}}`;
  } finally {
    ancestors.pop();
  }
}
