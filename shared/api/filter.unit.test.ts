import { InvalidArgumentError } from '../errors/app-error';
import { ActionType } from '../gen/mcpbackend/audit/v1/action_log_entry_pb';
import { FilterComparison, FilterFieldSpec, filterToSql, parseFilter } from './filter';

const FIELDS: Record<string, FilterFieldSpec> = {
  actor_id: { type: 'string', column: 'actor_id' },
  // The generated TS enum itself: short keys plus reverse number→name entries.
  action_type: { type: 'enum', column: 'action_type', values: ActionType, prefix: 'ACTION_TYPE_' },
  // Prefixed keys, as a hand-written map might have them.
  entity_type: {
    type: 'enum',
    column: 'entity_type',
    values: { ENTITY_TYPE_UNSPECIFIED: 0, ENTITY_TYPE_SERVER: 1, ENTITY_TYPE_WORKFLOW_RUN: 2 },
    prefix: 'ENTITY_TYPE_',
  },
  seq: { type: 'int', column: 'seq' },
  occur_time: { type: 'timestamp', column: 'occur_time' },
  record_time: { type: 'timestamp', column: 'record_time', ops: ['<', '>='] },
  deleted: { type: 'bool', column: 'is_deleted' },
};
const ALLOWED = 'action_type, actor_id, deleted, entity_type, occur_time, record_time, seq';
const ACTIONS = 'allowed: CREATE, UPDATE, DELETE, EXECUTE, READ (the ACTION_TYPE_ prefix is optional)';

const one = (text: string): FilterComparison => {
  const result = parseFilter(text, FIELDS);
  expect(result).toHaveLength(1);
  return result[0]!;
};

describe('parseFilter: accepted input', () => {
  it('empty or whitespace → no comparisons', () => {
    expect(parseFilter('', FIELDS)).toEqual([]);
    expect(parseFilter(' \t\n ', FIELDS)).toEqual([]);
  });

  it('parses the documented example', () => {
    expect(
      parseFilter('entity_type = WORKFLOW_RUN AND actor_id = "r-1" AND occur_time >= "2026-01-01T00:00:00Z"', FIELDS),
    ).toEqual([
      { field: 'entity_type', column: 'entity_type', op: '=', value: 2 },
      { field: 'actor_id', column: 'actor_id', op: '=', value: 'r-1' },
      { field: 'occur_time', column: 'occur_time', op: '>=', value: new Date('2026-01-01T00:00:00Z') },
    ]);
  });

  it('needs no whitespace around operators', () => {
    expect(parseFilter('seq>=5 AND seq<10', FIELDS).map((c) => [c.op, c.value])).toEqual([
      ['>=', 5n],
      ['<', 10n],
    ]);
  });

  it.each(['=', '!=', '<', '<=', '>', '>='] as const)('int supports %s by default', (op) => {
    expect(one(`seq ${op} 7`).op).toBe(op);
  });

  it('parses negative integers and the int64 bounds', () => {
    expect(one('seq > -3').value).toBe(-3n);
    expect(one('seq <= 9223372036854775807').value).toBe(9223372036854775807n);
    expect(one('seq >= -9223372036854775808').value).toBe(-9223372036854775808n);
  });

  it('parses strings with either quote and escapes', () => {
    expect(one(`actor_id = 'it\\'s'`).value).toBe("it's");
    expect(one(`actor_id = "a\\"b\\\\c\\n\\r\\t"`).value).toBe('a"b\\c\n\r\t');
    expect(one(`actor_id != "AND OR ( ) : *"`)).toEqual({ field: 'actor_id', column: 'actor_id', op: '!=', value: 'AND OR ( ) : *' });
    expect(one('actor_id = ""').value).toBe('');
  });

  it.each([
    ['action_type = CREATE', 1],
    ['action_type = ACTION_TYPE_UPDATE', 2],
    ['action_type = "DELETE"', 3],
    ["action_type != 'ACTION_TYPE_EXECUTE'", 4],
    ['entity_type = SERVER', 1],
    ['entity_type = ENTITY_TYPE_WORKFLOW_RUN', 2],
  ])('resolves enum %s', (text, value) => {
    expect(one(text).value).toBe(value);
  });

  it('parses booleans', () => {
    expect(one('deleted = true')).toEqual({ field: 'deleted', column: 'is_deleted', op: '=', value: true });
    expect(one('deleted != false').value).toBe(false);
  });

  it.each([
    ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01t00:00:00z', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T02:30:00+02:30', '2026-01-01T00:00:00.000Z'],
    ['2025-12-31T19:00:00-05:00', '2026-01-01T00:00:00.000Z'],
    ['2026-01-01T00:00:00.5Z', '2026-01-01T00:00:00.500Z'],
    ['2026-01-01T00:00:00.123000000Z', '2026-01-01T00:00:00.123Z'],
    ['2024-02-29T23:59:59Z', '2024-02-29T23:59:59.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
  ])('parses timestamp %s', (text, iso) => {
    const value = one(`occur_time > "${text}"`).value;
    expect(value).toBeInstanceOf(Date);
    expect((value as Date).toISOString()).toBe(iso);
  });

  it('honours per-field ops', () => {
    expect(one('record_time < "2026-01-01T00:00:00Z"').op).toBe('<');
  });

  it('accepts exactly 20 comparisons and exactly 2,000 characters', () => {
    expect(parseFilter(Array(20).fill('seq > 1').join(' AND '), FIELDS)).toHaveLength(20);
    const text = `actor_id = "${'x'.repeat(2000 - 'actor_id = ""'.length)}"`;
    expect(text).toHaveLength(2000);
    expect(parseFilter(text, FIELDS)).toHaveLength(1);
  });
});

