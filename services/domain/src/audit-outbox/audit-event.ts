import type { JsonObject } from '@bufbuild/protobuf';
import type { ActorType } from '../../../../shared/auth/identity';

export type AuditActionType = 'CREATE' | 'UPDATE' | 'DELETE' | 'EXECUTE';
export type AuditEntityType = 'MCP_DEFINITION' | 'WORKFLOW_DEFINITION' | 'WORKFLOW_RUN';

/** What happened, as a use case describes it. Who and where are added from the request context. */
export interface AuditEvent {
  readonly actionType: AuditActionType;
  readonly entityType: AuditEntityType;
  readonly entityId: string;
  /** Must already be free of secrets. */
  readonly details: JsonObject;
  /** DENIED for a refused call; default SUCCEEDED. */
  readonly outcome?: 'SUCCEEDED' | 'DENIED';
}

/** Who acted and from where, captured when the event is recorded (not when it is sent). */
export interface AuditOrigin {
  readonly actorId: string;
  readonly actorType: ActorType;
  /** Verified subject and issuer (jwt mode), empty otherwise. */
  readonly actorSubject: string;
  readonly actorIssuer: string;
  readonly actorVerified: boolean;
  /** An x-user-id the caller sent that differs from its verified identity. */
  readonly unverifiedActorId: string;
  /** W3C traceparent to forward, so the audit entry joins the request's trace. */
  readonly traceparent: string;
  readonly tracestate: string;
  readonly clientIp: string;
  readonly userAgent: string;
}

/** An outbox row: an event with its origin, waiting for the audit service to acknowledge it. */
export interface OutboxEntry extends AuditEvent, AuditOrigin {
  readonly id: bigint;
  readonly eventId: string;
  readonly occurTime: Date;
  readonly attempts: number;
}
