import { z } from 'zod';
import { authEnvShape, checkAuthEnv, toAuthConfig, type AuthConfig } from '../auth/auth-config';
import { envBool, envBoolOptional, envBytesOrOff, envHttpUrl, envInt, envLogLevel, envPort, envPostgresUrl } from './env-types';

/**
 * The settings every service process has, under its own prefix (AUDIT_, DOMAIN_) where
 * they differ per service. README's configuration table lists them.
 */
export function serviceEnvShape(prefix: string, defaults: { port: number; serviceName: string }) {
  return {
    [`${prefix}_PORT`]: envPort(defaults.port),
    [`${prefix}_HOST`]: z.string().default('0.0.0.0'),
    [`${prefix}_DATABASE_URL`]: envPostgresUrl.optional(),
    DATABASE_URL: envPostgresUrl.optional(),
    // At least 2: migrations hold an advisory lock on one connection while running on another.
    [`${prefix}_DB_POOL_MAX`]: envInt(10, 2, 200),
    [`${prefix}_MIGRATE_ON_START`]: envBool(true),
    [`${prefix}_MAX_REQUEST_BYTES`]: envInt(4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    // Unset: on in header mode, off in jwt mode (it reveals the whole API surface).
    REFLECTION: envBoolOptional(),
    // connect's own default. Gzip costs CPU on both ends (~0.75 ms for a 37 KB List page here);
    // on a fast network `off` saves it, on a slow link a lower threshold saves bandwidth.
    RPC_COMPRESS_MIN_BYTES: envBytesOrOff(1024),
    SHUTDOWN_GRACE_MS: envInt(10_000, 0, 600_000),
    HEALTH_CHECK_INTERVAL_MS: envInt(5_000, 100, 600_000),
    LOG_LEVEL: envLogLevel,
    OTEL_EXPORTER_OTLP_ENDPOINT: envHttpUrl.optional(),
    OTEL_SERVICE_NAME: z.string().default(defaults.serviceName),
    ...authEnvShape,
  };
}

/** zod refinement shared by the services' schemas: the cross-field authentication rules. */
export const checkServiceEnv = (c: Record<string, unknown>, ctx: z.RefinementCtx) => checkAuthEnv(c as never, ctx);

export interface ServiceConfig {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly dbPoolMax: number;
  readonly migrateOnStart: boolean;
  readonly maxRequestBytes: number;
  readonly reflection: boolean;
  /** Responses at least this large are compressed when the client accepts it; Infinity never. */
  readonly compressMinBytes: number;
  readonly shutdownGraceMs: number;
  readonly healthCheckIntervalMs: number;
  readonly logLevel: string;
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string;
  readonly auth: AuthConfig;
}

/** Picks the common settings out of a parsed environment; the database URL must be set one way or the other. */
export function toServiceConfig(prefix: string, env: Record<string, unknown>): ServiceConfig {
  const get = <T>(key: string) => env[key] as T;
  return {
    port: get(`${prefix}_PORT`),
    host: get(`${prefix}_HOST`),
    databaseUrl: (get<string | undefined>(`${prefix}_DATABASE_URL`) ?? get<string>('DATABASE_URL'))!,
    dbPoolMax: get(`${prefix}_DB_POOL_MAX`),
    migrateOnStart: get(`${prefix}_MIGRATE_ON_START`),
    maxRequestBytes: get(`${prefix}_MAX_REQUEST_BYTES`),
    reflection: get<boolean | undefined>('REFLECTION') ?? get('AUTH_MODE') !== 'jwt',
    compressMinBytes: get('RPC_COMPRESS_MIN_BYTES'),
    shutdownGraceMs: get('SHUTDOWN_GRACE_MS'),
    healthCheckIntervalMs: get('HEALTH_CHECK_INTERVAL_MS'),
    logLevel: get('LOG_LEVEL'),
    otlpEndpoint: get('OTEL_EXPORTER_OTLP_ENDPOINT'),
    serviceName: get('OTEL_SERVICE_NAME'),
    auth: toAuthConfig(env as never),
  };
}

/** zod refinement: one of `<PREFIX>_DATABASE_URL` or `DATABASE_URL` is required. */
export function requireDatabaseUrl(prefix: string): [(c: Record<string, unknown>) => boolean, { message: string; path: string[] }] {
  return [
    (c) => Boolean(c[`${prefix}_DATABASE_URL`] ?? c.DATABASE_URL),
    { message: `set ${prefix}_DATABASE_URL or DATABASE_URL (npm start sets one for you)`, path: [`${prefix}_DATABASE_URL`] },
  ];
}
