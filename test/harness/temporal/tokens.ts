/** Task tokens: opaque bytes to the SDK, readable JSON to us. */
import { invalidArgument } from './grpc-service.js';

export interface TaskToken {
  kind: 'workflow' | 'activity' | 'query';
  namespace: string;
  workflowId: string;
  runId: string;
  /** Workflow task: its scheduled event id; activity: its scheduled event id; query: unused. */
  eventId: number;
  attempt: number;
  queryId?: string;
}

export function encodeToken(token: TaskToken): Uint8Array {
  return Buffer.from(JSON.stringify(token));
}

export function decodeToken(bytes: Uint8Array | null | undefined, kind: TaskToken['kind']): TaskToken {
  try {
    const token = JSON.parse(Buffer.from(bytes ?? []).toString('utf8')) as TaskToken;
    if (token.kind === kind) return token;
  } catch {
    // fall through
  }
  throw invalidArgument(`invalid ${kind} task token`);
}
