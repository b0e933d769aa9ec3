import { trace } from '@opentelemetry/api';
import { currentRequestContext, SYSTEM_ACTOR } from '../../../../shared/interceptors/request-context';
import { formatTraceparent } from '../../../../shared/telemetry/traceparent';
import type { AuditOrigin } from './audit-event';

/**
 * The origin of an event recorded inside an RPC: the caller's actor, IP and user agent, and
 * a traceparent naming this service's span (child of the caller's), so the audit entry lands
 * in the same trace. Outside an RPC (background work) the actor is "system".
 */
export function currentAuditOrigin(): AuditOrigin {
  const ctx = currentRequestContext();
  const active = trace.getActiveSpan()?.spanContext();
  const [traceId, spanId, flags] =
    active && trace.isSpanContextValid(active)
      ? [active.traceId, active.spanId, active.traceFlags]
      : [ctx?.traceId ?? '', ctx?.spanId ?? '', 1];
  return {
    actorId: ctx?.actorId ?? SYSTEM_ACTOR,
    traceparent: traceId && spanId ? formatTraceparent({ traceId, spanId, flags }) : '',
    tracestate: ctx?.traceState ?? '',
    clientIp: ctx?.clientIp ?? '',
    userAgent: ctx?.userAgent ?? '',
  };
}
