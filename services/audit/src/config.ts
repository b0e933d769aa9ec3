import { z } from 'zod';
import { envBool, envHttpUrl, envInt, envLogLevel, envPort, envPostgresUrl } from '../../../shared/config/env-types';
import { loadConfig } from '../../../shared/config/load-config';

/** Every setting of the audit service, from the environment. README's configuration table mirrors this. */
const schema = z
  .object({
    AUDIT_PORT: envPort(50052),
    AUDIT_HOST: z.string().default('0.0.0.0'),
    AUDIT_DATABASE_URL: envPostgresUrl.optional(),
    DATABASE_URL: envPostgresUrl.optional(),
    // At least 2: migrations hold an advisory lock on one connection while running on another.
    AUDIT_DB_POOL_MAX: envInt(10, 2, 200),
    AUDIT_MIGRATE_ON_START: envBool(true),
    AUDIT_MAX_REQUEST_BYTES: envInt(4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    REFLECTION: envBool(true),
    SHUTDOWN_GRACE_MS: envInt(10_000, 0, 600_000),
    HEALTH_CHECK_INTERVAL_MS: envInt(5_000, 100, 600_000),
    LOG_LEVEL: envLogLevel,
    OTEL_EXPORTER_OTLP_ENDPOINT: envHttpUrl.optional(),
    OTEL_SERVICE_NAME: z.string().default('mcp-audit'),
  })
  .refine((c) => c.AUDIT_DATABASE_URL ?? c.DATABASE_URL, {
    message: 'set AUDIT_DATABASE_URL or DATABASE_URL (npm start sets one for you)',
    path: ['AUDIT_DATABASE_URL'],
  });

export interface AuditConfig {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly dbPoolMax: number;
  readonly migrateOnStart: boolean;
  readonly maxRequestBytes: number;
  readonly reflection: boolean;
  readonly shutdownGraceMs: number;
  readonly healthCheckIntervalMs: number;
  readonly logLevel: string;
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string;
}

export function loadAuditConfig(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  const c = loadConfig(schema, env);
  return {
    port: c.AUDIT_PORT,
    host: c.AUDIT_HOST,
    databaseUrl: (c.AUDIT_DATABASE_URL ?? c.DATABASE_URL)!,
    dbPoolMax: c.AUDIT_DB_POOL_MAX,
    migrateOnStart: c.AUDIT_MIGRATE_ON_START,
    maxRequestBytes: c.AUDIT_MAX_REQUEST_BYTES,
    reflection: c.REFLECTION,
    shutdownGraceMs: c.SHUTDOWN_GRACE_MS,
    healthCheckIntervalMs: c.HEALTH_CHECK_INTERVAL_MS,
    logLevel: c.LOG_LEVEL,
    otlpEndpoint: c.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: c.OTEL_SERVICE_NAME,
  };
}
