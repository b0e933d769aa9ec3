import type { ActionLogRepository } from '../repositories/action-log-repository';
import type { NewEntry, Provenance, RecordResult } from './action-log-entry';
import { recordEntryGroups, type EntryGroup } from './record-entries';

interface Waiting {
  readonly group: EntryGroup;
  resolve(results: RecordResult[]): void;
  reject(err: unknown): void;
}

/**
 * Group commit. Appends serialise on the chain head, so one transaction per request caps the
 * log at a few hundred requests per second. Instead, requests that arrive while a transaction
 * is in flight wait, and the next transaction records all of them (up to `maxEntries`), each
 * entry with its own request's actor and trace. Every caller still hears back only after the
 * commit that holds its entries; if that transaction fails, every request in it fails.
 */
export function createGroupCommitter(repo: ActionLogRepository, opts: { maxEntries: number }) {
  const queue: Waiting[] = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    try {
      while (queue.length) {
        const taken: Waiting[] = [];
        let size = 0;
        while (queue.length && (taken.length === 0 || size + queue[0]!.group.entries.length <= opts.maxEntries)) {
          const next = queue.shift()!;
          size += next.group.entries.length;
          taken.push(next);
        }
        try {
          const results = await recordEntryGroups(repo, taken.map((w) => w.group));
          taken.forEach((w, i) => w.resolve(results[i]!));
        } catch (err) {
          for (const w of taken) w.reject(err);
        }
      }
    } finally {
      running = false;
    }
  }

  return {
    record(entries: readonly NewEntry[], provenance: Provenance): Promise<RecordResult[]> {
      return new Promise((resolve, reject) => {
        queue.push({ group: { entries, provenance }, resolve, reject });
        if (!running) void drain();
      });
    },
  };
}

export type GroupCommitter = ReturnType<typeof createGroupCommitter>;
