import { finding, type Rule } from '../types.js';

/** A leak was reported for a secret no policy manages: Rotor cannot rotate it, a human must. */
export const leakedUnmanaged: Rule = (facts) => {
  if (!facts.leaked) return null;
  const where = facts.leaked.location ? ` at ${facts.leaked.location}` : '';
  return finding(
    facts,
    'leaked-unmanaged',
    'critical',
    'Leaked secret that no policy manages',
    `A ${facts.type} was reported leaked by ${facts.leaked.source}${where} on ${facts.leaked.at.toISOString().slice(0, 10)} ` +
      'and matches no credential Rotor manages. Revoke it where it was issued, find who used it, and put its replacement under a rotation policy.',
  );
};
