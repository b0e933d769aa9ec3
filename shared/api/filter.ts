/**
 * A small, documented subset of the AIP-160 filter language for List RPCs.
 *
 * Grammar (whitespace between tokens is ignored):
 *
 *   filter     := "" | comparison { "AND" comparison }
 *   comparison := field op value
 *   op         := "=" | "!=" | "<" | "<=" | ">" | ">="
 *   value      := string | integer | identifier        (identifier covers enum names and true/false)
 *   string     := '"' chars '"' | "'" chars "'"       (escapes: \\ \" \' \n \r \t)
 *   integer    := [ "-" ] digit { digit }
 *
 * Deliberately NOT supported, each rejected with an INVALID_ARGUMENT that says so:
 * OR, NOT, "-" negation, parentheses, the has operator ":", implicit AND
 * (two comparisons separated only by whitespace), functions, bare text
 * search, and wildcards (a `*` inside a string is a literal star).
 * Keywords are case-sensitive as in AIP-160: `and` is not `AND`.
 *
 * What a field accepts is decided by its {@link FilterFieldSpec}, so every
 * mistake is reported against the field the caller wrote. Positions in error
 * messages are 1-based character offsets into the filter text.
 */
import { InvalidArgumentError } from '../errors/app-error';

export type FilterOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** How one filterable field is written by callers and where it lives in SQL. `column` is trusted (it comes from code, not the caller). */
export type FilterFieldSpec =
  /** Quoted string. Default ops: `=`, `!=`. */
  | { type: 'string'; column: string; ops?: FilterOp[] }
  /**
   * Enum name, bare or quoted, with or without `prefix` (`CREATE` or `ACTION_TYPE_CREATE`).
   * `values` maps names to numbers; keys may be short or prefixed. It is typed to also accept
   * a generated TS enum object as is (`values: ActionType`), whose reverse number→name
   * entries are ignored. The value resolves to the number. `*_UNSPECIFIED` is rejected.
   * Default ops: `=`, `!=`.
   */
  | { type: 'enum'; column: string; values: Readonly<Record<string, string | number>>; prefix: string; ops?: FilterOp[] }
  /** Integer literal, within int64; resolves to a bigint. Default ops: all. */
  | { type: 'int'; column: string; ops?: FilterOp[] }
  /** Quoted RFC 3339 timestamp with a time zone; resolves to a Date (millisecond precision). Default ops: all. */
  | { type: 'timestamp'; column: string; ops?: FilterOp[] }
  /** Bare `true` / `false`. Ops: `=`, `!=`. */
  | { type: 'bool'; column: string };

export interface FilterComparison {
  field: string;
  column: string;
  op: FilterOp;
  value: string | number | bigint | Date | boolean;
}

/** Longest accepted filter text. Bounds parse time and the size of error messages. */
export const MAX_FILTER_LENGTH = 2000;
/** Most comparisons in one filter. Bounds the SQL we generate. */
export const MAX_FILTER_COMPARISONS = 20;

const ALL_OPS: readonly FilterOp[] = ['=', '!=', '<', '<=', '>', '>='];
const EQUALITY_OPS: readonly FilterOp[] = ['=', '!='];
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Parses `text` against `fields`. Empty or whitespace-only text means "no filter" and yields [].
 * Throws InvalidArgumentError on field `filter` for any caller mistake.
 */
export function parseFilter(text: string, fields: Record<string, FilterFieldSpec>): FilterComparison[] {
  if (text.length > MAX_FILTER_LENGTH) {
    throw fail(`is ${text.length} characters long; the maximum is ${MAX_FILTER_LENGTH}`);
  }
  if (text.trim() === '') return [];

  const tokens = tokenize(text);
  let i = 0;
  const out: FilterComparison[] = [];

  for (;;) {
    if (out.length === MAX_FILTER_COMPARISONS) {
      throw fail(`has more than ${MAX_FILTER_COMPARISONS} comparisons; the maximum is ${MAX_FILTER_COMPARISONS}`);
    }
    const parsed = parseComparison(tokens, i, fields);
    out.push(parsed.comparison);
    i = parsed.next;

    const t = tokens[i]!;
    if (t.kind === 'end') return out;
    if (t.kind === 'ident' && t.text === 'AND') {
      i++;
      continue;
    }
    if (t.kind === 'ident' && (t.text === 'OR' || t.text === 'NOT')) {
      throw fail(`${t.text} is not supported (at position ${t.pos}); only AND can join comparisons`);
    }
    if (t.kind === 'ident' && (t.text.toUpperCase() === 'AND' || t.text.toUpperCase() === 'OR')) {
      throw fail(`expected AND or end of filter at position ${t.pos}, got "${t.text}"; keywords are case-sensitive, write AND`);
    }
    throw fail(`expected AND or end of filter at position ${t.pos}, got ${describe(t)}; comparisons must be joined with AND`);
  }
}

