import { randomBytes } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { setupTelemetry, type Telemetry } from '../../../shared/telemetry/setup-telemetry';
import { entryInput, startAuditFixture, type AuditFixture } from './audit-fixture';

/**
 * W3C trace context on a real audit service: the entry records the caller's trace id, span id
 * and tracestate from a valid `traceparent`; a missing or invalid one never fails the call, and
 * its `tracestate` is ignored (it belongs to the traceparent it came with).
 */
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const TRACESTATE = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';

let fx: AuditFixture;
beforeAll(async () => {
  fx = await startAuditFixture();
});
afterAll(async () => {
  await fx?.close();
});

/** Creates an entry with these headers and returns what it recorded, as read back. */
async function recorded(headers: Record<string, string>) {
  const created = (await fx.client.createActionLogEntry({ actionLogEntry: entryInput() }, { headers })).actionLogEntry!;
  const { traceId, spanId, traceState } = (await fx.client.getActionLogEntry({ name: created.name })).actionLogEntry!;
  expect({ traceId, spanId, traceState }).toEqual({ traceId: created.traceId, spanId: created.spanId, traceState: created.traceState });
  return { traceId, spanId, traceState };
}

/** Malformed headers, each naming a fresh trace id (starting with a letter) that must not be recorded. */
function invalidTraceparents(): [string, string, string][] {
  const cases: [string, (traceId: string) => string][] = [
    ['uppercase hex', (t) => `00-${t.toUpperCase()}-${hex(8)}-01`],
    ['all-zero span id', (t) => `00-${t}-${'0'.repeat(16)}-01`],
    ['version ff', (t) => `ff-${t}-${hex(8)}-01`],
    ['version 00 with extra data', (t) => `00-${t}-${hex(8)}-01-extra`],
    ['a short trace id', (t) => `00-${t.slice(2)}-${hex(8)}-01`],
    ['bad flags', (t) => `00-${t}-${hex(8)}-zz`],
  ];
  return cases.map(([name, header]) => {
    const traceId = `a${hex(16).slice(1)}`;
    return [name, traceId, header(traceId)];
  });
}

describe('without an OpenTelemetry SDK (the in-process fixture)', () => {
  it('records the trace id and span id of a valid traceparent, and its tracestate', async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    const got = await recorded({ traceparent: `00-${traceId}-${spanId}-01`, tracestate: TRACESTATE });
    expect(got).toEqual({ traceId, spanId, traceState: TRACESTATE });
  });

  it('drops a malformed or oversized tracestate, keeping the trace', async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    for (const tracestate of ['Not Valid', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','), `a=${'x'.repeat(600)}`]) {
      expect(await recorded({ traceparent: `00-${traceId}-${spanId}-01`, tracestate })).toEqual({ traceId, spanId, traceState: '' });
    }
  });

  it('reads a later version by its first four fields, extra data and all', async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    const got = await recorded({ traceparent: `01-${traceId}-${spanId}-01-what-the-future-will-be-like`, tracestate: TRACESTATE });
    expect(got).toEqual({ traceId, spanId, traceState: TRACESTATE });
  });

  it.each(invalidTraceparents())(
    'records neither trace nor tracestate for an invalid traceparent (%s); the call succeeds',
    async (_name, _traceId, header) => {
      const got = await recorded({ traceparent: header, tracestate: TRACESTATE });
      // No SDK, so no server span either: there is no trace to name.
      expect(got).toEqual({ traceId: '', spanId: '', traceState: '' });
    },
  );

  it('records an empty trace id without a traceparent, and ignores a tracestate sent alone', async () => {
    // The server span this call gets is a no-op one with an invalid (all-zero) context: no trace
    // exists, and an id invented here would point at a trace that no collector has.
    expect(await recorded({ tracestate: TRACESTATE })).toEqual({ traceId: '', spanId: '', traceState: '' });
    expect(await recorded({})).toEqual({ traceId: '', spanId: '', traceState: '' });
  });
});

// Last in this file: once the SDK is registered, the server's tracer delegates to it for good.
describe('with the OpenTelemetry SDK (as the services run)', () => {
  let telemetry: Telemetry;
  beforeAll(() => {
    telemetry = setupTelemetry({ serviceName: 'audit-trace-context-test' });
  });
  afterAll(async () => {
    await telemetry?.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it("records the caller's trace id and span id, and its tracestate", async () => {
    const [traceId, spanId] = [hex(16), hex(8)];
    const got = await recorded({ traceparent: `00-${traceId}-${spanId}-01`, tracestate: TRACESTATE });
    expect(got).toEqual({ traceId, spanId, traceState: TRACESTATE });
  });

  it("records this server's own span, a new trace, without a traceparent; a tracestate sent alone is ignored", async () => {
    const a = await recorded({ tracestate: TRACESTATE });
    const b = await recorded({});
    for (const got of [a, b]) {
      expect(got.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(got.traceId).not.toMatch(/^0+$/);
      expect(got.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(got.traceState).toBe('');
    }
    // Each call is its own root: one trace per call.
    expect(a.traceId).not.toBe(b.traceId);
  });

  it.each(invalidTraceparents())(
    'restarts the trace for an invalid traceparent (%s), without its tracestate; the call succeeds',
    async (_name, badTraceId, header) => {
      const got = await recorded({ traceparent: header, tracestate: TRACESTATE });
      expect(got.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(got.traceId).not.toBe(badTraceId);
      expect(got.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(got.traceState).toBe('');
    },
  );
});
