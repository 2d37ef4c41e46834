import { daysBetween, finding, type Rule } from '../types.js';

/** A managed credential past its cadence: the schedule did not rotate it, or rotations keep failing. */
export const overdueRotation: Rule = (facts, { now }) => {
  if (facts.kind !== 'managed' || facts.status !== 'managed' || !facts.nextDueAt || facts.nextDueAt >= now) return null;
  const late = daysBetween(facts.nextDueAt, now);
  return finding(
    facts,
    'overdue-rotation',
    'high',
    'Rotation overdue',
    `Due ${late === 0 ? 'today' : `${late} day${late === 1 ? '' : 's'} ago`} (${facts.nextDueAt.toISOString().slice(0, 10)}). ` +
      `Rotate it now (rotor rotate ${facts.subject}) and see why the schedule did not (rotor history ${facts.subject}).`,
  );
};
