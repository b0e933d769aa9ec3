import { currentRequestContext, SYSTEM_ACTOR, type RequestContext } from '../../../../shared/interceptors/request-context';
import type { Provenance } from '../entries/action-log-entry';

const where = (ctx: RequestContext | undefined) => ({
  traceId: ctx?.traceId ?? '',
  spanId: ctx?.spanId ?? '',
  traceState: ctx?.traceState ?? '',
  clientIp: ctx?.clientIp ?? '',
  userAgent: ctx?.userAgent ?? '',
});

/**
 * Who an entry a producer sends is about. A verified service (jwt mode, service role) is
 * trusted to forward its end user (`x-user-id`, `x-actor-*`) and is recorded as the calling
 * service by its verified subject. Anyone else's forwarded identity is recorded but never
 * marked verified, and the calling service is whatever `x-service-name` says.
 */
export function producerProvenance(ctx = currentRequestContext()): Provenance {
  const caller = ctx?.identity;
  const forwarded = ctx?.forwarded;
  const trusted = Boolean(caller?.verified && caller.actorType === 'SERVICE');
  if (trusted && caller && !forwarded?.explicit) return callerProvenance(ctx);
  return {
    actorId: forwarded?.actorId ?? SYSTEM_ACTOR,
    actorType: forwarded?.actorType ?? 'SYSTEM',
    actorSubject: forwarded?.subject ?? '',
    actorIssuer: forwarded?.issuer ?? '',
    actorVerified: trusted && Boolean(forwarded?.verified),
    unverifiedActorId: forwarded?.unverifiedActorId ?? '',
    serviceName: trusted && caller ? caller.subject : (ctx?.callerService ?? 'unknown'),
    ...where(ctx),
  };
}

/** The caller itself as the actor: for what the audit service records on its own (reads, refusals). */
export function callerProvenance(ctx = currentRequestContext()): Provenance {
  const caller = ctx?.identity;
  return {
    actorId: caller?.actorId ?? SYSTEM_ACTOR,
    actorType: caller?.actorType ?? 'SYSTEM',
    actorSubject: caller?.subject ?? '',
    actorIssuer: caller?.issuer ?? '',
    actorVerified: caller?.verified ?? false,
    unverifiedActorId: caller?.unverifiedActorId ?? '',
    serviceName: caller?.actorType === 'SERVICE' && caller.verified ? caller.subject : (ctx?.callerService ?? 'unknown'),
    ...where(ctx),
  };
}