describe('parseFilter: rejected input (INVALID_ARGUMENT on "filter")', () => {
  it.each([
    // Structure
    ['colour = "red"', `filter: unknown field "colour" at position 1; allowed: ${ALLOWED}`],
    ['seq > 1 AND colour = "red"', `filter: unknown field "colour" at position 13; allowed: ${ALLOWED}`],
    ['constructor = "x"', `filter: unknown field "constructor" at position 1; allowed: ${ALLOWED}`],
    ['labels.env = "x"', `filter: unknown field "labels.env" at position 1; allowed: ${ALLOWED}`],
    ['"seq" = 1', 'filter: expected a field name at position 1, got "seq"'],
    ['5 = seq', 'filter: expected a field name at position 1, got "5"'],
    ['AND seq = 1', 'filter: expected a field name at position 1, got "AND"'],
    ['seq = 1 AND', 'filter: expected a field name at position 12, got end of filter'],
    ['seq = 1 AND AND seq = 2', 'filter: expected a field name at position 13, got "AND"'],
    ['seq = 1 AND = 2', 'filter: expected a field name at position 13, got "="'],
    ['seq', 'filter: expected a comparison operator (=, !=, <, <=, >, >=) after "seq" at position 4, got end of filter'],
    ['seq 5', 'filter: expected a comparison operator (=, !=, <, <=, >, >=) after "seq" at position 5, got "5"'],
    ['seq =', 'filter: expected a value after "seq =" at position 6, got end of filter'],
    ['seq = = 1', 'filter: expected a value after "seq =" at position 7, got "="'],
    ['seq = 1 seq = 2', 'filter: expected AND or end of filter at position 9, got "seq"; comparisons must be joined with AND'],
    ['seq = 1 "x"', 'filter: expected AND or end of filter at position 9, got "x"; comparisons must be joined with AND'],
    ['seq = 1 and seq = 2', 'filter: expected AND or end of filter at position 9, got "and"; keywords are case-sensitive, write AND'],
    ['seq = 1 or seq = 2', 'filter: expected AND or end of filter at position 9, got "or"; keywords are case-sensitive, write AND'],
    // Unsupported AIP-160 features
    ['seq = 1 OR seq = 2', 'filter: OR is not supported (at position 9); only AND can join comparisons'],
    ['seq = 1 NOT seq = 2', 'filter: NOT is not supported (at position 9); only AND can join comparisons'],
    ['NOT seq = 1', 'filter: NOT is not supported (at position 1)'],
    ['seq = 1 AND NOT seq = 2', 'filter: NOT is not supported (at position 13)'],
    ['(seq = 1)', 'filter: parentheses are not supported (at position 1); join comparisons with AND only'],
    ['seq = 1 AND (seq = 2 OR seq = 3)', 'filter: parentheses are not supported (at position 13); join comparisons with AND only'],
    ['seq = 1)', 'filter: parentheses are not supported (at position 8); join comparisons with AND only'],
    ['actor_id:"x"', 'filter: the has operator ":" is not supported (at position 9); use = or !='],
    ['-seq = 1', 'filter: negation with "-" is not supported (at position 1)'],
    ['seq ~ 1', 'filter: unexpected character "~" at position 5'],
    ['seq ! 1', 'filter: unexpected character "!" at position 5'],
    ['seq == 1', 'filter: expected a value after "seq =" at position 6, got "="'],
    ['actor_id = "x" \u00a7', 'filter: unexpected character "\u00a7" at position 16'],
    // Literals
    ['actor_id = "abc', 'filter: unterminated string starting at position 12'],
    ["actor_id = 'abc\\'", 'filter: unterminated string starting at position 12'],
    ['actor_id = "abc\\', 'filter: unterminated string starting at position 12'],
    ['actor_id = "a\\x"', 'filter: invalid escape "\\x" at position 14; allowed escapes: \\\\ \\" \\\' \\n \\r \\t'],
    ['seq = 1.5', 'filter: unexpected value "1.5" at position 7; numbers must be integers, strings and timestamps must be quoted'],
    ['seq = 12abc', 'filter: unexpected value "12abc" at position 7; numbers must be integers, strings and timestamps must be quoted'],
    [
      'occur_time > 2026-01-01T00:00:00Z',
      'filter: unexpected value "2026-01-01T00:00:00Z" at position 14; numbers must be integers, strings and timestamps must be quoted',
    ],
    // Operators per field
    ['actor_id < "x"', 'filter: operator "<" is not supported for field "actor_id" at position 10; allowed: =, !='],
    ['action_type >= CREATE', 'filter: operator ">=" is not supported for field "action_type" at position 13; allowed: =, !='],
    ['deleted > false', 'filter: operator ">" is not supported for field "deleted" at position 9; allowed: =, !='],
    ['record_time = "2026-01-01T00:00:00Z"', 'filter: operator "=" is not supported for field "record_time" at position 13; allowed: <, >='],
    // Values per type
    ['actor_id = bob', 'filter: field "actor_id" expects a quoted string (e.g. "abc") at position 12, got "bob"'],
    ['actor_id = 42', 'filter: field "actor_id" expects a quoted string (e.g. "abc") at position 12, got "42"'],
    ['action_type = 1', `filter: field "action_type" expects an enum name at position 15, got "1"; ${ACTIONS}`],
    ['action_type = DESTROY', `filter: unknown value "DESTROY" for field "action_type" at position 15; ${ACTIONS}`],
    ['action_type = create', `filter: unknown value "create" for field "action_type" at position 15; ${ACTIONS}`],
    ['action_type = "ACTION_TYPE_NOPE"', `filter: unknown value "ACTION_TYPE_NOPE" for field "action_type" at position 15; ${ACTIONS}`],
    ['action_type = ENTITY_TYPE_SERVER', `filter: unknown value "ENTITY_TYPE_SERVER" for field "action_type" at position 15; ${ACTIONS}`],
    ['action_type = UNSPECIFIED', `filter: ACTION_TYPE_UNSPECIFIED is not a valid value for field "action_type" at position 15; ${ACTIONS}`],
    [
      'entity_type = ENTITY_TYPE_UNSPECIFIED',
      'filter: ENTITY_TYPE_UNSPECIFIED is not a valid value for field "entity_type" at position 15; ' +
        'allowed: SERVER, WORKFLOW_RUN (the ENTITY_TYPE_ prefix is optional)',
    ],
    ['seq = "5"', 'filter: field "seq" expects an integer at position 7, got "5"'],
    ['seq = five', 'filter: field "seq" expects an integer at position 7, got "five"'],
    ['seq > 9223372036854775808', 'filter: integer 9223372036854775808 for field "seq" at position 7 is out of the 64-bit signed range'],
    ['seq > -9223372036854775809', 'filter: integer -9223372036854775809 for field "seq" at position 7 is out of the 64-bit signed range'],
    ['deleted = "true"', 'filter: field "deleted" expects true or false at position 11, got "true"'],
    ['deleted = TRUE', 'filter: field "deleted" expects true or false at position 11, got "TRUE"'],
    ['deleted = 1', 'filter: field "deleted" expects true or false at position 11, got "1"'],
    [
      'occur_time > 5',
      'filter: field "occur_time" expects a quoted RFC 3339 timestamp (e.g. "2026-01-01T00:00:00Z") at position 14, got "5"',
    ],
  ])('%s', (text, message) => {
    expectInvalidFilter(text, message);
  });

  const EXAMPLE = 'expected RFC 3339 like "2026-01-01T00:00:00Z" or "2026-01-01T02:00:00+02:00"';
  it.each([
    ['yesterday', EXAMPLE],
    ['2026-01-01', EXAMPLE],
    ['2026-01-01 00:00:00Z', EXAMPLE],
    ['2026-1-01T00:00:00Z', EXAMPLE],
    ['2026-01-01T00:00Z', EXAMPLE],
    ['2026-01-01T00:00:00+0200', EXAMPLE],
    ['2026-01-01T00:00:00.Z', EXAMPLE],
    ['2026-01-01T00:00:00.1234567890Z', EXAMPLE],
    ['2026-01-01T00:00:00', 'it has no time zone; append "Z" or an offset like "+02:00"'],
    ['2026-01-01T00:00:00.5', 'it has no time zone; append "Z" or an offset like "+02:00"'],
    ['2026-13-01T00:00:00Z', 'month 13 is not 01-12'],
    ['2026-00-01T00:00:00Z', 'month 00 is not 01-12'],
    ['2026-02-29T00:00:00Z', 'day 29 does not exist in 2026-02'],
    ['1900-02-29T00:00:00Z', 'day 29 does not exist in 1900-02'],
    ['2026-04-31T00:00:00Z', 'day 31 does not exist in 2026-04'],
    ['2026-01-00T00:00:00Z', 'day 00 does not exist in 2026-01'],
    ['2026-01-01T24:00:00Z', 'hour 24 is not 00-23'],
    ['2026-01-01T00:60:00Z', 'minute 60 is not 00-59'],
    ['2026-12-31T23:59:60Z', 'second 60 is not 00-59'],
    ['2026-01-01T00:00:00.0001Z', 'sub-millisecond precision is not supported'],
    ['2026-01-01T00:00:00+24:00', 'offset +24:00 is not a valid time zone offset'],
    ['2026-01-01T00:00:00-01:60', 'offset -01:60 is not a valid time zone offset'],
  ])('rejects timestamp %s', (ts, problem) => {
    expectInvalidFilter(`occur_time > "${ts}"`, `filter: invalid timestamp "${ts}" for field "occur_time" at position 14: ${problem}`);
  });

  it('rejects more than 20 comparisons', () => {
    expectInvalidFilter(Array(21).fill('seq > 1').join(' AND '), 'filter: has more than 20 comparisons; the maximum is 20');
  });

  it('rejects text longer than 2,000 characters, even if only whitespace', () => {
    expectInvalidFilter(' '.repeat(2001), 'filter: is 2001 characters long; the maximum is 2000');
  });
});

