import { finding, isLive, type Rule } from '../types.js';

/** The principal holds grants broader than any one workload needs (admin policy, wildcard actions). */
export const overPrivileged: Rule = (facts) => {
  const broad = facts.broadPrivileges ?? [];
  if (broad.length === 0 || !isLive(facts)) return null;
  return finding(
    facts,
    'over-privileged',
    'critical',
    'Over-privileged principal',
    `${facts.principal ?? facts.subject}: ${broad.join('; ')}. A leaked key of this principal controls everything it can reach. ` +
      'Replace these grants with a policy naming only the actions and resources its workload uses.',
  );
};
