import type { Sequelize } from 'sequelize';
import type { Logger } from '../logging/logger';
import { isSchemaCurrent, type Migration } from './migrator';

/**
 * Decides whether the service can serve: the database answers and every migration is
 * applied (running them first when `migrate` is given). Re-checked on an interval so a
 * lost database turns health NOT_SERVING and a recovered one turns it back.
 */
export function startReadinessProbe(opts: {
  sequelize: Sequelize;
  migrations: readonly Migration[];
  migrate?: () => Promise<void>;
  intervalMs: number;
  logger: Logger;
  onChange: (ready: boolean) => void;
}): { stop(): void } {
  let ready: boolean | undefined;
  let migrated = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const set = (next: boolean, reason?: unknown) => {
    if (next === ready) return;
    ready = next;
    if (next) opts.logger.info('database reachable and migrated: serving');
    else opts.logger.warn({ err: reason }, 'database not ready: not serving');
    opts.onChange(next);
  };

  const check = async () => {
    try {
      await opts.sequelize.query('SELECT 1');
      if (opts.migrate && !migrated) {
        await opts.migrate();
        migrated = true;
      }
      const current = await isSchemaCurrent(opts.sequelize, opts.migrations);
      set(current, current ? undefined : new Error('schema is not current: run `npm run db:migrate`'));
    } catch (err) {
      set(false, err);
    } finally {
      if (!stopped) timer = setTimeout(check, opts.intervalMs);
    }
  };
  void check();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
