import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ActionLogEntrySchema, type ActionLogEntry as ActionLogEntryMessage } from '../../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import type { ActionLogEntry } from '../entries/action-log-entry';
import { entryName } from '../entries/get-entry';
import { actionTypeNumber, actorTypeNumber, entityTypeNumber, outcomeNumber, type EntryView } from './entry-input';

/**
 * An entry as the API returns it, in the requested view (AIP-157). BASIC leaves `details` unset:
 * the Struct is never built, so its encoding (the costliest part of a response) is skipped too.
 */
export function toEntryMessage(e: ActionLogEntry, view: EntryView): ActionLogEntryMessage {
  return create(ActionLogEntrySchema, {
    name: entryName(e.seq),
    seq: e.seq,
    eventId: e.eventId,
    occurTime: timestampFromDate(e.occurTime),
    recordTime: timestampFromDate(e.recordTime),
    actorId: e.actorId,
    actionType: actionTypeNumber(e.actionType),
    entityType: entityTypeNumber(e.entityType),
    entityId: e.entityId,
    details: view === 'FULL' ? e.details : undefined,
    traceId: e.traceId,
    spanId: e.spanId,
    traceState: e.traceState,
    serviceName: e.serviceName,
    clientIp: e.clientIp,
    userAgent: e.userAgent,
    hash: e.hash,
    prevHash: e.prevHash,
    actorType: actorTypeNumber(e.actorType),
    actorSubject: e.actorSubject,
    actorIssuer: e.actorIssuer,
    actorVerified: e.actorVerified,
    unverifiedActorId: e.unverifiedActorId,
    outcome: outcomeNumber(e.outcome),
  });
}
