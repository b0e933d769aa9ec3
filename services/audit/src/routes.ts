import type { ConnectRouter } from '@connectrpc/connect';
import { AuditService } from '../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { createAuditHandler } from './handlers/audit-handler';
import type { ActionLogRepository } from './repositories/action-log-repository';
import type { GroupCommitter } from './entries/group-commit';
import type { Requirement } from '../../../shared/auth/permissions';

/** What each RPC needs in jwt mode: only services write, only auditors read. */
export const AUDIT_REQUIREMENTS: ReadonlyMap<string, Requirement> = new Map<string, Requirement>([
  [`${AuditService.typeName}/CreateActionLogEntry`, 'audit_log.write'],
  [`${AuditService.typeName}/BatchCreateActionLogEntries`, 'audit_log.write'],
  [`${AuditService.typeName}/GetActionLogEntry`, 'audit_log.read'],
  [`${AuditService.typeName}/ListActionLogEntries`, 'audit_log.read'],
  [`${AuditService.typeName}/VerifyActionLog`, 'audit_log.read'],
]);

export function createRoutes(deps: { repo: ActionLogRepository; committer: GroupCommitter; auditReads: boolean }) {
  return (router: ConnectRouter) => {
    router.service(AuditService, createAuditHandler(deps));
  };
}
