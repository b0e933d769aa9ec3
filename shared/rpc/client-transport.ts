import type { Interceptor, Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';

export type RpcProtocol = 'grpc' | 'connect' | 'grpc-web';

export interface RpcClientTransportOptions {
  /** e.g. http://127.0.0.1:50051 — cleartext gRPC uses HTTP/2 with prior knowledge (h2c). */
  baseUrl: string;
  protocol: RpcProtocol;
  interceptors?: Interceptor[];
}

export function createRpcClientTransport({ baseUrl, protocol, interceptors }: RpcClientTransportOptions): Transport {
  switch (protocol) {
    case 'grpc':
      // gRPC needs trailers, so connect-node always speaks HTTP/2 here.
      return createGrpcTransport({ baseUrl, interceptors });
    case 'connect':
      return createConnectTransport({ baseUrl, interceptors, httpVersion: '1.1' });
    case 'grpc-web':
      return createGrpcWebTransport({ baseUrl, interceptors, httpVersion: '1.1' });
  }
}
