/**
 * Search attributes on every rotation workflow, so the Temporal UI (and `rotor history`) can filter
 * run history by credential, type, owner, environment and trigger. Deterministic: shared by the
 * client side and the scheduled-rotation workflow.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import type { Trigger } from './types.js';

export const ROTOR_CREDENTIAL_ID = defineSearchAttributeKey('RotorCredentialId', SearchAttributeType.KEYWORD);
export const ROTOR_CREDENTIAL_TYPE = defineSearchAttributeKey('RotorCredentialType', SearchAttributeType.KEYWORD);
export const ROTOR_OWNER = defineSearchAttributeKey('RotorOwner', SearchAttributeType.KEYWORD);
export const ROTOR_ENVIRONMENT = defineSearchAttributeKey('RotorEnvironment', SearchAttributeType.KEYWORD);
export const ROTOR_TRIGGER = defineSearchAttributeKey('RotorTrigger', SearchAttributeType.KEYWORD);

export const ROTOR_SEARCH_ATTRIBUTES = [ROTOR_CREDENTIAL_ID, ROTOR_CREDENTIAL_TYPE, ROTOR_OWNER, ROTOR_ENVIRONMENT, ROTOR_TRIGGER];

export interface RotationLabels {
  credentialId: string;
  type: string;
  owner: string;
  environment: string;
  trigger: Trigger;
}

export function rotationSearchAttributes(l: RotationLabels): SearchAttributePair[] {
  return [
    { key: ROTOR_CREDENTIAL_ID, value: l.credentialId },
    { key: ROTOR_CREDENTIAL_TYPE, value: l.type },
    { key: ROTOR_OWNER, value: l.owner },
    { key: ROTOR_ENVIRONMENT, value: l.environment },
    { key: ROTOR_TRIGGER, value: l.trigger },
  ];
}
