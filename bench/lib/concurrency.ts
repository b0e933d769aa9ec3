/**
 * Runs `count` tasks with at most `concurrency` in flight (a fixed pool of workers pulling the
 * next index), the way a handful of concurrent clients would. Rejects on the first failure,
 * after the tasks already in flight settle, so no call is left dangling.
 */
export async function runWithConcurrency(
  count: number,
  concurrency: number,
  task: (index: number, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async (w: number): Promise<void> => {
    while (!failed) {
      const i = next++;
      if (i >= count) return;
      try {
        await task(i, w);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, (_, w) => worker(w)));
  if (failed) throw failed.err;
}
