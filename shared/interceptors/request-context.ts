import { AsyncLocalStorage } from 'node:async_hooks';
import type { Interceptor } from '@connectrpc/connect';
import { trace } from '@opentelemetry/api';
import { bindStream } from './bind-stream';
import type { ActorType, Identity } from '../auth/identity';
import { parseTraceparent, parseTracestate } from '../telemetry/traceparent';
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
  authorization: 'authorization',
  // Identity details a trusted service forwards about its end user (see README: Security).
  actorType: 'x-actor-type',
  actorSubject: 'x-actor-subject',
  actorIssuer: 'x-actor-issuer',
  actorVerified: 'x-actor-verified',
  unverifiedActor: 'x-unverified-user-id',
} as const;

/** What the metadata says about the end user, as a calling service forwarded it (unverified by itself). */
export interface ForwardedActor {
  /** False when neither `x-user-id` nor `x-actor-type` was sent: the caller acts for itself. */
  readonly explicit: boolean;
  readonly actorId: string;
  readonly actorType: ActorType;
  readonly subject: string;
  readonly issuer: string;
  readonly verified: boolean;
  readonly unverifiedActorId: string;
}

/** Who is calling and from where: read once per call from metadata, then available to every layer. */
export interface RequestContext {
  /** The actor to record: `identity.actorId`. */
  readonly actorId: string;
  /** The caller, as authenticated (header mode: taken from `x-user-id`, unverified). */
  readonly identity: Identity;
  /** The end user a calling service speaks for, from metadata; trust it only from a verified service. */
  readonly forwarded: ForwardedActor;
  readonly traceId: string;
  /** The caller's span id from `traceparent` (or this server's span when none was sent). */
  readonly spanId: string;
  /** The caller's `tracestate`, only alongside a valid `traceparent` (else empty). */
  readonly traceState: string;
  readonly callerService: string;
  readonly clientIp: string;
  readonly userAgent: string;
  /** The same without what a caller claims in `x-client-ip` / `x-client-user-agent`: for untrusted callers. */
  readonly directClientIp: string;
  readonly directUserAgent: string;
  readonly procedure: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the call being served, or undefined outside a call (e.g. a background job). */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` (and, for a streaming response, each step of it) with a replaced request context. */
export async function withRequestContext<T extends { stream: boolean }>(ctx: RequestContext, fn: () => Promise<T>): Promise<T> {
  const res = await storage.run(ctx, fn);
  return res.stream
    ? { ...res, message: bindStream((res as unknown as { message: AsyncIterable<unknown> }).message, (f) => storage.run(ctx, f)) }
    : res;
}

const ACTOR_TYPES: readonly ActorType[] = ['USER', 'SERVICE', 'SYSTEM'];

function forwardedActor(h: Headers): ForwardedActor {
  const actorId = h.get(MetadataKeys.actor)?.trim() || SYSTEM_ACTOR;
  const type = h.get(MetadataKeys.actorType)?.trim().toUpperCase() as ActorType | undefined;
  return {
    explicit: Boolean(h.get(MetadataKeys.actor)?.trim() || type),
    actorId,
    actorType: type && ACTOR_TYPES.includes(type) ? type : actorId === SYSTEM_ACTOR ? 'SYSTEM' : 'USER',
    subject: h.get(MetadataKeys.actorSubject)?.trim() ?? '',
    issuer: h.get(MetadataKeys.actorIssuer)?.trim() ?? '',
    verified: h.get(MetadataKeys.actorVerified)?.trim() === 'true',
    unverifiedActorId: h.get(MetadataKeys.unverifiedActor)?.trim() ?? '',
  };
}

function traceOf(header: Headers): { traceId: string; spanId: string; traceState: string } {
  const parent = parseTraceparent(header.get(MetadataKeys.traceparent));
  // tracestate belongs to the traceparent it came with: W3C says ignore it when that one is
  // missing or invalid, so it is never recorded against a trace it was not sent for.
  if (parent) return { traceId: parent.traceId, spanId: parent.spanId, traceState: parseTracestate(header.get(MetadataKeys.tracestate)) };
  const active = trace.getActiveSpan()?.spanContext();
  return active && trace.isSpanContextValid(active)
    ? { traceId: active.traceId, spanId: active.spanId, traceState: '' }
    : { traceId: '', spanId: '', traceState: '' };
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
    const forwarded = forwardedActor(h);
    // Header mode: the caller is who x-user-id says, unverified; the auth interceptor replaces
    // this with a verified identity in jwt mode.
    const identity: Identity = {
      actorId: forwarded.actorId,
      actorType: forwarded.actorId === SYSTEM_ACTOR ? 'SYSTEM' : 'USER',
      subject: '',
      issuer: '',
      verified: false,
      roles: [],
      unverifiedActorId: '',
    };
    const ctx: RequestContext = {
      actorId: identity.actorId,
      identity,
      forwarded,
      ...traceOf(h),
      callerService: h.get(MetadataKeys.callerService)?.trim() || 'unknown',
      clientIp: normalizeIp(h.get(MetadataKeys.clientIp)?.trim() || forwardedFor || req.contextValues.get(peerAddressKey)),
      userAgent: h.get(MetadataKeys.clientUserAgent)?.trim() || h.get(MetadataKeys.userAgent)?.trim() || '',
      directClientIp: normalizeIp(forwardedFor || req.contextValues.get(peerAddressKey)),
      directUserAgent: h.get(MetadataKeys.userAgent)?.trim() || '',
      procedure: `${req.service.typeName}/${req.method.name}`,
    };
    return withRequestContext(ctx, () => next(req));
  };
}
