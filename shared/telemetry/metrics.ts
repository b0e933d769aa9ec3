import { collectDefaultMetrics, Registry } from 'prom-client';
import type { HttpRoute } from '../rpc/rpc-server';

/** One Prometheus registry per process, with Node's default metrics (heap, RSS, event loop lag). */
export function createMetricsRegistry(serviceName: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: serviceName });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** `GET /metrics` in the Prometheus text format. */
export function metricsRoute(registry: Registry): HttpRoute {
  return async () => ({ contentType: registry.contentType, body: await registry.metrics() });
}
