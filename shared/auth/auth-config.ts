import { z } from 'zod';
import { envBool, envHttpUrl, envInt } from '../config/env-types';
import { DEFAULT_ROLE_BINDINGS, PERMISSIONS, type Permission } from './permissions';

/** The authentication settings both services share (README: Security). */
export const authEnvShape = {
  AUTH_MODE: z.enum(['header', 'jwt'], { message: 'expected header or jwt' }).default('header'),
  AUTH_ISSUER: z.string().optional(),
  AUTH_AUDIENCE: z.string().optional(),
  AUTH_JWKS_URL: envHttpUrl.optional(),
  AUTH_JWKS: z.string().optional(),
  AUTH_ALGORITHMS: z.string().default('RS256,ES256,EdDSA'),
  AUTH_ALLOW_HS256: envBool(false),
  AUTH_HS256_SECRET: z.string().optional(),
  AUTH_CLOCK_SKEW_S: envInt(30, 0, 600),
  AUTH_ROLES_CLAIM: z.string().default('roles'),
  AUTH_ROLE_BINDINGS: z.string().optional(),
  AUTH_SERVICE_ROLE: z.string().default('service'),
  AUTH_JWKS_CACHE_MAX_AGE_MS: envInt(600_000, 0, 86_400_000),
  AUTH_JWKS_COOLDOWN_MS: envInt(30_000, 0, 3_600_000),
};

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface AuthConfig {
  readonly mode: 'header' | 'jwt';
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUrl: string | undefined;
  /** Inline JWKS (`{"keys":[…]}`) of trusted public keys, instead of or beside a JWKS URL. */
  readonly jwks: { keys: object[] } | undefined;
  readonly algorithms: readonly string[];
  readonly hs256Secret: string | undefined;
  readonly clockSkewSeconds: number;
  /** Dotted path of the claim holding the roles, e.g. `roles` or `realm_access.roles`. */
  readonly rolesClaim: string;
  readonly roleBindings: Readonly<Record<string, readonly Permission[]>>;
  /** The role that marks a token as a service's (actor type SERVICE). */
  readonly serviceRole: string;
  readonly jwksCacheMaxAgeMs: number;
  readonly jwksCooldownMs: number;
}

type AuthEnv = { [K in keyof typeof authEnvShape]: z.infer<(typeof authEnvShape)[K]> };

/** Cross-field rules, as zod issues: jwt mode needs an issuer, an audience and keys. */
export function checkAuthEnv(c: AuthEnv, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (c.AUTH_MODE === 'jwt') {
    if (!c.AUTH_ISSUER) issue('AUTH_ISSUER', 'is required when AUTH_MODE=jwt');
    if (!c.AUTH_AUDIENCE) issue('AUTH_AUDIENCE', 'is required when AUTH_MODE=jwt');
    if (!c.AUTH_JWKS_URL && !c.AUTH_JWKS && !c.AUTH_ALLOW_HS256) issue('AUTH_JWKS_URL', 'set AUTH_JWKS_URL or AUTH_JWKS when AUTH_MODE=jwt');
  }
  if (c.AUTH_JWKS) {
    try {
      const parsed = JSON.parse(c.AUTH_JWKS) as { keys?: unknown };
      if (!Array.isArray(parsed.keys)) issue('AUTH_JWKS', 'must be a JWK set: {"keys":[…]}');
    } catch {
      issue('AUTH_JWKS', 'is not valid JSON');
    }
  }
  for (const alg of c.AUTH_ALGORITHMS.split(',').map((a) => a.trim())) {
    if (!ASYMMETRIC.includes(alg)) issue('AUTH_ALGORITHMS', `"${alg}" is not an asymmetric JWS algorithm (${ASYMMETRIC.join(', ')}); HS256 is enabled with AUTH_ALLOW_HS256`);
  }
  if (c.AUTH_ALLOW_HS256 && (c.AUTH_HS256_SECRET ?? '').length < 32) issue('AUTH_HS256_SECRET', 'must be at least 32 characters when AUTH_ALLOW_HS256=true');
  if (c.AUTH_ROLE_BINDINGS) {
    try {
      const parsed = JSON.parse(c.AUTH_ROLE_BINDINGS) as Record<string, unknown>;
      for (const [role, perms] of Object.entries(parsed)) {
        if (!Array.isArray(perms) || perms.some((p) => !PERMISSIONS.includes(p as Permission))) {
          issue('AUTH_ROLE_BINDINGS', `role "${role}" must map to a list of permissions from: ${PERMISSIONS.join(', ')}`);
        }
      }
    } catch {
      issue('AUTH_ROLE_BINDINGS', 'is not valid JSON');
    }
  }
}

export function toAuthConfig(c: AuthEnv): AuthConfig {
  return {
    mode: c.AUTH_MODE,
    issuer: c.AUTH_ISSUER ?? '',
    audience: c.AUTH_AUDIENCE ?? '',
    jwksUrl: c.AUTH_JWKS_URL,
    jwks: c.AUTH_JWKS ? (JSON.parse(c.AUTH_JWKS) as { keys: object[] }) : undefined,
    algorithms: [...c.AUTH_ALGORITHMS.split(',').map((a) => a.trim()), ...(c.AUTH_ALLOW_HS256 ? ['HS256'] : [])],
    hs256Secret: c.AUTH_ALLOW_HS256 ? c.AUTH_HS256_SECRET : undefined,
    clockSkewSeconds: c.AUTH_CLOCK_SKEW_S,
    rolesClaim: c.AUTH_ROLES_CLAIM,
    roleBindings: c.AUTH_ROLE_BINDINGS ? (JSON.parse(c.AUTH_ROLE_BINDINGS) as Record<string, Permission[]>) : DEFAULT_ROLE_BINDINGS,
    serviceRole: c.AUTH_SERVICE_ROLE,
    jwksCacheMaxAgeMs: c.AUTH_JWKS_CACHE_MAX_AGE_MS,
    jwksCooldownMs: c.AUTH_JWKS_COOLDOWN_MS,
  };
}
