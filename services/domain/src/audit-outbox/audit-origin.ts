import { trace } from '@opentelemetry/api';
import { currentRequestContext, SYSTEM_ACTOR, type RequestContext } from '../../../../shared/interceptors/request-context';
import { formatTraceparent } from '../../../../shared/telemetry/traceparent';
import type { AuditOrigin } from './audit-event';

/** The control plane acting on its own (the engine), in the trace of the work it does. */
export function systemOrigin(traceparent: string): AuditOrigin {
  return {
    actorId: SYSTEM_ACTOR,
    actorType: 'SYSTEM',
    actorSubject: '',
    actorIssuer: '',
    actorVerified: false,
    unverifiedActorId: '',
    traceparent,
    tracestate: '',
    clientIp: '',
    userAgent: '',
  };
}

/**
 * The origin of an event recorded inside an RPC: the caller's identity, IP and user agent, and
 * a traceparent naming this service's span (child of the caller's), so the audit entry lands
 * in the same trace. Outside an RPC (background work) the actor is "system".
 */
export function currentAuditOrigin(ctx: RequestContext | undefined = currentRequestContext()): AuditOrigin {
  const active = trace.getActiveSpan()?.spanContext();
  const [traceId, spanId, flags] =
    active && trace.isSpanContextValid(active)
      ? [active.traceId, active.spanId, active.traceFlags]
      : [ctx?.traceId ?? '', ctx?.spanId ?? '', 1];
  const who = ctx?.identity;
  return {
    actorId: who?.actorId ?? SYSTEM_ACTOR,
    actorType: who?.actorType ?? 'SYSTEM',
    actorSubject: who?.subject ?? '',
    actorIssuer: who?.issuer ?? '',
    actorVerified: who?.verified ?? false,
    unverifiedActorId: who?.unverifiedActorId ?? '',
    traceparent: traceId && spanId ? formatTraceparent({ traceId, spanId, flags }) : '',
    tracestate: ctx?.traceState ?? '',
    clientIp: ctx?.clientIp ?? '',
    userAgent: ctx?.userAgent ?? '',
  };
}
