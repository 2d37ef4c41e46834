import { finding, isLive, type Rule } from '../types.js';

/** No accountable owner or no stated purpose. Unmanaged credentials are reported by their own rule. */
export const missingOwnerOrPurpose: Rule = (facts) => {
  if (!isLive(facts) || (facts.kind === 'discovered' && !facts.managedBy)) return null;
  const missing = [!facts.owner?.trim() && 'owner', !facts.purpose?.trim() && 'purpose'].filter(Boolean) as string[];
  if (missing.length === 0) return null;
  return finding(
    facts,
    'missing-owner-or-purpose',
    missing.includes('owner') ? 'high' : 'medium',
    `Missing ${missing.join(' and ')}`,
    `Nobody is recorded as ${missing.join(' or ')} of this identity. Set ${missing.join(' and ')} in its policy so someone answers for it and it can be retired when its purpose ends.`,
  );
};
