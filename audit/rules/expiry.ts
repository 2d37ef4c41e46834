import { expiryInstant } from '../../config/policy.js';
import { daysBetween, finding, type CredentialFacts, type Rule } from '../types.js';

/** The policy's `expires` date (end of that UTC day), else the system's own expiry of the material. */
function expiryOf(facts: CredentialFacts): { at: Date; source: 'policy' | 'system' } | null {
  if (facts.policyExpires) return { at: new Date(expiryInstant(facts.policyExpires)), source: 'policy' };
  if (facts.expiresAt) return { at: facts.expiresAt, source: 'system' };
  return null;
}

/** Expired, or expiring within `expiringSoonDays`: decommission what is done, renew what is not. */
export const expiry: Rule = (facts, { now, thresholds }) => {
  if (facts.status === 'retired' || facts.status === 'gone') return null;
  const expires = expiryOf(facts);
  if (!expires) return null;
  const date = expires.at.toISOString().slice(0, 10);
  if (facts.status === 'manual') return manualExpiry(facts, expires.at, now, thresholds.expiringSoonDays);
  if (expires.at <= now) {
    if (expires.source === 'policy') {
      return finding(facts, 'expiry', 'high', 'Past its expiry date',
        `The policy says this identity expired on ${facts.policyExpires}, yet it is still managed and valid. Decommission it (rotor decommission ${facts.subject}, or rotor decommission --expired for all), or extend expires if it is still needed.`);
    }
    return finding(facts, 'expiry', 'low', 'Expired credential still present',
      `${facts.materialId ?? facts.subject} expired on ${date} but still exists in its system. Delete it, or renew it under a policy if it is still needed.`);
  }
  const left = daysBetween(now, expires.at);
  if (left > thresholds.expiringSoonDays) return null;
  return finding(facts, 'expiry', 'medium', 'Expires soon',
    `${expires.source === 'policy' ? 'The policy says this identity expires' : `${facts.materialId ?? facts.subject} expires`} on ${date} (in ${left} day${left === 1 ? '' : 's'}). ` +
      'Plan its decommissioning with its owner, or extend the date if it is still needed.');
};

/** A manual credential (no API can rotate it): its expiry is the date it must be rotated by hand. */
function manualExpiry(facts: CredentialFacts, at: Date, now: Date, soonDays: number) {
  const how = `Rotor cannot rotate it by API: rotate it by hand (its file's howToRotate says how), then move expires forward.`;
  if (at <= now) return finding(facts, 'expiry', 'high', 'Manual credential expired', `${facts.type} expired on ${facts.policyExpires}. ${how}`);
  const left = daysBetween(now, at);
  if (left > soonDays) return null;
  return finding(facts, 'expiry', 'medium', 'Manual credential expires soon', `${facts.type} expires on ${facts.policyExpires} (in ${left} day${left === 1 ? '' : 's'}). ${how}`);
}
