import type { JsonObject } from '@bufbuild/protobuf';

export const ACTION_TYPES = ['CREATE', 'UPDATE', 'DELETE', 'EXECUTE'] as const;
export type ActionTypeName = (typeof ACTION_TYPES)[number];

export const ENTITY_TYPES = ['MCP_DEFINITION', 'WORKFLOW_DEFINITION', 'WORKFLOW_RUN'] as const;
export type EntityTypeName = (typeof ENTITY_TYPES)[number];

/** What a producer asks to record (already validated). */
export interface NewEntry {
  readonly eventId: string;
  /** Producer clock; undefined means "now" (the record time). */
  readonly occurTime: Date | undefined;
  readonly actionType: ActionTypeName;
  readonly entityType: EntityTypeName;
  readonly entityId: string;
  readonly details: JsonObject;
}

/** Who recorded it and from where: taken from request metadata, never from the body. */
export interface Provenance {
  readonly actorId: string;
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
  readonly prevHash: string;
  readonly hash: string;
}

/** The outcome of recording one entry: the stored entry, and whether it was already there. */
export interface RecordResult {
  readonly entry: ActionLogEntry;
  readonly replayed: boolean;
}
