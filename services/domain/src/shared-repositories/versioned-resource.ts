import type { JsonObject } from '@bufbuild/protobuf';
import type { Transaction } from 'sequelize';
import { checkEtag } from '../../../../shared/api/etag';
import { parseFilter, type FilterComparison, type FilterFieldSpec } from '../../../../shared/api/filter';
import { decodePageToken, keysetPage, queryFingerprint, resolvePageSize } from '../../../../shared/api/page-token';
import { AlreadyExistsError, NotFoundError } from '../../../../shared/errors/app-error';
import type { AuditEntityType } from '../audit-outbox/audit-event';
import type { DomainDeps } from '../domain-deps';
import { createIdempotently } from './create-idempotently';
import type { NameKeysetQuery } from './name-keyset-query';
import { isDuplicateName } from './request-id';

/** A resource with a unique name, a revision that counts its changes, and an etag. */
export interface VersionedResource {
  readonly uid: string;
  readonly name: string;
  readonly revision: number;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** How one kind of versioned resource is stored, named in errors and recorded in the audit log. */
export interface ResourceKind<T extends VersionedResource> {
  /** The AIP resource type, in NOT_FOUND and ALREADY_EXISTS errors. */
  readonly resource: string;
  /** Its table, whose unique name index turns a duplicate into ALREADY_EXISTS. */
  readonly table: string;
  readonly entityType: AuditEntityType;
  /** The idempotency (request_id) operation of its Create method. */
  readonly createOperation: string;
  readonly store: {
    findByUid(uid: string): Promise<T | undefined>;
    findByName(name: string, opts: { tx: Transaction; lock: 'update' }): Promise<T | undefined>;
    insert(tx: Transaction, resource: T): Promise<void>;
    update(tx: Transaction, resource: T): Promise<void>;
    delete(tx: Transaction, uid: string): Promise<void>;
    list(query: NameKeysetQuery): Promise<{ items: T[]; cutShort: boolean }>;
  };
  readonly etag: (resource: T) => string;
}

/*
 * The life cycle every versioned resource shares, each step in one transaction with exactly one
 * audit entry. What differs per kind (validation, the diff, reference checks, audit details)
 * comes in as callbacks.
 */

/** Create: AIP-155 `request_id` replay, ALREADY_EXISTS on a taken name, revision 1, a CREATE entry. */
export async function createVersioned<T extends VersionedResource>(
  deps: DomainDeps,
  kind: ResourceKind<T>,
  req: {
    name: string;
    rawRequestId: string;
    /** The new resource at revision 1 (may validate against other rows in `tx`). */
    build: (tx: Transaction, fields: Pick<T, 'uid' | 'revision' | 'createTime' | 'updateTime'>) => Promise<T>;
    details: (created: T) => JsonObject;
  },
): Promise<T> {
  try {
    return await createIdempotently(deps, {
      operation: kind.createOperation,
      rawRequestId: req.rawRequestId,
      load: (uid) => kind.store.findByUid(uid),
      create: async (tx, uid) => {
        const now = new Date();
        const created = await req.build(tx, { uid, revision: 1, createTime: now, updateTime: now } as Pick<T, 'uid' | 'revision' | 'createTime' | 'updateTime'>);
        await kind.store.insert(tx, created);
        await deps.audit.record(tx, { actionType: 'CREATE', entityType: kind.entityType, entityId: created.name, details: req.details(created) });
        return created;
      },
    });
  } catch (err) {
    if (isDuplicateName(err, kind.table)) throw new AlreadyExistsError(kind.resource, req.name);
    throw err;
  }
}

/** List: an AIP-160 filter over the kind's fields, AIP-158 keyset pages by name (a token only continues its own query). */
export async function listVersioned<T extends VersionedResource>(
  kind: ResourceKind<T>,
  req: { filter: string; pageSize: number; pageToken: string },
  filter: {
    fields: Record<string, FilterFieldSpec>;
    /** The SQL condition for the parsed filter (a kind may map a field to more than a column test). */
    toSql: (comparisons: readonly FilterComparison[]) => { sql: string; bind: unknown[] };
  },
): Promise<{ items: T[]; nextPageToken: string }> {
  const limit = resolvePageSize(req.pageSize);
  const comparisons = parseFilter(req.filter, filter.fields);
  const fingerprint = queryFingerprint({ resource: kind.resource, filter: req.filter.trim() });
  const cursor = req.pageToken ? decodePageToken(req.pageToken, fingerprint) : undefined;
  const { sql, bind } = filter.toSql(comparisons);
  const { items, cutShort } = await kind.store.list({
    where: sql,
    bind,
    afterName: typeof cursor?.name === 'string' ? cursor.name : undefined,
    limit: limit + 1,
  });
  const page = keysetPage(items, limit, fingerprint, (last) => ({ name: last.name }), cutShort);
  return { items: page.items, nextPageToken: page.nextPageToken };
}

/** Update: row lock, etag, nothing written when nothing changed, else revision + 1 and an UPDATE entry. */
export async function updateVersioned<T extends VersionedResource>(
  deps: DomainDeps,
  kind: ResourceKind<T>,
  req: {
    name: string;
    etag: string;
    /** The resource as it would become, and the audited changes (empty: nothing to write). */
    change: (tx: Transaction, current: T) => Promise<{ next: T; changes: JsonObject }>;
  },
): Promise<T> {
  return deps.sequelize.transaction(async (tx) => {
    const current = await lockedByName(kind, tx, req.name, req.etag);
    const { next, changes } = await req.change(tx, current);
    // Nothing changed: nothing to write and nothing to audit.
    if (Object.keys(changes).length === 0) return current;
    const updated: T = { ...next, revision: current.revision + 1, updateTime: new Date() };
    await kind.store.update(tx, updated);
    await deps.audit.record(tx, { actionType: 'UPDATE', entityType: kind.entityType, entityId: current.name, details: { changes } });
    return updated;
  });
}

/** Delete: row lock, etag, the kind's checks, a DELETE entry with the last state. */
export async function deleteVersioned<T extends VersionedResource>(
  deps: DomainDeps,
  kind: ResourceKind<T>,
  req: {
    name: string;
    etag: string;
    /** Checks before the row goes (it may refuse); returns the DELETE entry's details. */
    details: (tx: Transaction, current: T) => Promise<JsonObject>;
  },
): Promise<void> {
  await deps.sequelize.transaction(async (tx) => {
    const current = await lockedByName(kind, tx, req.name, req.etag);
    const details = await req.details(tx, current);
    await kind.store.delete(tx, current.uid);
    await deps.audit.record(tx, { actionType: 'DELETE', entityType: kind.entityType, entityId: current.name, details });
  });
}

/** The resource, row-locked for the rest of `tx`, after its etag matched (ABORTED otherwise). */
async function lockedByName<T extends VersionedResource>(kind: ResourceKind<T>, tx: Transaction, name: string, etag: string): Promise<T> {
  const current = await kind.store.findByName(name, { tx, lock: 'update' });
  if (!current) throw new NotFoundError(kind.resource, name);
  checkEtag(etag, kind.etag(current), current.name);
  return current;
}
