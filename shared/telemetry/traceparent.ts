/** W3C trace context (`traceparent`), parsed and formatted without needing an SDK. */
export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: number;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Undefined for a missing or malformed header, or the all-zero ids the spec declares invalid. */
export function parseTraceparent(header: string | null | undefined): TraceParent | undefined {
  const m = TRACEPARENT.exec(header?.trim().toLowerCase() ?? '');
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, flags: parseInt(m[3]!, 16) };
}

export function formatTraceparent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags.toString(16).padStart(2, '0')}`;
}
