import { formatTraceparent, parseTraceparent, parseTracestate, type TraceParent } from './traceparent';

/** The W3C Trace Context example ids. */
const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SID = '00f067aa0ba902b7';
const [ZERO_TID, ZERO_SID] = [`${'0'.repeat(31)}1`, `${'0'.repeat(15)}1`];
const tp = (version = '00', traceId = TID, spanId = SID, flags = '01') => `${version}-${traceId}-${spanId}-${flags}`;

describe('parseTraceparent: valid headers', () => {
  const cases: [string, string, TraceParent][] = [
    ['version 00, sampled', tp(), { traceId: TID, spanId: SID, flags: 1 }],
    ['version 00, not sampled', tp('00', TID, SID, '00'), { traceId: TID, spanId: SID, flags: 0 }],
    // Version 00 flags other than sampled are kept (e.g. Level 2's random bit, 0x02).
    ['version 00, unknown flag bits kept', tp('00', TID, SID, '03'), { traceId: TID, spanId: SID, flags: 3 }],
    ['ids of zeros and a one are not all-zero', tp('00', ZERO_TID, ZERO_SID), { traceId: ZERO_TID, spanId: ZERO_SID, flags: 1 }],
    // A later version is read by its first four fields, whatever follows a `-` after the flags.
    ['future version, no extra fields', tp('01'), { traceId: TID, spanId: SID, flags: 1 }],
    ['future version, extra fields', `${tp('01')}-what-the-future-will-be-like`, { traceId: TID, spanId: SID, flags: 1 }],
    ['future version, an empty extra field', `${tp('cc')}-`, { traceId: TID, spanId: SID, flags: 1 }],
    // ...and only its sampled bit is taken, the one flag known to mean the same in every version.
    ['future version: only the sampled bit of its flags', `${tp('cc', TID, SID, '09')}-x`, { traceId: TID, spanId: SID, flags: 1 }],
    ['future version: not sampled', `${tp('fe', TID, SID, '02')}-x`, { traceId: TID, spanId: SID, flags: 0 }],
    // Surrounding whitespace is HTTP optional whitespace, not part of the value.
    ['leading and trailing spaces', `  ${tp()}  `, { traceId: TID, spanId: SID, flags: 1 }],
    ['leading and trailing tabs', `\t${tp()}\t`, { traceId: TID, spanId: SID, flags: 1 }],
  ];
  it.each(cases)('%s', (_name, header, expected) => {
    expect(parseTraceparent(header)).toEqual(expected);
  });
});

describe('parseTraceparent: invalid headers (undefined: the trace restarts)', () => {
  const cases: [string, string | null | undefined][] = [
    ['undefined', undefined],
    ['null', null],
    ['empty', ''],
    ['only whitespace', '   '],
    ['garbage', 'not-a-traceparent'],
    // Lowercase hex only: uppercase makes the header invalid, it is not lower-cased.
    ['uppercase trace id', tp('00', TID.toUpperCase())],
    ['uppercase span id', tp('00', TID, SID.toUpperCase())],
    ['uppercase flags', tp('00', TID, SID, '0A')],
    ['uppercase version', tp('0A')],
    ['a single uppercase hex digit', tp('00', `${TID.slice(0, 31)}F`)],
    ['non-hex trace id', tp('00', `${TID.slice(0, 31)}g`)],
    ['non-hex span id', tp('00', TID, `${SID.slice(0, 15)}z`)],
    ['non-hex version', tp('0g')],
    ['trace id of 31', tp('00', TID.slice(1))],
    ['trace id of 33', tp('00', `${TID}0`)],
    ['span id of 15', tp('00', TID, SID.slice(1))],
    ['span id of 17', tp('00', TID, `${SID}0`)],
    ['version of 1', tp('0')],
    ['version of 3', tp('000')],
    ['all-zero trace id', tp('00', '0'.repeat(32))],
    ['all-zero span id', tp('00', TID, '0'.repeat(16))],
    ['all-zero trace id, future version', tp('01', '0'.repeat(32))],
    ['version ff', tp('ff')],
    ['version ff with extra fields', `${tp('ff')}-x`],
    // Version 00 is exactly 55 characters: nothing may follow its flags.
    ['version 00 with extra fields', `${tp()}-extra`],
    ['version 00 with a trailing dash', `${tp()}-`],
    ['future version, flags not followed by a dash', `${tp('01')}x`],
    ['future version, shorter than 55', tp('01', TID, SID, '1')],
    ['flags of 1', tp('00', TID, SID, '1')],
    ['flags of 3', tp('00', TID, SID, '001')],
    ['non-hex flags', tp('00', TID, SID, '0x')],
    ['negative-looking flags', tp('00', TID, SID, '-1')],
    ['missing flags', `00-${TID}-${SID}`],
    ['missing flags, trailing dash', `00-${TID}-${SID}-`],
    ['wrong separator', tp().replace(/-/g, '_')],
    ['whitespace inside', `00- ${TID}-${SID}-01`],
    ['a newline before extra fields', `${tp('01')}\n-x`],
    // Two traceparent headers, as Headers.get joins them: the spec says ignore both.
    ['two values joined', `${tp()}, ${tp('00', TID, 'b7ad6b7169203331')}`],
  ];
  it.each(cases)('%s', (_name, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });
});

