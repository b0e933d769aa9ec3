import * as path from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import type { DescMessage } from '@bufbuild/protobuf';
import { ErrorInfoSchema } from '../gen/google/rpc/error_details_pb';
import { ERROR_DOMAIN } from '../errors/to-connect-error';

interface Serialization {
  parse(data: Uint8Array): unknown;
  serialize(data: unknown): Uint8Array;
}
interface SerializationLookup {
  getI(binary: boolean): Serialization;
  getO(binary: boolean): Serialization;
}
type LookupFactory = (method: { input: DescMessage }, ...rest: unknown[]) => SerializationLookup;

let installed = false;

/**
 * connect-es answers an undecodable protobuf request body with INTERNAL (as grpc-go does),
 * which blames the server for the caller's bytes and happens before any interceptor runs.
 * This wraps its per-method request parser so such a body is INVALID_ARGUMENT with a
 * `MALFORMED_REQUEST` ErrorInfo. It patches the CommonJS module every connect handler reads
 * at call time; the bad-input tests fail if a connect upgrade moves it.
 */
export function installMalformedRequestMapping(): void {
  if (installed) return;
  const file = path.join(path.dirname(require.resolve('@connectrpc/connect')), 'protocol', 'serialization.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const serialization = require(file) as { createMethodSerializationLookup: LookupFactory };
  const original = serialization.createMethodSerializationLookup;
  if (typeof original !== 'function') throw new Error(`connect-es internals moved: ${file} has no createMethodSerializationLookup`);
  serialization.createMethodSerializationLookup = (method, ...rest) => {
    const lookup = original(method, ...rest);
    const guard = (s: Serialization): Serialization => ({
      serialize: (data) => s.serialize(data),
      parse(data) {
        try {
          return s.parse(data);
        } catch (err) {
          const ce = ConnectError.from(err);
          if (ce.code !== Code.Internal) throw err;
          throw new ConnectError(
            `request body is not a valid ${method.input.typeName}: ${ce.rawMessage}`,
            Code.InvalidArgument,
            undefined,
            [{ desc: ErrorInfoSchema, value: { reason: 'MALFORMED_REQUEST', domain: ERROR_DOMAIN, metadata: {} } }],
            err,
          );
        }
      },
    });
    const input = { binary: guard(lookup.getI(true)), json: guard(lookup.getI(false)) };
    return { getI: (binary) => (binary ? input.binary : input.json), getO: (binary) => lookup.getO(binary) };
  };
  installed = true;
}
