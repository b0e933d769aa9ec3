import { Client } from 'pg';
import type { Logger } from '../logging/logger';

export type NotificationHandler = (payload: string) => void;

/**
 * One LISTEN connection per process, shared by everything that waits on PostgreSQL
 * notifications. It reconnects after a lost connection; since notifications sent while it
 * was away are gone, `onReconnect` lets subscribers catch up (e.g. poll once).
 */
export function createPgListener(opts: { url: string; logger: Logger; reconnectMs?: number }) {
  const handlers = new Map<string, Set<NotificationHandler>>();
  const reconnectHandlers = new Set<() => void>();
  let client: Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  async function connect(): Promise<void> {
    const c = new Client({ connectionString: opts.url, application_name: 'pg-listener' });
    c.on('notification', (n) => {
      for (const h of handlers.get(n.channel) ?? []) h(n.payload ?? '');
    });
    c.on('error', (err) => {
      opts.logger.warn({ err }, 'LISTEN connection lost; reconnecting');
      lost(c);
    });
    c.on('end', () => lost(c));
    try {
      await c.connect();
      for (const channel of handlers.keys()) await c.query(`LISTEN "${channel}"`);
    } catch (err) {
      c.removeAllListeners();
      await c.end().catch(() => {});
      throw err;
    }
    client = c;
  }

  /** The live connection went away: drop it and keep trying until a new one listens again. */
  function lost(c: Client) {
    if (stopped || client !== c) return;
    client = undefined;
    c.removeAllListeners();
    void c.end().catch(() => {});
    retry();
  }

  function retry() {
    timer = setTimeout(async () => {
      if (stopped) return;
      try {
        await connect();
        for (const h of reconnectHandlers) h();
      } catch (err) {
        opts.logger.warn({ err }, 'LISTEN reconnect failed; retrying');
        retry();
      }
    }, opts.reconnectMs ?? 1_000);
  }

  return {
    /** Connects and LISTENs; if the database is not there yet, keeps trying in the background. */
    async start(): Promise<void> {
      try {
        await connect();
      } catch (err) {
        opts.logger.warn({ err }, 'LISTEN connection failed; retrying (polling covers the gap)');
        retry();
      }
    },
    async listen(channel: string, handler: NotificationHandler): Promise<() => void> {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await client?.query(`LISTEN "${channel}"`);
      }
      set.add(handler);
      return () => set.delete(handler);
    },
    onReconnect(handler: () => void): () => void {
      reconnectHandlers.add(handler);
      return () => reconnectHandlers.delete(handler);
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners();
        await c.end().catch(() => {});
      }
    },
  };
}

export type PgListener = ReturnType<typeof createPgListener>;