/**
 * Renders comparisons as a SQL conjunction with positional parameters `$startIndex`, `$startIndex+1`, ….
 * Returns `{ sql: '', bind: [] }` for no comparisons so callers can skip the WHERE clause.
 *
 * `!=` becomes `IS DISTINCT FROM` so that rows whose column is NULL count as "not equal"
 * (proto fields have no null; a caller asking `trace_id != "x"` expects rows without a trace).
 * Bind values: Date stays a Date, bigint becomes a decimal string (pg has no bigint input), the rest as is.
 */
export function filterToSql(comparisons: readonly FilterComparison[], startIndex: number): { sql: string; bind: unknown[] } {
  if (!Number.isInteger(startIndex) || startIndex < 1) {
    throw new RangeError(`filterToSql: startIndex must be an integer >= 1, got ${startIndex}`);
  }
  const sql = comparisons
    .map((c, i) => `${quoteColumn(c.column)} ${c.op === '!=' ? 'IS DISTINCT FROM' : c.op} $${startIndex + i}`)
    .join(' AND ');
  const bind = comparisons.map((c) => (typeof c.value === 'bigint' ? c.value.toString() : c.value));
  return { sql, bind };
}

/** Double-quotes an identifier; `table.column` is quoted per part. Embedded quotes are doubled. */
function quoteColumn(column: string): string {
  return column
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

// ---------------------------------------------------------------------------
// Tokenizer

type Token =
  | { kind: 'ident'; text: string; pos: number }
  | { kind: 'string'; value: string; text: string; pos: number }
  | { kind: 'int'; text: string; pos: number }
  | { kind: 'op'; op: FilterOp; text: string; pos: number }
  | { kind: 'end'; pos: number };

const WHITESPACE = /\s/;
const IDENT_START = /[A-Za-z_]/;
// Dots are allowed so that a traversal like `labels.env` is reported as an unknown field, not a stray character.
const IDENT_PART = /[A-Za-z0-9_.]/;
const DIGIT = /[0-9]/;
// Characters that may legally follow an integer literal.
const AFTER_INT = /[\s=!<>()'"]/;
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', "'": "'", n: '\n', r: '\r', t: '\t' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const pos = i + 1;
    if (WHITESPACE.test(c)) {
      i++;
    } else if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < text.length && IDENT_PART.test(text[j]!)) j++;
      tokens.push({ kind: 'ident', text: text.slice(i, j), pos });
      i = j;
    } else if (DIGIT.test(c) || (c === '-' && DIGIT.test(text[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < text.length && DIGIT.test(text[j]!)) j++;
      if (j < text.length && !AFTER_INT.test(text[j]!)) {
        // e.g. `1.5`, `12abc`, or an unquoted timestamp `2026-01-01T00:00:00Z`.
        let k = j;
        while (k < text.length && !WHITESPACE.test(text[k]!)) k++;
        throw fail(
          `unexpected value "${text.slice(i, k)}" at position ${pos}; numbers must be integers, strings and timestamps must be quoted`,
        );
      }
      tokens.push({ kind: 'int', text: text.slice(i, j), pos });
      i = j;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= text.length) throw fail(`unterminated string starting at position ${pos}`);
        const d = text[j]!;
        if (d === c) break;
        if (d === '\\') {
          const e = text[j + 1];
          if (e === undefined) throw fail(`unterminated string starting at position ${pos}`);
          const unescaped = ESCAPES[e];
          if (unescaped === undefined) {
            throw fail(`invalid escape "\\${e}" at position ${j + 1}; allowed escapes: \\\\ \\" \\' \\n \\r \\t`);
          }
          value += unescaped;
          j += 2;
        } else {
          value += d;
          j++;
        }
      }
      tokens.push({ kind: 'string', value, text: text.slice(i, j + 1), pos });
      i = j + 1;
    } else if (c === '<' || c === '>' || c === '=' || (c === '!' && text[i + 1] === '=')) {
      const two = text.slice(i, i + 2);
      const op = (two === '<=' || two === '>=' || two === '!=' ? two : c) as FilterOp;
      tokens.push({ kind: 'op', op, text: op, pos });
      i += op.length;
    } else if (c === '(' || c === ')') {
      throw fail(`parentheses are not supported (at position ${pos}); join comparisons with AND only`);
    } else if (c === ':') {
      throw fail(`the has operator ":" is not supported (at position ${pos}); use = or !=`);
    } else if (c === '-') {
      throw fail(`negation with "-" is not supported (at position ${pos})`);
    } else {
      throw fail(`unexpected character "${c}" at position ${pos}`);
    }
  }
  tokens.push({ kind: 'end', pos: text.length + 1 });
  return tokens;
}

