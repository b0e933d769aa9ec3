/**
 * Wall-clock milliseconds with sub-millisecond precision (performance.timeOrigin + now()),
 * comparable across processes on the same machine and with timestamps the services record
 * (Node's Date.now(), PostgreSQL's clock_timestamp()): all read the same kernel clock.
 */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

/** A protobuf Timestamp ({ seconds: bigint, nanos }) as wall-clock milliseconds; NaN when absent. */
export function timestampToMs(t: { seconds: bigint; nanos: number } | undefined): number {
  return t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : NaN;
}
