import { readFileSync } from 'node:fs';

/**
 * Memory of another process from /proc/<pid>/status (Linux). VmRSS is the resident set now;
 * VmHWM is the kernel's own peak of it ("high water mark") since the process started, so
 * reading VmHWM just before the process is stopped catches peaks between two samples.
 */

export interface ProcMemory {
  /** Resident set size now, bytes. */
  readonly rssBytes: number;
  /** Peak resident set size since start, bytes. */
  readonly hwmBytes: number;
}

/** undefined when the process is gone or /proc is unavailable. */
export function readProcMemory(pid: number): ProcMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  if (rss === undefined) return undefined;
  return { rssBytes: rss, hwmBytes: hwm ?? rss };
}

export interface RssSampler {
  /** Largest VmRSS sampled so far, bytes. */
  readonly maxSampledBytes: number;
  readonly samples: number;
  /** Largest VmRSS sampled since the previous call (or the start), bytes; starts a new interval. */
  takeIntervalMax(): number;
  /** Takes a last sample (including VmHWM) and stops the timer. Call while the process still runs. */
  stop(): { maxSampledBytes: number; hwmBytes: number | undefined; samples: number };
}

/** Samples VmRSS of `pid` every `intervalMs` (default 200 ms) until stop(). */
export function startRssSampler(pid: number, intervalMs = 200): RssSampler {
  let max = 0;
  let intervalMax = 0;
  let samples = 0;
  let hwm: number | undefined;
  const sample = (): void => {
    const m = readProcMemory(pid);
    if (!m) return;
    samples++;
    max = Math.max(max, m.rssBytes);
    intervalMax = Math.max(intervalMax, m.rssBytes);
    hwm = m.hwmBytes;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    get maxSampledBytes() {
      return max;
    },
    get samples() {
      return samples;
    },
    takeIntervalMax() {
      sample();
      const m = intervalMax;
      intervalMax = 0;
      return m;
    },
    stop() {
      sample();
      clearInterval(timer);
      return { maxSampledBytes: max, hwmBytes: hwm, samples };
    },
  };
}

export const MiB = 1024 * 1024;