function describe(t: Token): string {
  if (t.kind === 'end') return 'end of filter';
  // A string token's text already carries its quotes.
  return t.kind === 'string' ? t.text : `"${t.text}"`;
}

// ---------------------------------------------------------------------------
// Parser

function parseComparison(
  tokens: readonly Token[],
  start: number,
  fields: Record<string, FilterFieldSpec>,
): { comparison: FilterComparison; next: number } {
  const f = tokens[start]!;
  if (f.kind === 'ident' && f.text === 'NOT') {
    throw fail(`NOT is not supported (at position ${f.pos})`);
  }
  if (f.kind !== 'ident' || f.text === 'AND' || f.text === 'OR') {
    throw fail(`expected a field name at position ${f.pos}, got ${describe(f)}`);
  }
  // hasOwn: a caller writing `constructor` or `__proto__` must not reach Object.prototype.
  const spec = Object.hasOwn(fields, f.text) ? fields[f.text] : undefined;
  if (!spec) {
    throw fail(`unknown field "${f.text}" at position ${f.pos}; allowed: ${Object.keys(fields).sort().join(', ')}`);
  }

  const o = tokens[start + 1]!;
  if (o.kind !== 'op') {
    throw fail(`expected a comparison operator (${ALL_OPS.join(', ')}) after "${f.text}" at position ${o.pos}, got ${describe(o)}`);
  }
  const ops = allowedOps(spec);
  if (!ops.includes(o.op)) {
    throw fail(`operator "${o.op}" is not supported for field "${f.text}" at position ${o.pos}; allowed: ${ops.join(', ')}`);
  }

  const v = tokens[start + 2]!;
  if (v.kind === 'end' || v.kind === 'op') {
    throw fail(`expected a value after "${f.text} ${o.op}" at position ${v.pos}, got ${describe(v)}`);
  }
  const value = convertValue(f.text, spec, v);
  return { comparison: { field: f.text, column: spec.column, op: o.op, value }, next: start + 3 };
}

function allowedOps(spec: FilterFieldSpec): readonly FilterOp[] {
  switch (spec.type) {
    case 'string':
    case 'enum':
      return spec.ops ?? EQUALITY_OPS;
    case 'int':
    case 'timestamp':
      return spec.ops ?? ALL_OPS;
    case 'bool':
      return EQUALITY_OPS;
  }
}

type ValueToken = Exclude<Token, { kind: 'end' } | { kind: 'op' }>;

