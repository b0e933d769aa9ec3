/**
 * Container health probe (no grpcurl in the images):
 *
 *   node --import tsx scripts/healthcheck.ts <port | host:port> [service]
 *
 * Calls grpc.health.v1.Health/Check over cleartext gRPC (h2c) and exits 0 only when the
 * answer is SERVING; any other status, an error, or no answer within 2 s exits 1. The host
 * defaults to 127.0.0.1 and the service to '' (the server's overall status). Bad arguments
 * exit 2.
 */
import { createClient } from '@connectrpc/connect';
import { Health, HealthCheckResponse_ServingStatus } from '../shared/gen/grpc/health/v1/health_pb';
import { createRpcClientTransport } from '../shared/rpc/client-transport';

const TIMEOUT_MS = 2_000;

function parseTarget(arg: string | undefined): string | undefined {
  const match = /^(?:(.+):)?(\d{1,5})$/.exec(arg ?? '');
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  const host = match[1] ?? '127.0.0.1';
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

async function main(): Promise<number> {
  const [target, service = ''] = process.argv.slice(2);
  const baseUrl = parseTarget(target);
  if (!baseUrl) {
    process.stderr.write('usage: node --import tsx scripts/healthcheck.ts <port | host:port> [service]\n');
    return 2;
  }
  const client = createClient(Health, createRpcClientTransport({ baseUrl, protocol: 'grpc' }));
  try {
    const res = await client.check({ service }, { timeoutMs: TIMEOUT_MS });
    const status = HealthCheckResponse_ServingStatus[res.status] ?? String(res.status);
    if (res.status === HealthCheckResponse_ServingStatus.SERVING) {
      process.stdout.write(`${baseUrl} ${service || '(overall)'}: ${status}\n`);
      return 0;
    }
    process.stderr.write(`${baseUrl} ${service || '(overall)'}: ${status}\n`);
    return 1;
  } catch (err) {
    process.stderr.write(`${baseUrl} health check failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

// Exit explicitly: an HTTP/2 session left open must not keep the probe alive past its timeout.
const hardStop = setTimeout(() => {
  process.stderr.write(`health check timed out after ${TIMEOUT_MS} ms\n`);
  process.exit(1);
}, TIMEOUT_MS + 500);
hardStop.unref();
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`health check crashed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
