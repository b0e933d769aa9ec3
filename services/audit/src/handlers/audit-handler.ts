import { create, type JsonObject } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { InvalidArgumentError, type FieldViolation } from '../../../../shared/errors/app-error';
import {
  AuditService,
  BatchCreateActionLogEntriesResponseSchema,
  CreateActionLogEntryResponseSchema,
  GetActionLogEntryResponseSchema,
  ListActionLogEntriesResponseSchema,
  VerifyActionLogResponseSchema,
} from '../../../../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import type { NewEntry, RecordResult } from '../entries/action-log-entry';
import { recordLogAccess } from '../entries/record-access';
import { getEntry } from '../entries/get-entry';
import { listEntries } from '../entries/list-entries';
import type { GroupCommitter } from '../entries/group-commit';
import { verifyLog } from '../entries/verify-log';
import type { ActionLogRepository } from '../repositories/action-log-repository';
import { parseCreateRequestOrThrow, parseEntryInput, parseView, parseViewOrThrow, type EntryView } from './entry-input';
import { toEntryMessage } from './entry-output';
import { callerProvenance, producerProvenance } from './provenance';

export const MAX_BATCH_ENTRIES = 1000;

const toResult = (r: RecordResult, view: EntryView) =>
  create(CreateActionLogEntryResponseSchema, { actionLogEntry: toEntryMessage(r.entry, view), replayed: r.replayed });

/** Proto in, proto out: validation of shape, then a use case. No SQL, no business rules here. */
export function createAuditHandler(deps: {
  repo: ActionLogRepository;
  committer: GroupCommitter;
  auditReads: boolean;
}): ServiceImpl<typeof AuditService> {
  const { repo } = deps;
  const recordRead = async (entityId: string, details: JsonObject) => {
    if (deps.auditReads) await recordLogAccess(deps.committer, { kind: 'read', entityId, details }, callerProvenance());
  };
  return {
    async createActionLogEntry(req) {
      const { entry, view } = parseCreateRequestOrThrow(req);
      const [result] = await deps.committer.record([entry], producerProvenance());
      return toResult(result!, view);
    },

    async batchCreateActionLogEntries(req) {
      if (req.requests.length === 0) throw InvalidArgumentError.field('requests', 'must contain at least one entry');
      if (req.requests.length > MAX_BATCH_ENTRIES) {
        throw InvalidArgumentError.field('requests', `has ${req.requests.length} entries; the limit is ${MAX_BATCH_ENTRIES}`);
      }
      const entries: NewEntry[] = [];
      const violations: FieldViolation[] = [];
      req.requests.forEach((r, i) => {
        const parsed = parseEntryInput(r, `requests[${i}].`);
        if (parsed.entry) entries.push(parsed.entry);
        violations.push(...parsed.violations);
      });
      const view = parseView(req, violations);
      // All or nothing: one bad entry rejects the batch before anything is written.
      if (violations.length) throw new InvalidArgumentError(violations);
      const results = await deps.committer.record(entries, producerProvenance());
      return create(BatchCreateActionLogEntriesResponseSchema, { results: results.map((r) => toResult(r, view)) });
    },

    async getActionLogEntry(req) {
      const view = parseViewOrThrow(req);
      const entry = await getEntry(repo, req.name);
      await recordRead(req.name, { procedure: 'GetActionLogEntry', view });
      return create(GetActionLogEntryResponseSchema, { actionLogEntry: toEntryMessage(entry, view) });
    },

    async listActionLogEntries(req) {
      const view = parseViewOrThrow(req);
      const page = await listEntries(repo, {
        filter: req.filter,
        orderBy: req.orderBy,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      await recordRead('actionLogEntries', {
        procedure: 'ListActionLogEntries',
        view,
        filter: req.filter,
        orderBy: req.orderBy,
        pageSize: req.pageSize,
        continued: req.pageToken !== '',
        returned: page.entries.length,
      });
      return create(ListActionLogEntriesResponseSchema, {
        actionLogEntries: page.entries.map((e) => toEntryMessage(e, view)),
        nextPageToken: page.nextPageToken,
      });
    },

    async verifyActionLog(req) {
      const r = await verifyLog(repo, req.startSeq, req.endSeq);
      await recordRead('actionLogEntries', {
        procedure: 'VerifyActionLog',
        startSeq: req.startSeq.toString(),
        endSeq: req.endSeq.toString(),
        valid: r.valid,
      });
      return create(VerifyActionLogResponseSchema, {
        valid: r.valid,
        verifiedCount: BigInt(r.verifiedCount),
        firstBrokenSeq: r.firstBrokenSeq,
        failureReason: r.failureReason,
        headHash: r.headHash,
        headSeq: r.headSeq,
      });
    },
  };
}
