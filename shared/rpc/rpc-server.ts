import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { setMaxListeners } from 'node:events';
import { Code, ConnectError, createContextValues, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';

type NodeHandler = NonNullable<Parameters<typeof connectNodeAdapter>[0]['fallback']>;
import { peerAddressKey } from '../interceptors/peer-address-key';
import type { HealthRegistry } from './health-service';
import { installMalformedRequestMapping } from './malformed-request';
import { registerReflection } from './reflection-service';

export interface RpcLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RpcServerOptions {
  /** The application's services. */
  routes: (router: ConnectRouter) => void;
  /** Applied to every service, health and reflection included. */
  interceptors?: Interceptor[];
  /** Served as grpc.health.v1.Health; shut down by close(). */
  health: HealthRegistry;
  /** Serve grpc.reflection v1 and v1alpha for every registered service. */
  reflection: boolean;
  /** Larger requests fail with RESOURCE_EXHAUSTED. */
  readMaxBytes: number;
  /**
   * Responses at least this large are compressed when the client accepts it (connect's default:
   * 1 KiB); Infinity never compresses. Compressed requests are accepted either way.
   */
  compressMinBytes?: number;
  /** Plain HTTP GET endpoints on the same port (e.g. `/metrics`, `/healthz`), by exact path. */
  httpRoutes?: Record<string, HttpRoute>;
  logger?: RpcLogger;
}

/** A plain HTTP GET endpoint: returns the content type and body to send with status 200 (or the given one). */
export type HttpRoute = () => Promise<{ contentType: string; body: string; status?: number }>;

export interface RpcServer {
  /** Port 0 picks an ephemeral port; the bound address is returned. */
  listen(port: number, host: string): Promise<{ port: number; host: string }>;
  /**
   * Stops accepting connections, lets in-flight calls finish for up to graceMs, then aborts the calls
   * still running (their handler signal fires with UNAVAILABLE) and, at most 100 ms later, destroys the
   * remaining connections.
   */
  close(graceMs: number): Promise<void>;
}

// Every HTTP/2 connection starts with this preface; no HTTP/1 method does.
const H2_PREFACE = Buffer.from('PRI ');
const ABORT_FLUSH_MS = 100;

export function createRpcServer(opts: RpcServerOptions): RpcServer {
  installMalformedRequestMapping();
  const { logger } = opts;
  const shutdown = new AbortController();
  // Every in-flight call listens on this signal; the default cap of 10 would warn under load.
  setMaxListeners(0, shutdown.signal);
  const handler = connectNodeAdapter({
    routes(router) {
      opts.routes(router);
      opts.health.register(router);
      if (opts.reflection) registerReflection(router);
    },
    interceptors: opts.interceptors,
    readMaxBytes: opts.readMaxBytes,
    compressMinBytes: opts.compressMinBytes,
    fallback: (req, res) => serveHttpRoute(opts.httpRoutes ?? {}, req, res),
    shutdownSignal: shutdown.signal,
    // Interceptors see only headers; the connection's address is handed over here.
    contextValues: (req) => createContextValues().set(peerAddressKey, req.socket?.remoteAddress ?? ''),
  });

  // Neither server listens: they only receive sockets handed over by the net server below. A cleartext
  // http2 server cannot speak HTTP/1.1 (allowHTTP1 is TLS-only), hence the split.
  const h1Server = http.createServer(handler);
  const h2Server = http2.createServer(handler);
  const netServer = net.createServer(onConnection);

  const sockets = new Set<net.Socket>();
  const pendingSockets = new Set<net.Socket>();
  const h1ActiveRequests = new Map<net.Socket, number>();
  const h2Sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;
  let onSocketClosed: (() => void) | undefined;

  function onConnection(socket: net.Socket): void {
    sockets.add(socket);
    pendingSockets.add(socket);
    // Without a listener, a client reset before the first byte would crash the process.
    socket.on('error', (err) => logger?.warn({ err, remoteAddress: socket.remoteAddress }, 'rpc socket error'));
    socket.on('close', () => {
      sockets.delete(socket);
      pendingSockets.delete(socket);
      h1ActiveRequests.delete(socket);
      onSocketClosed?.();
    });

    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < H2_PREFACE.length && H2_PREFACE.subarray(0, head.length).equals(head)) return;
      socket.off('data', onData);
      socket.pause();
      socket.unshift(head);
      pendingSockets.delete(socket);
      if (head.subarray(0, H2_PREFACE.length).equals(H2_PREFACE)) {
        // The http2 session reads the unshifted bytes itself; resuming here would let them be lost.
        h2Server.emit('connection', socket);
      } else {
        h1ActiveRequests.set(socket, 0);
        h1Server.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  h1Server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    h1ActiveRequests.set(socket, (h1ActiveRequests.get(socket) ?? 0) + 1);
    if (closing) res.setHeader('connection', 'close');
    res.on('close', () => {
      const active = (h1ActiveRequests.get(socket) ?? 1) - 1;
      h1ActiveRequests.set(socket, active);
      // end() rather than destroy(): the response may still sit in the socket's write buffer.
      if (closing && active === 0) socket.end();
    });
  });

  h2Server.on('session', (session: http2.ServerHttp2Session) => {
    h2Sessions.add(session);
    session.on('close', () => h2Sessions.delete(session));
    // close() sends GOAWAY and waits for open streams, so a session arriving mid-drain still finishes cleanly.
    if (closing) session.close();
  });
  h2Server.on('sessionError', (err: Error) => logger?.warn({ err }, 'rpc http2 session error'));

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        netServer.once('error', reject);
        netServer.listen(port, host, () => {
          netServer.off('error', reject);
          const address = netServer.address() as net.AddressInfo;
          logger?.info({ port: address.port, host: address.address }, 'rpc server listening');
          resolve({ port: address.port, host: address.address });
        });
      });
    },

    async close(graceMs) {
      closing = true;
      opts.health.shutdown();
      const netClosed = new Promise<void>((resolve) => netServer.close(() => resolve()));
      const drained = new Promise<void>((resolve) => {
        onSocketClosed = () => sockets.size === 0 && resolve();
        onSocketClosed();
      });

      for (const socket of pendingSockets) socket.destroy();
      for (const [socket, active] of h1ActiveRequests) if (active === 0) socket.destroy();
      for (const session of h2Sessions) session.close();

      const stillOpenAfter = async (ms: number): Promise<boolean> => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)));
        const result = await Promise.race([drained.then(() => false), timedOut]);
        clearTimeout(timer);
        return result;
      };
      if (await stillOpenAfter(graceMs)) {
        logger?.warn({ connections: sockets.size, graceMs }, 'rpc server grace period expired; aborting calls');
        shutdown.abort(new ConnectError('server is shutting down', Code.Unavailable));
        // Aborted handlers need a moment to write their UNAVAILABLE status, which clients may retry elsewhere;
        // a destroyed stream would reach them as CANCELLED instead.
        if (await stillOpenAfter(ABORT_FLUSH_MS)) {
          for (const session of h2Sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
        }
      }
      await Promise.all([drained, netClosed]);
      logger?.info({}, 'rpc server closed');
    },
  };
}

/** Anything that is not an RPC: a known GET path is served, everything else is 404. */
function serveHttpRoute(routes: Record<string, HttpRoute>, ...[req, res]: Parameters<NodeHandler>): void {
  const route = req.method === 'GET' ? routes[(req.url ?? '').split('?')[0]!] : undefined;
  const send = (status: number, contentType: string, body: string) => {
    res.writeHead(status, { 'content-type': contentType });
    res.end(body);
  };
  if (!route) return send(404, 'text/plain; charset=utf-8', 'not found\n');
  route().then(
    (r) => send(r.status ?? 200, r.contentType, r.body),
    () => send(500, 'text/plain; charset=utf-8', 'error\n'),
  );
}
