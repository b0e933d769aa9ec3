import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as WireStatus,
  type HealthCheckResponse,
} from '../gen/grpc/health/v1/health_pb';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

/** The server's health as served over grpc.health.v1.Health. Service '' is the overall status. */
export interface HealthRegistry {
  setStatus(service: string, status: ServingStatus): void;
  /** undefined when the service was never registered. */
  getStatus(service: string): ServingStatus | undefined;
  /** Marks everything NOT_SERVING, ignores later setStatus calls and ends open Watch streams. */
  shutdown(): void;
  /** Adds the grpc.health.v1.Health implementation to a router. */
  register(router: ConnectRouter): void;
}

type Watcher = (status: WireStatus | 'ended') => void;

export function createHealthRegistry(): HealthRegistry {
  // A server that has not said it is ready must not attract traffic, so '' starts NOT_SERVING.
  const statuses = new Map<string, ServingStatus>([['', 'NOT_SERVING']]);
  const watchers = new Map<string, Set<Watcher>>();
  let shutDown = false;

  const wireStatus = (service: string): WireStatus => {
    const status = statuses.get(service);
    return status === undefined ? WireStatus.SERVICE_UNKNOWN : WireStatus[status];
  };

  const notify = (service: string, status: WireStatus | 'ended'): void => {
    for (const watcher of watchers.get(service) ?? []) watcher(status);
  };

  const setStatus = (service: string, status: ServingStatus): void => {
    // During a drain a late "SERVING" from some component must not re-advertise the server.
    if (shutDown) return;
    if (statuses.get(service) === status) return;
    statuses.set(service, status);
    notify(service, WireStatus[status]);
  };

  async function* watch(service: string, signal: AbortSignal): AsyncGenerator<HealthCheckResponse> {
    // Statuses are queued rather than sampled so that a quick NOT_SERVING → SERVING flip is seen as two events.
    const queue: (WireStatus | 'ended')[] = [wireStatus(service)];
    let wake: (() => void) | undefined;
    const watcher: Watcher = (status) => {
      queue.push(status);
      wake?.();
    };
    const onAbort = (): void => watcher('ended');
    let serviceWatchers = watchers.get(service);
    if (!serviceWatchers) watchers.set(service, (serviceWatchers = new Set()));
    serviceWatchers.add(watcher);
    signal.addEventListener('abort', onAbort);
    if (shutDown || signal.aborted) queue.push('ended');
    try {
      for (;;) {
        const next = queue.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        if (next === 'ended') return;
        yield create(HealthCheckResponseSchema, { status: next });
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      serviceWatchers.delete(watcher);
      if (serviceWatchers.size === 0) watchers.delete(service);
    }
  }

  return {
    setStatus,
    getStatus: (service) => statuses.get(service),
    shutdown() {
      for (const service of statuses.keys()) setStatus(service, 'NOT_SERVING');
      shutDown = true;
      for (const service of watchers.keys()) notify(service, 'ended');
    },
    register(router) {
      router.service(Health, {
        check(req) {
          const status = statuses.get(req.service);
          if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
          return { status: WireStatus[status] };
        },
        watch: (req, ctx) => watch(req.service, ctx.signal),
        list() {
          return {
            statuses: Object.fromEntries([...statuses].map(([service, status]) => [service, { status: WireStatus[status] }])),
          };
        },
      });
    },
  };
}
