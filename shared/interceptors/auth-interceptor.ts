import type { Interceptor } from '@connectrpc/connect';
import type { AuthConfig } from '../auth/auth-config';
import type { Identity } from '../auth/identity';
import { permissionsOf, type Requirement } from '../auth/permissions';
import { createTokenVerifier, rolesFromClaims, TokenRejectedError } from '../auth/token-verifier';
import { PermissionDeniedError, UnauthenticatedError } from '../errors/app-error';
import type { Logger } from '../logging/logger';
import { currentRequestContext, MetadataKeys, withRequestContext, type RequestContext } from './request-context';

/** A refused call, handed to the service so it can record the attempt in the audit log. */
export interface DeniedAttempt {
  readonly procedure: string;
  /** The request message (unary calls); undefined for streaming requests. */
  readonly message: unknown;
  /** What the call needed; undefined when the procedure has no declared rule. */
  readonly requirement: Requirement | undefined;
  readonly kind: 'unauthenticated' | 'permission_denied';
  readonly reason: string;
  /** The verified caller for PERMISSION_DENIED; undefined when authentication failed. */
  readonly identity: Identity | undefined;
  readonly context: RequestContext;
}

const PUBLIC_SERVICES = new Set(['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);

/**
 * Authentication and authorization. In `header` mode (development) it lets every call through
 * with the unverified `x-user-id` identity. In `jwt` mode every call but health (and
 * reflection, when it is served) needs `authorization: Bearer <JWT>`: the token's `sub` becomes
 * the actor and its roles must grant the RPC's permission. A procedure with no declared
 * requirement is refused (fail closed). Refusals reach `onDenied` before the error is returned.
 */
export function createAuthInterceptor(opts: {
  config: AuthConfig;
  requirements: ReadonlyMap<string, Requirement>;
  onDenied?: (attempt: DeniedAttempt) => Promise<void>;
  logger: Logger;
}): Interceptor {
  const verify = opts.config.mode === 'jwt' ? createTokenVerifier(opts.config) : undefined;
  return (next) => async (req) => {
    if (!verify || PUBLIC_SERVICES.has(req.service.typeName)) return next(req);
    // Only a verified service may speak for its end user's IP and user agent; until the caller
    // is known to be one, record what the connection itself shows.
    const received = currentRequestContext()!;
    const ctx: RequestContext = { ...received, clientIp: received.directClientIp, userAgent: received.directUserAgent };
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const requirement = opts.requirements.get(procedure);
    if (requirement === 'public') return next(req);
    let identity: Identity | undefined;
    try {
      if (requirement === undefined) throw new PermissionDeniedError(`no access rule is declared for ${procedure}`);
      const header = req.header.get(MetadataKeys.authorization) ?? '';
      const bearer = /^Bearer +([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
      if (!bearer) throw new UnauthenticatedError(header ? 'malformed authorization header' : 'missing bearer token');
      const payload = await verify(bearer[1]!).catch((err: unknown) => {
        throw new UnauthenticatedError(err instanceof TokenRejectedError ? err.reason : 'token invalid');
      });
      if (typeof payload.sub !== 'string' || payload.sub.trim() === '') throw new UnauthenticatedError('token has no subject');
      const roles = rolesFromClaims(payload, opts.config.rolesClaim);
      const headerActor = req.header.get(MetadataKeys.actor)?.trim() ?? '';
      identity = {
        actorId: payload.sub,
        actorType: roles.includes(opts.config.serviceRole) ? 'SERVICE' : 'USER',
        subject: payload.sub,
        issuer: payload.iss ?? '',
        verified: true,
        roles,
        unverifiedActorId: headerActor && headerActor !== payload.sub ? headerActor : '',
      };
      if (!permissionsOf(roles, opts.config.roleBindings).has(requirement)) {
        throw new PermissionDeniedError(`permission ${requirement} is required`);
      }
    } catch (err) {
      if ((err instanceof UnauthenticatedError || err instanceof PermissionDeniedError) && opts.onDenied) {
        const attempt: DeniedAttempt = {
          procedure,
          message: req.stream ? undefined : req.message,
          requirement,
          kind: err instanceof UnauthenticatedError ? 'unauthenticated' : 'permission_denied',
          reason: err.message,
          identity,
          context: ctx,
        };
        // Recording must not change the answer the caller gets.
        await opts.onDenied(attempt).catch((recordErr: unknown) => opts.logger.error({ err: recordErr, procedure }, 'could not record a denied call'));
      }
      throw err;
    }
    const trusted = identity.actorType === 'SERVICE' ? received : ctx;
    return withRequestContext({ ...trusted, identity, actorId: identity.actorId }, () => next(req));
  };
}
