import { finding, isLive, type Rule } from '../types.js';

/** An owner that is not (or no longer) on the allowed owners list: the identity is orphaned. */
export const orphanedOwner: Rule = (facts, { allowedOwners }) => {
  if (allowedOwners.length === 0 || !isLive(facts) || !facts.owner?.trim()) return null;
  if (allowedOwners.includes(facts.owner.trim())) return null;
  return finding(
    facts,
    'orphaned-owner',
    'high',
    'Owner not on the allowed owners list',
    `Owner "${facts.owner}" is not a current team or person (ROTOR_ALLOWED_OWNERS). Hand the identity to an existing owner in its policy, or decommission it if nobody needs it.`,
  );
};
