import { InvalidArgumentError, NotFoundError } from '../../../../shared/errors/app-error';
import type { ActionLogRepository } from '../repositories/action-log-repository';
import type { ActionLogEntry } from './action-log-entry';

const NAME = /^actionLogEntries\/([1-9][0-9]{0,18})$/;

/** Parses `actionLogEntries/{seq}` (AIP-122 resource name). */
export function parseEntryName(name: string): bigint {
  const match = NAME.exec(name);
  if (!match) {
    throw InvalidArgumentError.field('name', name ? `"${name}" is not of the form actionLogEntries/{seq}` : 'is required');
  }
  const seq = BigInt(match[1]!);
  if (seq > 9223372036854775807n) throw InvalidArgumentError.field('name', 'seq is out of range');
  return seq;
}

export function entryName(seq: bigint): string {
  return `actionLogEntries/${seq}`;
}

export async function getEntry(repo: ActionLogRepository, name: string): Promise<ActionLogEntry> {
  const entry = await repo.findBySeq(parseEntryName(name));
  if (!entry) throw new NotFoundError('ActionLogEntry', name);
  return entry;
}
