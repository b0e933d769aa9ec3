import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';

/**
 * Decodes the `grpc-status-details-bin` trailer (google.rpc.Status) for tests that use plain
 * @grpc/grpc-js clients, independent of the generated code. google/rpc/status.proto is not
 * vendored, so Status and Any are declared here next to the vendored error_details.proto.
 */
const root = new protobuf.Root();
root.loadSync(path.resolve(__dirname, '../../proto/vendor/google/rpc/error_details.proto'), { keepCase: true });
protobuf.parse(
  `syntax = "proto3";
   package google.rpc;
   message Status { int32 code = 1; string message = 2; repeated StatusAny details = 3; }
   message StatusAny { string type_url = 1; bytes value = 2; }`,
  root,
  { keepCase: true },
);
const StatusType = root.lookupType('google.rpc.Status');
export const ErrorInfoType = root.lookupType('google.rpc.ErrorInfo');
export const BadRequestType = root.lookupType('google.rpc.BadRequest');
export const ERROR_INFO_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
export const BAD_REQUEST_URL = 'type.googleapis.com/google.rpc.BadRequest';

export interface DecodedStatus {
  code: number;
  message: string;
  details: { type_url: string; value: Uint8Array }[];
}

/** The trailer's raw bytes and its decoded google.rpc.Status; throws unless exactly one is present. */
export function statusDetails(err: grpc.ServiceError): { raw: Buffer; status: DecodedStatus } {
  const values = err.metadata.get('grpc-status-details-bin');
  if (values.length !== 1) throw new Error(`expected one grpc-status-details-bin trailer, got ${values.length}`);
  const raw = values[0];
  if (!Buffer.isBuffer(raw)) throw new Error('grpc-status-details-bin is not binary');
  return { raw, status: StatusType.toObject(StatusType.decode(raw), { defaults: true }) as DecodedStatus };
}

/** One detail of the status, decoded with `type`; throws when the status has none of `typeUrl`. */
export function detail(status: DecodedStatus, typeUrl: string, type: protobuf.Type): Record<string, unknown> {
  const any = status.details.find((d) => d.type_url === typeUrl);
  if (!any) throw new Error(`no ${typeUrl} detail in ${status.details.map((d) => d.type_url).join(', ')}`);
  return type.toObject(type.decode(any.value), { defaults: true });
}
