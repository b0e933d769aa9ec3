import { createClient, Code, ConnectError } from '@connectrpc/connect';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ActionLogEntryView, ActionType, EntityType, Outcome } from '../../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { AuditService } from '../../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { MetadataKeys } from '../../../../shared/interceptors/request-context';
import { createRpcClientTransport } from '../../../../shared/rpc/client-transport';
import type { OutboxEntry } from './audit-event';

/** Delivers one entry to the audit log; resolves once the audit service has committed it. */
export type AuditSink = (entry: OutboxEntry) => Promise<void>;

/** Failures worth pausing the whole relay for: the audit service is not there or not answering. */
export function isUnreachable(err: unknown): boolean {
  const code = ConnectError.from(err).code;
  return code === Code.Unavailable || code === Code.DeadlineExceeded || code === Code.Unknown || code === Code.Internal;
}

/**
 * The gRPC sink: one CreateActionLogEntry per entry, with the original actor, trace context,
 * client IP and user agent in metadata, as the audit service requires (never in the body).
 * It asks for the BASIC view: the relay never reads the echoed entry, so the audit service need
 * not encode its `details` back.
 */
export function createGrpcAuditSink(opts: {
  auditUrl: string;
  serviceName: string;
  timeoutMs: number;
  /** The service's bearer token (jwt mode), read per call so a rotated token is picked up. */
  serviceToken: () => Promise<string | undefined>;
}): AuditSink {
  const client = createClient(AuditService, createRpcClientTransport({ baseUrl: opts.auditUrl, protocol: 'grpc' }));
  return async (e) => {
    const headers: Record<string, string> = {
      [MetadataKeys.actor]: e.actorId,
      [MetadataKeys.actorType]: e.actorType,
      [MetadataKeys.actorVerified]: String(e.actorVerified),
      [MetadataKeys.callerService]: opts.serviceName,
    };
    const token = await opts.serviceToken();
    if (token) headers[MetadataKeys.authorization] = `Bearer ${token}`;
    if (e.actorSubject) headers[MetadataKeys.actorSubject] = e.actorSubject;
    if (e.actorIssuer) headers[MetadataKeys.actorIssuer] = e.actorIssuer;
    if (e.unverifiedActorId) headers[MetadataKeys.unverifiedActor] = e.unverifiedActorId;
    if (e.traceparent) headers[MetadataKeys.traceparent] = e.traceparent;
    if (e.tracestate) headers[MetadataKeys.tracestate] = e.tracestate;
    if (e.clientIp) headers[MetadataKeys.clientIp] = e.clientIp;
    if (e.userAgent) headers[MetadataKeys.clientUserAgent] = e.userAgent;
    await client.createActionLogEntry(
      {
        actionLogEntry: {
          eventId: e.eventId,
          occurTime: timestampFromDate(e.occurTime),
          actionType: ActionType[e.actionType],
          entityType: EntityType[e.entityType],
          entityId: e.entityId,
          details: e.details,
          outcome: e.outcome === 'DENIED' ? Outcome.DENIED : Outcome.SUCCEEDED,
        },
        view: ActionLogEntryView.BASIC,
      },
      { headers, timeoutMs: opts.timeoutMs },
    );
  };
}
