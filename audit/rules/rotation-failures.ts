import { finding, type Rule } from '../types.js';

/** Rotations that failed or rolled back recently: the credential may be stuck on old material. */
export const rotationFailures: Rule = (facts, { thresholds }) => {
  const failures = facts.recentFailures ?? [];
  if (facts.kind !== 'managed' || failures.length === 0) return null;
  const last = failures[failures.length - 1]!;
  return finding(
    facts,
    'rotation-failures',
    'high',
    'Rotation failures',
    `${failures.length} rotation${failures.length === 1 ? '' : 's'} failed or rolled back in the last ${thresholds.failureWindowDays} days ` +
      `(last: ${last.outcome}${last.step ? ` at ${last.step}` : ''}, ${last.startedAt.toISOString().slice(0, 10)}). See rotor history ${facts.subject}, fix the cause, then rotate again.`,
  );
};
