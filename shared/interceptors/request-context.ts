import { AsyncLocalStorage } from 'node:async_hooks';
import type { Interceptor } from '@connectrpc/connect';
import { trace } from '@opentelemetry/api';
import { bindStream } from './bind-stream';
import { parseTraceparent } from '../telemetry/traceparent';
import { peerAddressKey } from './peer-address-key';

/** The actor recorded when a caller names none. */
export const SYSTEM_ACTOR = 'system';

/** Metadata keys this system reads and forwards (all lower-case, as gRPC requires). */
export const MetadataKeys = {
  actor: 'x-user-id',
  callerService: 'x-service-name',
  clientIp: 'x-client-ip',
  clientUserAgent: 'x-client-user-agent',
  forwardedFor: 'x-forwarded-for',
  userAgent: 'user-agent',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const;

/** Who is calling and from where: read once per call from metadata, then available to every layer. */
export interface RequestContext {
  readonly actorId: string;
  readonly traceId: string;
  /** The caller's span id from `traceparent` (or this server's span when none was sent). */
  readonly spanId: string;
  readonly traceState: string;
  readonly callerService: string;
  readonly clientIp: string;
  readonly userAgent: string;
  readonly procedure: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the call being served, or undefined outside a call (e.g. a background job). */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

function traceOf(header: Headers): { traceId: string; spanId: string } {
  const parent = parseTraceparent(header.get(MetadataKeys.traceparent));
  if (parent) return { traceId: parent.traceId, spanId: parent.spanId };
  const active = trace.getActiveSpan()?.spanContext();
  return active && trace.isSpanContextValid(active) ? { traceId: active.traceId, spanId: active.spanId } : { traceId: '', spanId: '' };
}

/** Strips an IPv4-mapped IPv6 prefix so "::ffff:10.0.0.1" is recorded as "10.0.0.1". */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/**
 * Captures actor, trace, client IP and user agent from metadata. `x-client-ip` and
 * `x-client-user-agent` let a trusted upstream service forward its end user's details.
 */
export function createRequestContextInterceptor(): Interceptor {
  return (next) => async (req) => {
    const h = req.header;
    const forwardedFor = h.get(MetadataKeys.forwardedFor)?.split(',')[0]?.trim();
    const ctx: RequestContext = {
      actorId: h.get(MetadataKeys.actor)?.trim() || SYSTEM_ACTOR,
      ...traceOf(h),
      traceState: h.get(MetadataKeys.tracestate)?.trim() ?? '',
      callerService: h.get(MetadataKeys.callerService)?.trim() || 'unknown',
      clientIp: normalizeIp(h.get(MetadataKeys.clientIp)?.trim() || forwardedFor || req.contextValues.get(peerAddressKey)),
      userAgent: h.get(MetadataKeys.clientUserAgent)?.trim() || h.get(MetadataKeys.userAgent)?.trim() || '',
      procedure: `${req.service.typeName}/${req.method.name}`,
    };
    const res = await storage.run(ctx, () => next(req));
    return res.stream ? { ...res, message: bindStream(res.message, (fn) => storage.run(ctx, fn)) } : res;
  };
}
