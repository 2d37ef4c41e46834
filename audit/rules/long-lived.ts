import { daysBetween, finding, isLive, type Rule } from '../types.js';

/** Material older than its type's maximum age (cloud keys 90 days, database passwords 30 by default). */
export const longLived: Rule = (facts, { now, thresholds }) => {
  if (!isLive(facts)) return null;
  const madeAt = facts.kind === 'discovered' ? facts.createdAt : facts.lastRotatedAt;
  if (!madeAt) return null;
  const max = thresholds.maxAgeDays[facts.type] ?? thresholds.maxAgeDays.default;
  const age = daysBetween(madeAt, now);
  if (age <= max) return null;
  return finding(
    facts,
    'long-lived',
    'medium',
    `Older than ${max} days`,
    `${facts.materialId ?? facts.subject} is ${age} days old; ${facts.type} credentials should live at most ${max} days. ` +
      (facts.kind === 'managed' || facts.managedBy ? `Shorten the policy's cadence and rotate it (rotor rotate ${facts.managedBy ?? facts.subject}).` : 'Rotate or replace it, under a rotation policy.'),
  );
};
