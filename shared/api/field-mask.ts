/**
 * AIP-134 update masks: which fields of the resource an Update call writes.
 *
 * - `*` alone → every field the caller may set (full replacement).
 * - empty mask → if `populated` is given, the allowed fields the request actually populated
 *   (AIP-134's "implied field mask equivalent to all fields that are populated"); otherwise
 *   every allowed field (this project's choice for resources whose settable fields are
 *   always sent together).
 * - otherwise each path must be one of `allowed` (no nested paths unless listed verbatim).
 *
 * The result is de-duplicated and in `allowed` order, so callers get a deterministic write set.
 */
import { InvalidArgumentError } from '../errors/app-error';

export function resolveUpdateMask(paths: readonly string[], allowed: readonly string[], populated?: readonly string[]): string[] {
  if (paths.length === 0) {
    if (populated === undefined) return [...allowed];
    const set = new Set(populated);
    return allowed.filter((field) => set.has(field));
  }
  if (paths.includes('*')) {
    if (paths.length > 1) throw fail(`"*" must be the only path when present, got ${paths.map((p) => `"${p}"`).join(', ')}`);
    return [...allowed];
  }
  paths.forEach((path, index) => {
    if (path === '') throw fail(`path at index ${index} is empty`);
    if (!allowed.includes(path)) throw fail(`unknown or read-only field "${path}"; allowed: ${allowed.join(', ')}`);
  });
  const requested = new Set(paths);
  return allowed.filter((field) => requested.has(field));
}

function fail(description: string): InvalidArgumentError {
  return InvalidArgumentError.field('update_mask', description);
}
