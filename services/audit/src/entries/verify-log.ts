import { InvalidArgumentError, OutOfRangeError } from '../../../../shared/errors/app-error';
import type { ActionLogRepository } from '../repositories/action-log-repository';
import { chainHash, GENESIS_HASH } from './hash-chain';

export interface VerifyResult {
  readonly valid: boolean;
  readonly verifiedCount: number;
  readonly firstBrokenSeq: bigint;
  readonly failureReason: string;
  readonly headSeq: bigint;
  readonly headHash: string;
}

/**
 * Recomputes the chain over [start, end], end 0 meaning the chain head as read when the call
 * starts (entries appended meanwhile are left to the next call, so a busy log never looks
 * broken). Detects an edited field (hash mismatch), a removed entry (a seq missing anywhere
 * in the range, its tail included) or a rewritten link (prev_hash), and, when the range
 * reaches the chain head, a last entry that no longer matches it or an entry past it (one
 * written around the service: appends always move the head in the same transaction).
 */
export async function verifyLog(repo: ActionLogRepository, startSeq: bigint, endSeq: bigint): Promise<VerifyResult> {
  if (startSeq < 0n) throw InvalidArgumentError.field('start_seq', 'must not be negative');
  if (endSeq < 0n) throw InvalidArgumentError.field('end_seq', 'must not be negative');
  if (endSeq !== 0n && startSeq > endSeq) throw InvalidArgumentError.field('end_seq', 'must not be less than start_seq');

  const start = startSeq === 0n ? 1n : startSeq;
  const head = await repo.readHead();
  // Just past the head is an empty range (a monitor that checks "from where it stopped"); further is not yet a range.
  if (start > head.seq + 1n) throw new OutOfRangeError('start_seq', `${start} is past the end of the log (the chain head is at ${head.seq})`);
  const end = endSeq === 0n || endSeq >= head.seq ? head.seq : endSeq;
  const reachesHead = end === head.seq;

  let prevHash = GENESIS_HASH;
  if (start > 1n) {
    const before = await repo.findBySeq(start - 1n);
    if (!before) return broken(0, start - 1n, 'the entry before the range is missing', 0n, '');
    prevHash = before.hash;
  }
  let count = 0;
  let lastSeq = start - 1n;
  let lastHash = prevHash;
  for await (const entry of repo.scan(start, end)) {
    const expectedSeq = lastSeq + 1n;
    if (entry.seq !== expectedSeq) return broken(count, expectedSeq, `entry ${expectedSeq} is missing`, lastSeq, lastHash);
    if (entry.prevHash !== lastHash) return broken(count, entry.seq, 'prev_hash does not link to the previous entry', lastSeq, lastHash);
    const { hash: stored, prevHash: _ignored, ...content } = entry;
    if (chainHash(lastHash, content) !== stored) return broken(count, entry.seq, 'content does not match its hash', lastSeq, lastHash);
    count += 1;
    lastSeq = entry.seq;
    lastHash = stored;
  }
  if (lastSeq < end) {
    const reason = reachesHead ? `entries after ${lastSeq} are missing (chain head is at ${head.seq})` : `entry ${lastSeq + 1n} is missing`;
    return broken(count, lastSeq + 1n, reason, lastSeq, lastHash);
  }
  if (reachesHead) {
    if (lastSeq === head.seq && head.seq > 0n && lastHash !== head.hash) {
      return broken(count, lastSeq, 'the last entry does not match the recorded chain head', lastSeq, lastHash);
    }
    const past = await repo.firstSeqAfter(head.seq);
    // A concurrent append moved the head with its entry; only a head still short of it means forgery.
    if (past !== undefined && past > (await repo.readHead()).seq) {
      return broken(count, past, `entry ${past} is past the recorded chain head (${head.seq}): it was not appended through the chain`, lastSeq, lastHash);
    }
  }
  return { valid: true, verifiedCount: count, firstBrokenSeq: 0n, failureReason: '', headSeq: lastSeq < 0n ? 0n : lastSeq, headHash: lastHash };
}

function broken(count: number, seq: bigint, reason: string, headSeq: bigint, headHash: string): VerifyResult {
  return { valid: false, verifiedCount: count, firstBrokenSeq: seq, failureReason: reason, headSeq, headHash };
}
