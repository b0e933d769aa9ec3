import { z } from 'zod';
import { loadConfig } from '../../../shared/config/load-config';
import { requireDatabaseUrl, serviceEnvShape, toServiceConfig, type ServiceConfig } from '../../../shared/config/service-env';

/** The audit service's settings: only the common ones (see shared/config/service-env.ts). */
const schema = z.object(serviceEnvShape('AUDIT', { port: 50052, serviceName: 'mcp-audit' })).refine(...requireDatabaseUrl('AUDIT'));

export type AuditConfig = ServiceConfig;

export function loadAuditConfig(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  return toServiceConfig('AUDIT', loadConfig(schema, env));
}
