/**
 * Exponential backoff with jitter: the delay before attempt `attempt + 1`, i.e. initial ×
 * multiplier^(attempt − 1), capped at max, then scaled by a random factor in [0.5, 1] so
 * that many clients failing together do not retry in lock-step.
 */
export function backoffMs(opts: { attempt: number; initialMs: number; multiplier: number; maxMs: number }): number {
  const step = Math.min(opts.maxMs, opts.initialMs * opts.multiplier ** Math.max(0, opts.attempt - 1));
  return step * (0.5 + Math.random() * 0.5);
}
