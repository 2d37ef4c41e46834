/**
 * gRPC wiring: builds a grpc-js service definition for `WorkflowService` from the protobuf
 * reflection root, routes each method to a handler, and turns thrown RpcErrors into gRPC statuses.
 * Methods without a handler fail at once with UNIMPLEMENTED, naming the method.
 */
import * as grpc from '@grpc/grpc-js';
import { decodePlain, protoRoot } from './proto.js';

const SERVICE = 'temporal.api.workflowservice.v1.WorkflowService';

/** An error the client should see as a gRPC status, optionally with typed details (google.rpc.Status). */
export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly details: { typeName: string; value: object }[] = [],
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new RpcError(grpc.status.NOT_FOUND, message);
export const invalidArgument = (message: string) => new RpcError(grpc.status.INVALID_ARGUMENT, message);
export const alreadyExists = (message: string, details: { typeName: string; value: object }[] = []) =>
  new RpcError(grpc.status.ALREADY_EXISTS, message, details);
export const failedPrecondition = (message: string) => new RpcError(grpc.status.FAILED_PRECONDITION, message);
export const unimplemented = (message: string) => new RpcError(grpc.status.UNIMPLEMENTED, message);

export interface CallContext {
  /** Aborted when the client goes away; long polls stop waiting. */
  signal: AbortSignal;
}
// Requests are decoded plain objects; each handler declares its own request type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (request: any, context: CallContext) => Promise<object>;

const debug = process.env.ROTOR_TEMPORAL_DEBUG === '1';

function toServiceError(error: unknown, method: string): grpc.ServiceError {
  const rpc =
    error instanceof RpcError ? error : new RpcError(grpc.status.INTERNAL, `${method}: ${error instanceof Error ? error.message : String(error)}`);
  if (!(error instanceof RpcError)) console.error(`[temporal test server] ${method} failed`, error);
  const metadata = new grpc.Metadata();
  if (rpc.details.length) {
    const statusType = protoRoot.lookupType('google.rpc.Status');
    const details = rpc.details.map((d) => ({
      type_url: `type.googleapis.com/${d.typeName}`,
      value: protoRoot.lookupType(d.typeName).encode(d.value).finish(),
    }));
    const status = statusType.encode({ code: rpc.code, message: rpc.message, details }).finish();
    metadata.set('grpc-status-details-bin', Buffer.from(status));
  }
  return Object.assign(new Error(rpc.message), { code: rpc.code, details: rpc.message, metadata });
}

/** Binds the WorkflowService on 127.0.0.1:port and returns the bound port. */
export async function serveWorkflowService(
  server: grpc.Server,
  handlers: Record<string, Handler>,
  port: number,
): Promise<number> {
  const service = protoRoot.lookupService(SERVICE);
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methodsArray) {
    const requestType = protoRoot.lookupType(method.requestType.replace(/^\./, ''));
    const responseType = protoRoot.lookupType(method.responseType.replace(/^\./, ''));
    definition[method.name] = {
      path: `/${SERVICE}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: object) => Buffer.from(requestType.encode(value).finish()),
      requestDeserialize: (bytes: Buffer) => decodePlain(requestType, bytes),
      responseSerialize: (value: object) => Buffer.from(responseType.encode(value).finish()),
      responseDeserialize: (bytes: Buffer) => responseType.decode(bytes),
    };
    const handler = handlers[method.name];
    implementation[method.name] = (call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      if (!handler) {
        callback(toServiceError(new RpcError(grpc.status.UNIMPLEMENTED, `${method.name} is not implemented by the Rotor Temporal test server`), method.name));
        return;
      }
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort());
      if (debug) console.error(`[temporal test server] ${Date.now() % 100000} -> ${method.name}`, JSON.stringify(call.request, (_key, v) => (v && v.type === "Buffer" ? Buffer.from(v.data).toString().slice(0, 60) : v)).slice(0, 1500));
      handler(call.request, { signal: controller.signal }).then(
        (response) => {
          if (debug) console.error(`[temporal test server] ${Date.now() % 100000} <- ${method.name}`, JSON.stringify(response).slice(0, 400));
          callback(null, response);
        },
        (error: unknown) => {
          if (debug) console.error(`[temporal test server] !! ${method.name}`, error instanceof Error ? error.message : error);
          callback(toServiceError(error, method.name));
        },
      );
    };
  }
  server.addService(definition, implementation);
  return new Promise((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
}
