import type { ConnectRouter } from '@connectrpc/connect';
import type { Registry } from 'prom-client';
import type { Sequelize } from 'sequelize';
import type { ServiceConfig } from '../config/service-env';
import { createSequelize } from '../db/create-sequelize';
import { runMigrations, type Migration } from '../db/migrator';
import { startReadinessProbe } from '../db/readiness-probe';
import type { Requirement } from '../auth/permissions';
import type { DeniedAttempt } from '../interceptors/auth-interceptor';
import { createStandardInterceptors } from '../interceptors/standard-interceptors';
import type { Logger } from '../logging/logger';
import { createHealthRegistry, type HealthRegistry } from '../rpc/health-service';
import { useFastUtf8Encoding } from '../rpc/fast-utf8-encoding';
import { createRpcServer, type HttpRoute } from '../rpc/rpc-server';
import { createMetricsRegistry, metricsRoute } from '../telemetry/metrics';

/** What a service adds to the common runtime. */
export interface ServiceParts {
  readonly routes: (router: ConnectRouter) => void;
  /** Fully-qualified service names reported by grpc.health.v1 alongside ''. */
  readonly healthServices: readonly string[];
  /** What each RPC (`pkg.Service/Method`) requires in jwt mode; undeclared RPCs are refused. */
  readonly requirements: ReadonlyMap<string, Requirement>;
  /** Records refused calls (e.g. in the audit log). */
  onDenied?(attempt: DeniedAttempt): Promise<void>;
  readonly httpRoutes?: Record<string, HttpRoute>;
  /** Called once the database is reachable and migrated (e.g. start background workers). */
  onReady?(): void;
  /** Stops the service's own background work; called before the server and pool close. */
  stop?(): Promise<void>;
}

export interface RunningService {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * The runtime both services share: a pool, the one-port RPC server with the standard
 * interceptors, health, reflection and `/metrics`; listening at once with health
 * NOT_SERVING, SERVING once the database is reachable and migrated.
 */
export async function startRpcService(opts: {
  config: ServiceConfig;
  logger: Logger;
  migrations: readonly Migration[];
  build: (ctx: { sequelize: Sequelize; health: HealthRegistry; metrics: Registry }) => ServiceParts;
}): Promise<RunningService> {
  const { config, logger } = opts;
  useFastUtf8Encoding();
  const sequelize = createSequelize({ url: config.databaseUrl, poolMax: config.dbPoolMax, applicationName: config.serviceName });
  const health = createHealthRegistry();
  const metrics = createMetricsRegistry(config.serviceName);
  const parts = opts.build({ sequelize, health, metrics });
  // Known, and not serving, from the first Check: NOT_FOUND would read as "no such service".
  for (const name of parts.healthServices) health.setStatus(name, 'NOT_SERVING');
  const server = createRpcServer({
    routes: parts.routes,
    interceptors: createStandardInterceptors({
      logger,
      serviceName: config.serviceName,
      auth: { config: config.auth, requirements: parts.requirements, onDenied: parts.onDenied?.bind(parts) },
    }),
    health,
    reflection: config.reflection,
    readMaxBytes: config.maxRequestBytes,
    compressMinBytes: config.compressMinBytes,
    httpRoutes: { '/metrics': metricsRoute(metrics), ...parts.httpRoutes },
    logger,
  });
  const address = await server.listen(config.port, config.host);
  if (config.auth.mode === 'header') {
    logger.warn('AUTH_MODE=header: callers are NOT authenticated and x-user-id is trusted as sent; use AUTH_MODE=jwt in production');
  }
  let readyOnce = false;
  const probe = startReadinessProbe({
    sequelize,
    migrations: opts.migrations,
    migrate: config.migrateOnStart ? async () => void (await runMigrations(sequelize, opts.migrations)) : undefined,
    intervalMs: config.healthCheckIntervalMs,
    logger,
    onChange: (ready) => {
      const status = ready ? 'SERVING' : 'NOT_SERVING';
      for (const name of ['', ...parts.healthServices]) health.setStatus(name, status);
      if (ready && !readyOnce) {
        readyOnce = true;
        parts.onReady?.();
      }
    },
  });
  return {
    ...address,
    async close() {
      probe.stop();
      await server.close(config.shutdownGraceMs);
      await parts.stop?.();
      await sequelize.close();
    },
  };
}
