import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../../../shared/logging/logger';
import type { OutboxRepository } from './outbox-repository';

export interface BacklogSnapshot {
  readonly count: number;
  readonly oldestAgeSeconds: number;
}

/**
 * Makes undelivered audit entries visible: Prometheus gauges, a log line while a backlog
 * exists (a warning once its oldest entry is older than `warnAfterSeconds`), and the last
 * snapshot for `/healthz`.
 */
export function startBacklogMonitor(opts: {
  outbox: OutboxRepository;
  registry: Registry;
  logger: Logger;
  intervalMs: number;
  warnAfterSeconds: number;
}): { latest(): BacklogSnapshot | undefined; stop(): void } {
  const count = new Gauge({ name: 'audit_outbox_backlog', help: 'Audit entries waiting for delivery', registers: [opts.registry] });
  const age = new Gauge({
    name: 'audit_outbox_oldest_age_seconds',
    help: 'Age of the oldest undelivered audit entry',
    registers: [opts.registry],
  });
  let latest: BacklogSnapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      latest = await opts.outbox.backlog();
      count.set(latest.count);
      age.set(latest.oldestAgeSeconds);
      if (latest.count > 0) {
        const level = latest.oldestAgeSeconds > opts.warnAfterSeconds ? 'warn' : 'debug';
        opts.logger[level]({ backlog: latest.count, oldest_age_s: Math.round(latest.oldestAgeSeconds * 10) / 10 }, 'audit outbox backlog');
      }
    } catch (err) {
      opts.logger.debug({ err }, 'could not read the audit outbox backlog');
    } finally {
      if (!stopped) timer = setTimeout(tick, opts.intervalMs);
    }
  };
  void tick();
  return {
    latest: () => latest,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