describe('filterToSql', () => {
  it('renders nothing for no comparisons', () => {
    expect(filterToSql([], 1)).toEqual({ sql: '', bind: [] });
  });

  it('renders quoted columns, positional params from startIndex and converted binds', () => {
    const comparisons = parseFilter(
      'seq > 5 AND action_type = CREATE AND actor_id != "bob" AND occur_time <= "2026-01-01T00:00:00Z" AND deleted = false',
      FIELDS,
    );
    expect(filterToSql(comparisons, 3)).toEqual({
      sql:
        '"seq" > $3 AND "action_type" = $4 AND "actor_id" IS DISTINCT FROM $5 AND "occur_time" <= $6 AND "is_deleted" = $7',
      bind: ['5', 1, 'bob', new Date('2026-01-01T00:00:00Z'), false],
    });
  });

  it('quotes qualified and odd column names safely', () => {
    const c = (column: string): FilterComparison => ({ field: 'f', column, op: '=', value: 'v' });
    expect(filterToSql([c('e.seq'), c('we"ird')], 1).sql).toBe('"e"."seq" = $1 AND "we""ird" = $2');
  });

  it('rejects a bad startIndex (programming error)', () => {
    expect(() => filterToSql([], 0)).toThrow('filterToSql: startIndex must be an integer >= 1, got 0');
    expect(() => filterToSql([], 1.5)).toThrow(RangeError);
  });
});

function expectInvalidFilter(text: string, message: string): void {
  let error: unknown;
  try {
    parseFilter(text, FIELDS);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect((error as InvalidArgumentError).violations).toEqual([{ field: 'filter', description: message.replace(/^filter: /, '') }]);
  expect((error as Error).message).toBe(message);
}
