import { InvalidArgumentError } from '../../../../shared/errors/app-error';
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
 * Recomputes the chain over [start, end]. Detects an edited field (hash mismatch), a removed
 * or inserted entry (seq gap or broken link), and, when the range reaches the end, a log
 * whose last entries no longer match the recorded chain head.
 */
export async function verifyLog(repo: ActionLogRepository, startSeq: bigint, endSeq: bigint): Promise<VerifyResult> {
  if (startSeq < 0n) throw InvalidArgumentError.field('start_seq', 'must not be negative');
  if (endSeq < 0n) throw InvalidArgumentError.field('end_seq', 'must not be negative');
  if (endSeq !== 0n && startSeq > endSeq) throw InvalidArgumentError.field('end_seq', 'must not be less than start_seq');

  const start = startSeq === 0n ? 1n : startSeq;
  const head = await repo.readHead();
  let expectedSeq = start;
  let prevHash = GENESIS_HASH;
  if (start > 1n) {
    const before = await repo.findBySeq(start - 1n);
    if (!before) return broken(0, start - 1n, 'the entry before the range is missing', start - 1n, '');
    prevHash = before.hash;
  }
  let count = 0;
  let lastSeq = start - 1n;
  let lastHash = prevHash;
  for await (const entry of repo.scan(start, endSeq === 0n ? undefined : endSeq)) {
    if (entry.seq !== expectedSeq) return broken(count, expectedSeq, `entry ${expectedSeq} is missing`, lastSeq, lastHash);
    if (entry.prevHash !== prevHash) return broken(count, entry.seq, 'prev_hash does not link to the previous entry', lastSeq, lastHash);
    const { hash: stored, prevHash: _ignored, ...content } = entry;
    if (chainHash(prevHash, content) !== stored) return broken(count, entry.seq, 'content does not match its hash', lastSeq, lastHash);
    count += 1;
    prevHash = stored;
    expectedSeq += 1n;
    lastSeq = entry.seq;
    lastHash = stored;
  }
  const reachesEnd = endSeq === 0n || endSeq >= head.seq;
  if (reachesEnd && lastSeq < head.seq) {
    return broken(count, lastSeq + 1n, `entries after ${lastSeq} are missing (chain head is at ${head.seq})`, lastSeq, lastHash);
  }
  if (reachesEnd && lastSeq === head.seq && lastHash !== head.hash) {
    return broken(count, lastSeq, 'the last entry does not match the recorded chain head', lastSeq, lastHash);
  }
  return { valid: true, verifiedCount: count, firstBrokenSeq: 0n, failureReason: '', headSeq: lastSeq < 0n ? 0n : lastSeq, headHash: lastHash };
}

function broken(count: number, seq: bigint, reason: string, headSeq: bigint, headHash: string): VerifyResult {
  return { valid: false, verifiedCount: count, firstBrokenSeq: seq, failureReason: reason, headSeq, headHash };
}