describe('formatTraceparent', () => {
  const cases: [string, TraceParent, string][] = [
    ['sampled', { traceId: TID, spanId: SID, flags: 1 }, tp()],
    ['flags padded to two digits', { traceId: TID, spanId: SID, flags: 0 }, tp('00', TID, SID, '00')],
    ['flags in lowercase hex', { traceId: TID, spanId: SID, flags: 0xab }, tp('00', TID, SID, 'ab')],
  ];
  it.each(cases)('%s', (_name, parent, expected) => {
    expect(formatTraceparent(parent)).toBe(expected);
  });

  it.each([
    ['sampled', tp()],
    ['not sampled', tp('00', TID, SID, '00')],
    ['unknown flag bits', tp('00', TID, SID, 'ff')],
    ['other ids', tp('00', '0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331')],
  ])('round trip of version 00 (%s): format(parse(h)) is h', (_name, header) => {
    const parsed = parseTraceparent(header);
    expect(parsed).toBeDefined();
    expect(formatTraceparent(parsed!)).toBe(header);
    expect(parseTraceparent(formatTraceparent(parsed!))).toEqual(parsed);
  });

  it('propagates a later version as version 00: its four fields, none of its extra data', () => {
    expect(formatTraceparent(parseTraceparent(`${tp('01', TID, SID, '09')}-extra`)!)).toBe(tp('00', TID, SID, '01'));
  });

  it('forwards a header given with surrounding whitespace without it', () => {
    expect(formatTraceparent(parseTraceparent(` ${tp()}\t`)!)).toBe(tp());
  });
});

describe('parseTracestate (W3C list of key=value members, kept only when well-formed and within limits)', () => {
  it.each([
    ['one member', 'congo=t61rcWkgMzE', 'congo=t61rcWkgMzE'],
    ['two members', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'],
    ['a multi-tenant key', 'fw529a3039@dt=abc', 'fw529a3039@dt=abc'],
    ['spaces around members and empty members', ' a=1 , ,b=2 ', 'a=1,b=2'],
    ['a value with inner spaces', 'a=x y', 'a=x y'],
    ['32 members', Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(','), Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',')],
  ])('keeps %s', (_name, header, kept) => {
    expect(parseTracestate(header)).toBe(kept);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['33 members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
    ['over 512 characters', `a=${'x'.repeat(250)},b=${'y'.repeat(250)},c=${'z'.repeat(20)}`],
    ['an uppercase key', 'Congo=1'],
    ['a member without =', 'congo'],
    ['an empty value', 'congo='],
    ['a value with =', 'a=b=c'],
    ['a non-ASCII value', 'a=\u00e9'],
  ])('drops the whole header when %s', (_name, header) => {
    expect(parseTracestate(header)).toBe('');
  });
});

