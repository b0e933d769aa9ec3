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
      scheduleReconnect(c);
    });
    c.on('end', () => scheduleReconnect(c));
    await c.connect();
    for (const channel of handlers.keys()) await c.query(`LISTEN "${channel}"`);
    client = c;
  }

  function scheduleReconnect(c: Client) {
    if (stopped || client !== c) return;
    client = undefined;
    c.removeAllListeners();
    void c.end().catch(() => {});
    timer = setTimeout(async () => {
      try {
        await connect();
        for (const h of reconnectHandlers) h();
      } catch (err) {
        opts.logger.warn({ err }, 'LISTEN reconnect failed; retrying');
        timer = setTimeout(() => scheduleReconnect(c), 0);
        client = c;
      }
    }, opts.reconnectMs ?? 1_000);
  }

  return {
    start: connect,
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
