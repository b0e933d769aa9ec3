import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createClient } from '@connectrpc/connect';
import { Health, HealthCheckResponse_ServingStatus } from '../../shared/gen/grpc/health/v1/health_pb';
import { createRpcClientTransport } from '../../shared/rpc/client-transport';

const ROOT = path.resolve(__dirname, '../..');

/**
 * A service running as a real child process, restartable on the same port: `node --import tsx
 * <entry>` for TypeScript source, plain `node <entry>` for the compiled build (a `.js` entry).
 */
export interface ServiceProcess {
  readonly url: string;
  readonly port: number;
  /** Lines the process wrote (JSON logs), for assertions and for debugging a failure. */
  readonly output: string[];
  start(): Promise<void>;
  /** SIGKILL: no shutdown hooks run, in-flight work is lost. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
}

export function serviceProcess(opts: { entry: string; port: number; env: Record<string, string> }): ServiceProcess {
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${opts.port}`;
  const output: string[] = [];
  const health = createClient(Health, createRpcClientTransport({ baseUrl: url, protocol: 'grpc' }));

  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()));

  return {
    url,
    port: opts.port,
    output,
    async start() {
      const loader = opts.entry.endsWith('.js') ? [] : ['--import', 'tsx'];
      const c = spawn(process.execPath, [...loader, opts.entry], {
        cwd: ROOT,
        env: { ...process.env, LOG_LEVEL: 'info', ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean));
      c.stdout!.on('data', collect);
      c.stderr!.on('data', collect);
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (c.exitCode !== null) throw new Error(`${opts.entry} exited with ${c.exitCode}:\n${output.slice(-20).join('\n')}`);
        const res = await health.check({ service: '' }, { timeoutMs: 1_000 }).catch(() => undefined);
        if (res?.status === HealthCheckResponse_ServingStatus.SERVING) return;
        if (Date.now() > deadline) throw new Error(`${opts.entry} did not become SERVING:\n${output.slice(-20).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      await exited(child);
    },
    async stop() {
      if (!child) return;
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}
