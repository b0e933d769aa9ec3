import { createContextKey } from '@connectrpc/connect';

/** The remote address of the connection a call arrived on, set by the RPC server per request. */
export const peerAddressKey = createContextKey<string>('', { description: 'peer address of the connection' });
