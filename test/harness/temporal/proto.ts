/**
 * The Temporal protobuf definitions as the server sees them: the reflection root shipped in
 * `@temporalio/proto`, plain-object message types (int64 as number), and small time/payload helpers.
 */
import protoModule from '@temporalio/proto';
import type { google, temporal } from '@temporalio/proto';

/** What this server uses of a protobufjs reflection type. */
export interface ReflectedType {
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: object): object;
}
interface ReflectedRoot {
  lookupService(name: string): { methodsArray: { name: string; requestType: string; responseType: string }[] };
  lookupType(name: string): ReflectedType;
}

/** The reflection root; its types encode plain objects directly (int64 may be a number). */
export const protoRoot = protoModule as unknown as ReflectedRoot;
/** Runtime enums and namespaces (e.g. `api.enums.v1.EventType`). */
export const api = protoModule.temporal.api;

type LongLike = { toNumber(): number; high: number; low: number };
/** A generated message type with int64 fields as plain numbers, which is how this server stores them. */
export type Plain<T> = T extends LongLike
  ? number
  : T extends Uint8Array
    ? Uint8Array
    : T extends (infer U)[]
      ? Plain<U>[]
      : T extends object
        ? { [K in keyof T]: Plain<T[K]> }
        : T;

export type HistoryEvent = Plain<temporal.api.history.v1.IHistoryEvent>;
export type Payload = Plain<temporal.api.common.v1.IPayload>;
export type Payloads = Plain<temporal.api.common.v1.IPayloads>;
export type Failure = Plain<temporal.api.failure.v1.IFailure>;
export type RetryPolicy = Plain<temporal.api.common.v1.IRetryPolicy>;
export type Timestamp = Plain<google.protobuf.ITimestamp>;
export type Duration = Plain<google.protobuf.IDuration>;
export type Memo = Plain<temporal.api.common.v1.IMemo>;
export type SearchAttributes = Plain<temporal.api.common.v1.ISearchAttributes>;
export type Header = Plain<temporal.api.common.v1.IHeader>;
export type WorkflowExecutionInfo = Plain<temporal.api.workflow.v1.IWorkflowExecutionInfo>;
export type { temporal };

export const EventType = api.enums.v1.EventType;
export const ExecutionStatus = api.enums.v1.WorkflowExecutionStatus;
export const RetryState = api.enums.v1.RetryState;
export const TimeoutType = api.enums.v1.TimeoutType;

/** int64 fields arrive as Long (or number once converted); this reads either. */
export function num(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value);
  if (typeof value === 'object' && 'toNumber' in value) return (value as LongLike).toNumber();
  return 0;
}

export function timestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}
export function timestampMs(ts: Timestamp | null | undefined): number | undefined {
  if (!ts) return undefined;
  return num(ts.seconds) * 1000 + Math.round((ts.nanos ?? 0) / 1e6);
}
export function duration(ms: number): Duration {
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}
/** Milliseconds of a Duration; 0 when absent (protobuf's "unset"). */
export function durationMs(d: Duration | null | undefined): number {
  if (!d) return 0;
  return num(d.seconds) * 1000 + Math.round((d.nanos ?? 0) / 1e6);
}

/** A JSON payload as the SDK's default converter writes it (search attributes, memo fields). */
export function jsonPayload(value: unknown, type?: string): Payload {
  const metadata: Record<string, Uint8Array> = { encoding: Buffer.from('json/plain') };
  if (type) metadata.type = Buffer.from(type);
  return { metadata, data: Buffer.from(JSON.stringify(value)) };
}
/** Reads a JSON payload; undefined when it is not JSON (binary/null payloads are opaque here). */
export function readJsonPayload(payload: Payload | null | undefined): unknown {
  if (!payload?.data) return undefined;
  const encoding = payload.metadata?.encoding ? Buffer.from(payload.metadata.encoding).toString() : '';
  if (encoding === 'binary/null') return null;
  try {
    return JSON.parse(Buffer.from(payload.data).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Decodes a request into a plain object with numbers for int64 and enums, bytes left as Buffers. */
export function decodePlain(type: ReflectedType, bytes: Uint8Array): object {
  return type.toObject(type.decode(bytes), { longs: Number, enums: Number, defaults: false });
}
