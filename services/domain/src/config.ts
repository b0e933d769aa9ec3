import { z } from 'zod';
import { envBool, envHttpUrl, envInt } from '../../../shared/config/env-types';
import { loadConfig } from '../../../shared/config/load-config';
import { checkServiceEnv, requireDatabaseUrl, serviceEnvShape, toServiceConfig, type ServiceConfig } from '../../../shared/config/service-env';

/** The domain service's settings: the common ones plus audit delivery (README lists them all). */
const schema = z
  .object({
    ...serviceEnvShape('DOMAIN', { port: 50051, serviceName: 'mcp-domain' }),
    AUDIT_URL: envHttpUrl.default('http://127.0.0.1:50052'),
    AUDIT_ENABLED: envBool(true),
    AUDIT_RELAY_BATCH_SIZE: envInt(200, 1, 1000),
    // Enough parallel calls for the audit service to commit them in groups (see group-commit.ts).
    AUDIT_RELAY_CONCURRENCY: envInt(32, 1, 256),
    AUDIT_RELAY_POLL_INTERVAL_MS: envInt(1_000, 10, 60_000),
    AUDIT_RELAY_MIN_BACKOFF_MS: envInt(200, 1, 60_000),
    AUDIT_RELAY_MAX_BACKOFF_MS: envInt(30_000, 1, 3_600_000),
    AUDIT_RELAY_TIMEOUT_MS: envInt(5_000, 100, 120_000),
    AUDIT_RELAY_LEASE_MS: envInt(30_000, 1_000, 3_600_000),
    AUDIT_BACKLOG_WARN_AFTER_S: envInt(30, 1, 86_400),
    AUDIT_BACKLOG_CHECK_INTERVAL_MS: envInt(5_000, 100, 600_000),
    // How the relay authenticates to an audit service in jwt mode: a token, or a file holding
    // one (re-read when it changes, for rotated tokens).
    AUDIT_SERVICE_TOKEN: z.string().optional(),
    AUDIT_SERVICE_TOKEN_FILE: z.string().optional(),
    DOMAIN_ROLE: z.enum(['all', 'api', 'engine'], { message: 'expected all, api or engine' }).default('all'),
    ENGINE_ID: z.string().optional(),
    ENGINE_CONCURRENCY: envInt(10, 1, 1000),
    ENGINE_LEASE_MS: envInt(15_000, 500, 3_600_000),
    ENGINE_HEARTBEAT_MS: envInt(5_000, 100, 600_000),
    ENGINE_POLL_INTERVAL_MS: envInt(2_000, 10, 600_000),
    // A step's output is stored, streamed and returned with its run: bounded, like any request.
    ENGINE_MAX_STEP_OUTPUT_BYTES: envInt(1024 * 1024, 1024, 64 * 1024 * 1024),
    MCP_CLIENT_IDLE_MS: envInt(60_000, 100, 86_400_000),
    MCP_CONNECT_TIMEOUT_MS: envInt(10_000, 100, 600_000),
  })
  .refine(...requireDatabaseUrl('DOMAIN'))
  .superRefine(checkServiceEnv)
  .refine((c) => !(c.AUDIT_SERVICE_TOKEN && c.AUDIT_SERVICE_TOKEN_FILE), {
    message: 'set AUDIT_SERVICE_TOKEN or AUDIT_SERVICE_TOKEN_FILE, not both',
    path: ['AUDIT_SERVICE_TOKEN'],
  })
  .refine((c) => c.AUDIT_RELAY_MAX_BACKOFF_MS >= c.AUDIT_RELAY_MIN_BACKOFF_MS, {
    message: 'must be at least AUDIT_RELAY_MIN_BACKOFF_MS',
    path: ['AUDIT_RELAY_MAX_BACKOFF_MS'],
  })
  // A claimed entry waits its turn in a lane, then needs a whole call inside its lease.
  .refine((c) => c.AUDIT_RELAY_LEASE_MS >= 2 * c.AUDIT_RELAY_TIMEOUT_MS, {
    message: 'must be at least twice AUDIT_RELAY_TIMEOUT_MS',
    path: ['AUDIT_RELAY_LEASE_MS'],
  })
  // Several heartbeats must fit in a lease, or a busy engine loses runs it is still executing.
  .refine((c) => c.ENGINE_HEARTBEAT_MS * 2 <= c.ENGINE_LEASE_MS, {
    message: 'must be at most half of ENGINE_LEASE_MS',
    path: ['ENGINE_HEARTBEAT_MS'],
  });

export interface DomainConfig extends ServiceConfig {
  /** all: API and engine in one process; api: the RPCs only; engine: the engine only (health and metrics kept). */
  readonly role: 'all' | 'api' | 'engine';
  readonly engine: {
    readonly id: string | undefined;
    readonly concurrency: number;
    readonly leaseMs: number;
    readonly heartbeatMs: number;
    readonly pollIntervalMs: number;
    readonly maxStepOutputBytes: number;
    readonly mcpClientIdleMs: number;
    readonly mcpConnectTimeoutMs: number;
  };
  readonly audit: {
    readonly url: string;
    readonly enabled: boolean;
    readonly batchSize: number;
    readonly concurrency: number;
    readonly pollIntervalMs: number;
    readonly minBackoffMs: number;
    readonly maxBackoffMs: number;
    readonly timeoutMs: number;
    readonly leaseMs: number;
    readonly backlogWarnAfterSeconds: number;
    /** How often the backlog gauges, /healthz and the backlog log line are refreshed. */
    readonly backlogCheckIntervalMs: number;
    readonly serviceToken: string | undefined;
    readonly serviceTokenFile: string | undefined;
  };
}

export function loadDomainConfig(env: NodeJS.ProcessEnv = process.env): DomainConfig {
  const c = loadConfig(schema, env);
  return {
    ...toServiceConfig('DOMAIN', c),
    role: c.DOMAIN_ROLE,
    engine: {
      id: c.ENGINE_ID,
      concurrency: c.ENGINE_CONCURRENCY,
      leaseMs: c.ENGINE_LEASE_MS,
      heartbeatMs: c.ENGINE_HEARTBEAT_MS,
      pollIntervalMs: c.ENGINE_POLL_INTERVAL_MS,
      maxStepOutputBytes: c.ENGINE_MAX_STEP_OUTPUT_BYTES,
      mcpClientIdleMs: c.MCP_CLIENT_IDLE_MS,
      mcpConnectTimeoutMs: c.MCP_CONNECT_TIMEOUT_MS,
    },
    audit: {
      url: c.AUDIT_URL,
      enabled: c.AUDIT_ENABLED,
      batchSize: c.AUDIT_RELAY_BATCH_SIZE,
      concurrency: c.AUDIT_RELAY_CONCURRENCY,
      pollIntervalMs: c.AUDIT_RELAY_POLL_INTERVAL_MS,
      minBackoffMs: c.AUDIT_RELAY_MIN_BACKOFF_MS,
      maxBackoffMs: c.AUDIT_RELAY_MAX_BACKOFF_MS,
      timeoutMs: c.AUDIT_RELAY_TIMEOUT_MS,
      leaseMs: c.AUDIT_RELAY_LEASE_MS,
      backlogWarnAfterSeconds: c.AUDIT_BACKLOG_WARN_AFTER_S,
      backlogCheckIntervalMs: c.AUDIT_BACKLOG_CHECK_INTERVAL_MS,
      serviceToken: c.AUDIT_SERVICE_TOKEN,
      serviceTokenFile: c.AUDIT_SERVICE_TOKEN_FILE,
    },
  };
}
