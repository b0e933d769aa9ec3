import { backoffMs } from './backoff';

const policy = { initialMs: 100, multiplier: 2, maxMs: 1_000 };

/** Many draws of the delay after `attempt`: their smallest and largest. */
function range(attempt: number, draws = 2_000): [number, number] {
  const delays = Array.from({ length: draws }, () => backoffMs({ ...policy, attempt }));
  return [Math.min(...delays), Math.max(...delays)];
}

describe('backoffMs (exponential, capped, with jitter)', () => {
  it('grows by the multiplier from the initial delay, each draw within [half, full] of its step', () => {
    for (const [attempt, step] of [
      [1, 100],
      [2, 200],
      [3, 400],
      [4, 800],
    ] as const) {
      const [lo, hi] = range(attempt);
      expect(lo).toBeGreaterThanOrEqual(step / 2);
      expect(hi).toBeLessThanOrEqual(step);
      // Jitter really spreads the draws over the interval (not one fixed value).
      expect(hi - lo).toBeGreaterThan(step / 4);
    }
  });

  it('never exceeds the maximum, however many attempts', () => {
    for (const attempt of [5, 10, 100]) {
      const [lo, hi] = range(attempt);
      expect(hi).toBeLessThanOrEqual(1_000);
      expect(lo).toBeGreaterThanOrEqual(500);
    }
  });

  it('treats attempt 0 like attempt 1 and a multiplier of 1 as a constant delay', () => {
    expect(range(0)[1]).toBeLessThanOrEqual(100);
    const [lo, hi] = (() => {
      const d = Array.from({ length: 500 }, (_, i) => backoffMs({ initialMs: 300, multiplier: 1, maxMs: 10_000, attempt: i + 1 }));
      return [Math.min(...d), Math.max(...d)];
    })();
    expect(lo).toBeGreaterThanOrEqual(150);
    expect(hi).toBeLessThanOrEqual(300);
  });
});
