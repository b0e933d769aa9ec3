import type { JsonObject } from '@bufbuild/protobuf';

/** In proto enum order (number = index + 1). */
export const ACTION_TYPES = ['CREATE', 'UPDATE', 'DELETE', 'EXECUTE', 'READ'] as const;
export type ActionTypeName = (typeof ACTION_TYPES)[number];

export const ENTITY_TYPES = ['MCP_DEFINITION', 'WORKFLOW_DEFINITION', 'WORKFLOW_RUN', 'ACTION_LOG'] as const;
export type EntityTypeName = (typeof ENTITY_TYPES)[number];

export const ACTOR_TYPES = ['USER', 'SERVICE', 'SYSTEM'] as const;
export type ActorTypeName = (typeof ACTOR_TYPES)[number];

export const OUTCOMES = ['SUCCEEDED', 'DENIED'] as const;
export type OutcomeName = (typeof OUTCOMES)[number];

/** Only the audit service writes these: reads of the log itself. Producers may not. */
export const RESERVED_ACTION_TYPES: readonly ActionTypeName[] = ['READ'];
export const RESERVED_ENTITY_TYPES: readonly EntityTypeName[] = ['ACTION_LOG'];

/** What a producer asks to record (already validated). */
export interface NewEntry {
  readonly eventId: string;
  /** Producer clock; undefined means "now" (the record time). */
  readonly occurTime: Date | undefined;
  readonly actionType: ActionTypeName;
  readonly entityType: EntityTypeName;
  readonly entityId: string;
  readonly details: JsonObject;
  readonly outcome: OutcomeName;
}

/** Who recorded it and from where: taken from request metadata, never from the body. */
export interface Provenance {
  readonly actorId: string;
  readonly actorType: ActorTypeName;
  readonly actorSubject: string;
  readonly actorIssuer: string;
  readonly actorVerified: boolean;
  readonly unverifiedActorId: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string;
  readonly serviceName: string;
  readonly clientIp: string;
  readonly userAgent: string;
}

/** An entry as stored: its place in the log and its link in the hash chain. */
export interface ActionLogEntry extends Provenance {
  readonly seq: bigint;
  readonly eventId: string;
  readonly occurTime: Date;
  readonly recordTime: Date;
  readonly actionType: ActionTypeName;
  readonly entityType: EntityTypeName;
  readonly entityId: string;
  readonly details: JsonObject;
  readonly outcome: OutcomeName;
  /** Which canonical form the hash covers (1: before identity and outcome were recorded). */
  readonly hashVersion: 1 | 2;
  readonly prevHash: string;
  readonly hash: string;
}

/** The outcome of recording one entry: the stored entry, and whether it was already there. */
export interface RecordResult {
  readonly entry: ActionLogEntry;
  readonly replayed: boolean;
}
