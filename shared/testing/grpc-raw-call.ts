import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';

/**
 * Calls `path` (`/package.Service/Method`) with an empty body through a plain grpc-js client,
 * bypassing its generated methods, and resolves with the error: how contract tests reach a
 * method the .proto files do not declare.
 */
export function rawUnaryError(client: Client, path: string): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (arg: Buffer) => arg,
      (buf: Buffer) => buf,
      Buffer.alloc(0),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (err) => (err ? resolve(err) : reject(new Error(`${path} answered without an error`))),
    );
  });
}
