import { daysBetween, finding, isLive, type Rule } from '../types.js';

/** Active but not used for `unusedDays` (or never used since it was made that long ago): stale. */
export const unusedCredential: Rule = (facts, { now, thresholds }) => {
  if (facts.kind !== 'discovered' || !isLive(facts)) return null;
  // No report of use from a system that does not track it proves nothing.
  if (!facts.lastUsedAt && facts.usageTracked === false) return null;
  const lastActivity = facts.lastUsedAt ?? facts.createdAt;
  if (!lastActivity) return null; // the system gives no usage or creation date: cannot tell
  const idle = daysBetween(lastActivity, now);
  if (idle <= thresholds.unusedDays) return null;
  const what = facts.lastUsedAt ? `not used for ${idle} days (last ${facts.lastUsedAt.toISOString().slice(0, 10)})` : `never used in the ${idle} days since it was created`;
  return finding(
    facts,
    'unused',
    'medium',
    `Unused for more than ${thresholds.unusedDays} days`,
    `${facts.materialId ?? facts.subject} of ${facts.principal ?? facts.type} is still active but ${what}. ` +
      'Disable it; if nothing breaks within a week, delete it. If it is needed, put it under a rotation policy.',
  );
};
