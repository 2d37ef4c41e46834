/** Server-side retry decisions for activities, with the real server's defaults. */
import { api, durationMs, duration, type Failure, type RetryPolicy } from './proto.js';

const RetryState = api.enums.v1.RetryState;

export interface NormalizedRetryPolicy {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  /** 0 means unlimited. */
  maximumAttempts: number;
  nonRetryableErrorTypes: string[];
}

export function normalizeRetryPolicy(policy: RetryPolicy | null | undefined): NormalizedRetryPolicy {
  const initialIntervalMs = durationMs(policy?.initialInterval) || 1000;
  return {
    initialIntervalMs,
    backoffCoefficient: policy?.backoffCoefficient || 2,
    maximumIntervalMs: durationMs(policy?.maximumInterval) || 100 * initialIntervalMs,
    maximumAttempts: policy?.maximumAttempts ?? 0,
    nonRetryableErrorTypes: policy?.nonRetryableErrorTypes ?? [],
  };
}

export function retryPolicyProto(policy: NormalizedRetryPolicy): RetryPolicy {
  return {
    initialInterval: duration(policy.initialIntervalMs),
    backoffCoefficient: policy.backoffCoefficient,
    maximumInterval: duration(policy.maximumIntervalMs),
    maximumAttempts: policy.maximumAttempts,
    nonRetryableErrorTypes: policy.nonRetryableErrorTypes,
  };
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; retryState: number };

/**
 * Whether attempt `attempt` (1-based, the one that just failed) gets another try, and when.
 * `deadline` is the schedule-to-close deadline, if any: a retry that would start after it is not made.
 */
export function decideRetry(policy: NormalizedRetryPolicy, attempt: number, failure: Failure, now: number, deadline?: number): RetryDecision {
  const app = failure.applicationFailureInfo;
  if (app?.nonRetryable || (app?.type && policy.nonRetryableErrorTypes.includes(app.type))) {
    return { retry: false, retryState: RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE };
  }
  if (policy.maximumAttempts > 0 && attempt >= policy.maximumAttempts) {
    return { retry: false, retryState: RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED };
  }
  const explicit = durationMs(app?.nextRetryDelay);
  const delayMs = explicit || Math.min(policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1), policy.maximumIntervalMs);
  if (deadline !== undefined && now + delayMs >= deadline) return { retry: false, retryState: RetryState.RETRY_STATE_TIMEOUT };
  return { retry: true, delayMs };
}
