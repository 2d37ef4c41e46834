/** Reading back what Rotor wrote in a schedule's memo (policy schedules and job schedules alike). */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

/** A memo value Rotor wrote (a string), or undefined when it is absent or cannot be decoded. */
export function memoString(payload: temporal.api.common.v1.IPayload | null | undefined): string | undefined {
  if (!payload) return undefined;
  try {
    const value: unknown = defaultPayloadConverter.fromPayload(payload);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined; // unknown encoding: treated as a schedule of unknown shape (replaced)
  }
}
