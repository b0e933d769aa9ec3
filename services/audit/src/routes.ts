import type { ConnectRouter } from '@connectrpc/connect';
import { AuditService } from '../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { createAuditHandler } from './handlers/audit-handler';
import type { ActionLogRepository } from './repositories/action-log-repository';

export function createRoutes(deps: { repo: ActionLogRepository }) {
  return (router: ConnectRouter) => {
    router.service(AuditService, createAuditHandler(deps));
  };
}
