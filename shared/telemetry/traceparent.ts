/** W3C trace context (`traceparent`), parsed and formatted without needing an SDK. */
export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: number;
}

// Lowercase hex only: the spec makes a header with uppercase hex invalid, not something to fix up.
// A version after 00 may append `-`-separated fields; its first four are read as version 00's.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const SAMPLED = 0x01;

/**
 * Undefined for a missing or malformed header, version ff, version 00 with anything after the
 * flags, or the all-zero ids the spec declares invalid. Surrounding whitespace is not part of
 * the value (HTTP optional whitespace) and is ignored.
 */
export function parseTraceparent(header: string | null | undefined): TraceParent | undefined {
  const m = TRACEPARENT.exec(header?.trim() ?? '');
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined) || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  const flags = parseInt(m[4]!, 16);
  // Of a later version's flags only the sampled bit is known to mean what it means in 00.
  return { traceId: m[2]!, spanId: m[3]!, flags: m[1] === '00' ? flags : flags & SAMPLED };
}

/** Always version 00, the one this code speaks, whatever version the parent was parsed from. */
export function formatTraceparent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags.toString(16).padStart(2, '0')}`;
}

/** W3C: at most 32 list members; 512 characters is what every vendor must propagate, so the most kept. */
const TRACESTATE_MAX_MEMBERS = 32;
const TRACESTATE_MAX_LENGTH = 512;
// key = simple-key / tenant@system; value = printable ASCII without ',' and '=', not ending in a space.
const TRACESTATE_MEMBER = /^[a-z0-9][_0-9a-z*/-]{0,240}(@[a-z][_0-9a-z*/-]{0,13})?=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * The `tracestate` to record and pass on, or '' when it is malformed or over the limits (the
 * spec lets a receiver drop it whole): it is stored in every audit entry of the request, so it
 * must stay small and well-formed. Empty list members (", ,") are allowed and dropped.
 */
export function parseTracestate(header: string | null | undefined): string {
  const value = header?.trim() ?? '';
  if (value === '' || value.length > TRACESTATE_MAX_LENGTH) return '';
  const members = value.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (members.length > TRACESTATE_MAX_MEMBERS || !members.every((m) => TRACESTATE_MEMBER.test(m))) return '';
  return members.join(',');
}
