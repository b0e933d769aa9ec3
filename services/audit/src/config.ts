import { z } from 'zod';
import { envBoolOptional } from '../../../shared/config/env-types';
import { loadConfig } from '../../../shared/config/load-config';
import { checkServiceEnv, requireDatabaseUrl, serviceEnvShape, toServiceConfig, type ServiceConfig } from '../../../shared/config/service-env';

/** The audit service's settings: the common ones (shared/config/service-env.ts) and read auditing. */
const schema = z
  .object({
    ...serviceEnvShape('AUDIT', { port: 50052, serviceName: 'mcp-audit' }),
    // Unset: on in jwt mode (identities mean something there), off in header mode.
    AUDIT_LOG_READS: envBoolOptional(),
  })
  .refine(...requireDatabaseUrl('AUDIT'))
  .superRefine(checkServiceEnv);

export interface AuditConfig extends ServiceConfig {
  /** Record every Get/List/Verify of the log as a READ entry. */
  readonly auditReads: boolean;
}

export function loadAuditConfig(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  const c = loadConfig(schema, env);
  const common = toServiceConfig('AUDIT', c);
  return { ...common, auditReads: c.AUDIT_LOG_READS ?? common.auth.mode === 'jwt' };
}
