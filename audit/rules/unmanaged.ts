import { finding, type Rule } from '../types.js';

/** Discovered in a system, but no policy manages it: nobody rotates it and nobody answers for it. */
export const unmanagedCredential: Rule = (facts) => {
  if (facts.kind !== 'discovered' || facts.managedBy || facts.leaked || (facts.status !== 'active' && facts.status !== 'inactive')) return null;
  const active = facts.status === 'active';
  return finding(
    facts,
    'unmanaged',
    active ? 'high' : 'low',
    active ? 'Unmanaged active credential' : 'Unmanaged inactive credential',
    `${facts.materialId ?? facts.subject} of ${facts.principal ?? facts.type} exists but no policy manages it. ` +
      (active
        ? 'Find who uses it; put it under a rotation policy with an owner, or disable and delete it.'
        : 'It is disabled: delete it unless someone can say why it must stay.'),
  );
};
