import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { InvalidArgumentError, type FieldViolation } from '../../../../shared/errors/app-error';
import type { ActionType, ActorType, EntityType } from '../../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import type { CreateActionLogEntryRequest } from '../../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { ActionLogEntryView, Outcome } from '../../../../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { ACTION_TYPES, ACTOR_TYPES, ENTITY_TYPES, RESERVED_ACTION_TYPES, RESERVED_ENTITY_TYPES, type NewEntry, type OutcomeName } from '../entries/action-log-entry';

/** Limits on one entry; the request as a whole is capped by the server's read limit (4 MiB). */
export const DETAILS_MAX_BYTES = 64 * 1024;
export const ENTITY_ID_MAX_LENGTH = 256;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, as in google.protobuf.Timestamp's documented range.
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

function enumName<T extends number>(value: T, names: readonly string[], field: string, typeName: string, v: FieldViolation[]): string {
  if (value === 0) v.push({ field, description: `is required (${typeName}_UNSPECIFIED is not allowed)` });
  else if (!names[value - 1]) v.push({ field, description: `unknown ${typeName} value ${value}` });
  return names[value - 1] ?? '';
}

function reserved(name: string, list: readonly string[], field: string, v: FieldViolation[]): void {
  if (list.includes(name)) v.push({ field, description: `${name} is reserved for entries the audit service records itself` });
}

function outcome(value: Outcome, field: string, v: FieldViolation[]): OutcomeName {
  if (value === Outcome.UNSPECIFIED || value === Outcome.SUCCEEDED) return 'SUCCEEDED';
  if (value === Outcome.DENIED) return 'DENIED';
  v.push({ field, description: `unknown OUTCOME value ${value}` });
  return 'SUCCEEDED';
}

function occurTime(ts: Timestamp | undefined, field: string, v: FieldViolation[]): Date | undefined {
  if (!ts) return undefined;
  if (ts.seconds < MIN_SECONDS || ts.seconds > MAX_SECONDS || ts.nanos < 0 || ts.nanos > 999_999_999) {
    v.push({ field, description: 'is not a valid timestamp (years 0001-9999, nanos 0-999999999)' });
    return undefined;
  }
  return timestampDate(ts);
}

/**
 * Turns one request into a validated NewEntry. Every problem is collected and reported with
 * its full field path (`prefix` makes batch paths like `requests[3].action_log_entry.entity_id`).
 */
export function parseEntryInput(req: CreateActionLogEntryRequest, prefix = ''): { entry?: NewEntry; violations: FieldViolation[] } {
  const base = `${prefix}action_log_entry`;
  const e = req.actionLogEntry;
  if (!e) return { violations: [{ field: base, description: 'is required' }] };
  const v: FieldViolation[] = [];
  if (!e.eventId) v.push({ field: `${base}.event_id`, description: 'is required' });
  else if (!UUID.test(e.eventId)) v.push({ field: `${base}.event_id`, description: `"${e.eventId}" is not a UUID` });
  const actionType = enumName(e.actionType, ACTION_TYPES, `${base}.action_type`, 'ACTION_TYPE', v);
  const entityType = enumName(e.entityType, ENTITY_TYPES, `${base}.entity_type`, 'ENTITY_TYPE', v);
  reserved(actionType, RESERVED_ACTION_TYPES, `${base}.action_type`, v);
  reserved(entityType, RESERVED_ENTITY_TYPES, `${base}.entity_type`, v);
  const result = outcome(e.outcome, `${base}.outcome`, v);
  if (!e.entityId.trim()) v.push({ field: `${base}.entity_id`, description: 'is required' });
  else if (e.entityId.length > ENTITY_ID_MAX_LENGTH) v.push({ field: `${base}.entity_id`, description: `must be at most ${ENTITY_ID_MAX_LENGTH} characters` });
  // eslint-disable-next-line no-control-regex
  else if (/[\u0000-\u001f]/.test(e.entityId)) v.push({ field: `${base}.entity_id`, description: 'must not contain control characters' });
  const time = occurTime(e.occurTime, `${base}.occur_time`, v);
  const details = e.details ?? {};
  const detailsBytes = Buffer.byteLength(JSON.stringify(details));
  if (detailsBytes > DETAILS_MAX_BYTES) {
    v.push({ field: `${base}.details`, description: `is ${detailsBytes} bytes as JSON; the limit is ${DETAILS_MAX_BYTES}` });
  }
  if (v.length) return { violations: v };
  return {
    entry: {
      eventId: e.eventId.toLowerCase(),
      occurTime: time,
      actionType: actionType as NewEntry['actionType'],
      entityType: entityType as NewEntry['entityType'],
      entityId: e.entityId,
      details,
      outcome: result,
    },
    violations: [],
  };
}

/** AIP-157: how much of each entry a response carries. */
export type EntryView = 'BASIC' | 'FULL';

const VIEWS: Readonly<Partial<Record<number, EntryView>>> = {
  [ActionLogEntryView.UNSPECIFIED]: 'FULL',
  [ActionLogEntryView.BASIC]: 'BASIC',
  [ActionLogEntryView.FULL]: 'FULL',
};

/**
 * The one place a request's `view` is read (Create, Batch, Get, List). An unknown number is a
 * violation of `view`. A batch's nested `requests[i].view` must be unset or mean the same view
 * as the batch's (UNSPECIFIED and FULL are the same), or it is a violation of `requests[i].view`.
 */
export function parseView(
  req: { readonly view: ActionLogEntryView; readonly requests?: readonly { readonly view: ActionLogEntryView }[] },
  v: FieldViolation[],
): EntryView {
  const view = VIEWS[req.view];
  if (!view) {
    v.push({ field: 'view', description: `unknown ACTION_LOG_ENTRY_VIEW value ${req.view}` });
    return 'FULL';
  }
  req.requests?.forEach((r, i) => {
    if (r.view !== ActionLogEntryView.UNSPECIFIED && VIEWS[r.view] !== view) {
      const given = ActionLogEntryView[r.view] ?? String(r.view);
      v.push({ field: `requests[${i}].view`, description: `is ${given}; it must be unset or the batch's view (${view})` });
    }
  });
  return view;
}

export function parseViewOrThrow(req: { readonly view: ActionLogEntryView }): EntryView {
  const v: FieldViolation[] = [];
  const view = parseView(req, v);
  if (v.length) throw new InvalidArgumentError(v);
  return view;
}

/** A whole CreateActionLogEntryRequest: the entry to record and the view to answer with. */
export function parseCreateRequestOrThrow(req: CreateActionLogEntryRequest): { entry: NewEntry; view: EntryView } {
  const { entry, violations } = parseEntryInput(req);
  const view = parseView(req, violations);
  if (!entry || violations.length) throw new InvalidArgumentError(violations);
  return { entry, view };
}

// Keep the proto enum numbering and the domain name lists in lock-step.
export const actionTypeNumber = (name: string): ActionType => (ACTION_TYPES.indexOf(name as never) + 1) as ActionType;
export const entityTypeNumber = (name: string): EntityType => (ENTITY_TYPES.indexOf(name as never) + 1) as EntityType;
export const actorTypeNumber = (name: string): ActorType => (ACTOR_TYPES.indexOf(name as never) + 1) as ActorType;
export const outcomeNumber = (name: OutcomeName): Outcome => (name === 'DENIED' ? Outcome.DENIED : Outcome.SUCCEEDED);
