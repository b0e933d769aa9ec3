import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type KeyLike,
} from 'jose';
import type { AuthConfig } from './auth-config';

/** Why a token was refused, in a few words: enough for the caller, nothing that helps forge one. */
export class TokenRejectedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TokenRejectedError';
  }
}

function shortReason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid';
    return `token claim "${err.claim}" is not accepted`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (err instanceof errors.JWKSNoMatchingKey) return 'token signed by an unknown key';
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return 'token malformed';
  return 'token invalid';
}

/**
 * Verifies bearer tokens with jose: signature (keys from a JWKS URL, refetched when an unknown
 * `kid` appears so key rotation needs no restart, and/or an inline JWKS; HS256 only when
 * explicitly allowed), then issuer, audience, `exp` and `nbf` with the configured clock skew.
 * `alg: none` and keys of the wrong type are refused by jose itself.
 */
export function createTokenVerifier(config: AuthConfig): (token: string) => Promise<JWTPayload> {
  const remote = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { cacheMaxAge: config.jwksCacheMaxAgeMs, cooldownDuration: config.jwksCooldownMs })
    : undefined;
  const local = config.jwks ? createLocalJWKSet(config.jwks as Parameters<typeof createLocalJWKSet>[0]) : undefined;
  const secret = config.hs256Secret ? new TextEncoder().encode(config.hs256Secret) : undefined;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === 'HS256') {
      if (!secret) throw new errors.JOSEAlgNotAllowed('HS256 is not allowed');
      return secret as unknown as KeyLike;
    }
    if (local) {
      try {
        return await local(header, token);
      } catch (err) {
        if (!remote) throw err;
      }
    }
    if (!remote) throw new errors.JWKSNoMatchingKey();
    return remote(header, token);
  };
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, getKey, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: [...config.algorithms],
        clockTolerance: config.clockSkewSeconds,
        requiredClaims: ['sub', 'exp'],
      });
      return payload;
    } catch (err) {
      throw new TokenRejectedError(shortReason(err));
    }
  };
}

/** Reads a claim by dotted path (`realm_access.roles`) and keeps the strings of a list or a space-separated string. */
export function rolesFromClaims(payload: JWTPayload, claimPath: string): string[] {
  let value: unknown = payload;
  for (const key of claimPath.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  return Array.isArray(value) ? value.filter((r): r is string => typeof r === 'string') : [];
}