function convertValue(field: string, spec: FilterFieldSpec, v: ValueToken): FilterComparison['value'] {
  const at = `at position ${v.pos}`;
  switch (spec.type) {
    case 'string':
      if (v.kind !== 'string') throw fail(`field "${field}" expects a quoted string (e.g. "abc") ${at}, got ${describe(v)}`);
      return v.value;

    case 'enum': {
      const names = enumNames(spec.values, spec.prefix);
      const list = `allowed: ${[...names.keys()].join(', ')} (the ${spec.prefix} prefix is optional)`;
      if (v.kind !== 'ident' && v.kind !== 'string') {
        throw fail(`field "${field}" expects an enum name ${at}, got ${describe(v)}; ${list}`);
      }
      const raw = v.kind === 'string' ? v.value : v.text;
      const short = raw.startsWith(spec.prefix) ? raw.slice(spec.prefix.length) : raw;
      if (short === 'UNSPECIFIED') {
        throw fail(`${spec.prefix}UNSPECIFIED is not a valid value for field "${field}" ${at}; ${list}`);
      }
      const number = names.get(short);
      if (number === undefined) throw fail(`unknown value "${raw}" for field "${field}" ${at}; ${list}`);
      return number;
    }

    case 'int': {
      if (v.kind !== 'int') throw fail(`field "${field}" expects an integer ${at}, got ${describe(v)}`);
      const n = BigInt(v.text);
      if (n < INT64_MIN || n > INT64_MAX) {
        throw fail(`integer ${v.text} for field "${field}" ${at} is out of the 64-bit signed range`);
      }
      return n;
    }

    case 'timestamp': {
      if (v.kind !== 'string') {
        throw fail(`field "${field}" expects a quoted RFC 3339 timestamp (e.g. "2026-01-01T00:00:00Z") ${at}, got ${describe(v)}`);
      }
      const parsed = parseRfc3339(v.value);
      if (typeof parsed === 'string') {
        throw fail(`invalid timestamp ${v.text} for field "${field}" ${at}: ${parsed}`);
      }
      return parsed;
    }

    case 'bool':
      if (v.kind === 'ident' && (v.text === 'true' || v.text === 'false')) return v.text === 'true';
      throw fail(`field "${field}" expects true or false ${at}, got ${describe(v)}`);
  }
}

/** Short enum names (prefix stripped) → number, in numeric order, without UNSPECIFIED. */
function enumNames(values: Readonly<Record<string, string | number>>, prefix: string): Map<string, number> {
  const entries = Object.entries(values)
    // TS numeric enums also carry reverse entries ("1" → "CREATE"); keep name → number only.
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, n]) => [name.startsWith(prefix) ? name.slice(prefix.length) : name, n] as const)
    .filter(([name]) => name !== 'UNSPECIFIED')
    .sort((a, b) => a[1] - b[1]);
  return new Map(entries);
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?$/;

/**
 * Returns the Date for a valid RFC 3339 timestamp, or a description of what is wrong.
 * Checked by hand because Date.parse is lenient (it accepts `02-30`, `24:00` and zone-less text).
 * Sub-millisecond digits must be zero: a Date cannot hold them, and silently truncating
 * `> "…00.0005Z"` to `> "…00.000Z"` would return rows the caller excluded.
 */
function parseRfc3339(s: string): Date | string {
  const example = 'expected RFC 3339 like "2026-01-01T00:00:00Z" or "2026-01-01T02:00:00+02:00"';
  const m = RFC3339.exec(s);
  if (!m) return example;
  const [, y, mo, d, h, mi, sec, frac = '', z, sign, oh, om] = m;
  if (z === undefined && sign === undefined) return `it has no time zone; append "Z" or an offset like "+02:00"`;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12) return `month ${mo} is not 01-12`;
  const daysInMonth = [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  if (day < 1 || day > daysInMonth) return `day ${d} does not exist in ${y}-${mo}`;
  if (Number(h) > 23) return `hour ${h} is not 00-23`;
  if (Number(mi) > 59) return `minute ${mi} is not 00-59`;
  if (Number(sec) > 59) return `second ${sec} is not 00-59`;
  if (/[1-9]/.test(frac.slice(3))) return 'sub-millisecond precision is not supported';
  if (sign !== undefined && (Number(oh) > 23 || Number(om) > 59)) return `offset ${sign}${oh}:${om} is not a valid time zone offset`;

  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(Number(h), Number(mi), Number(sec), Number(frac.padEnd(3, '0').slice(0, 3)));
  const offsetMinutes = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  return new Date(date.getTime() - offsetMinutes * 60_000);
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function fail(description: string): InvalidArgumentError {
  return InvalidArgumentError.field('filter', description);
}
