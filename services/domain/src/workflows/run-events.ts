import type { PgListener } from '../../../../shared/db/pg-listener';
import { RUN_CHANNELS } from './workflow-run-repository';

/** Per-run change notifications, fanned out from the process's one LISTEN connection. */
export interface RunEvents {
  subscribe(uid: string, onChange: () => void): () => void;
}

export function createRunEvents(listener: PgListener): RunEvents {
  const subscribers = new Map<string, Set<() => void>>();
  const everyone = () => subscribers.forEach((set) => set.forEach((fn) => fn()));
  void listener.listen(RUN_CHANNELS.changed, (uid) => subscribers.get(uid)?.forEach((fn) => fn()));
  // Notifications sent while the connection was down are lost: tell everyone to look again.
  listener.onReconnect(everyone);
  return {
    subscribe(uid, onChange) {
      const set = subscribers.get(uid) ?? new Set();
      subscribers.set(uid, set.add(onChange));
      return () => {
        set.delete(onChange);
        if (set.size === 0) subscribers.delete(uid);
      };
    },
  };
}
