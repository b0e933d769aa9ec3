/**
 * AIP-154 etags: an opaque string derived from the resource's state, compared for
 * optimistic concurrency on update/delete.
 *
 * The etag is unquoted and strong (no `W/`): it is a proto string field, not an HTTP
 * header, and it changes whenever any hashed part changes. Callers decide what the
 * parts are (usually the stored row's version-relevant columns).
 */
import { createHash } from 'node:crypto';
import { EtagMismatchError } from '../errors/app-error';
import { canonicalJson } from './canonical-json';

/** Etag length in base64url characters: 22 chars = 132 bits of sha256, ample against accidental collisions. */
const ETAG_LENGTH = 22;

/** Deterministic etag of `parts` (sha256 over canonical JSON, so key order does not matter). */
export function computeEtag(parts: unknown): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('base64url').slice(0, ETAG_LENGTH);
}

/**
 * Throws EtagMismatchError (ABORTED) when the caller sent an etag and it is not the current one.
 * An empty `provided` means "no precondition" (AIP-154: etag is optional on requests).
 */
export function checkEtag(provided: string, current: string, resourceName: string): void {
  if (provided !== '' && provided !== current) throw new EtagMismatchError(resourceName, provided);
}
