import { daysBetween, finding, type Rule } from '../types.js';

/**
 * A managed credential Rotor has never rotated: its material in service is whatever existed before
 * the policy, of unknown age and exposure.
 */
export const neverRotated: Rule = (facts, { now }) => {
  if (facts.kind !== 'managed' || facts.status !== 'managed' || facts.lastRotatedAt) return null;
  const since = facts.firstSeenAt ? ` since ${facts.firstSeenAt.toISOString().slice(0, 10)} (${daysBetween(facts.firstSeenAt, now)} days)` : '';
  return finding(
    facts,
    'never-rotated',
    'medium',
    'Never rotated',
    `Under a policy${since} but never rotated: the material in service predates Rotor. Rotate it once by hand (rotor rotate ${facts.subject}) to put it on a known cadence.`,
  );
};
