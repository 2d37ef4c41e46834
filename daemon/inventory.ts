import { createHash } from 'node:crypto';
import { durationMs } from '../config/duration.js';
import type { Policy } from '../config/policy.js';
import type { InventoryEntry } from '../store/index.js';

/** The inventory row a policy declares; the hash lets reconcilers skip unchanged policies. */
export function inventoryEntry(policy: Policy): InventoryEntry {
  const { source: _source, ...declared } = policy;
  return {
    id: policy.id,
    type: policy.credential.type,
    owner: policy.owner,
    purpose: policy.purpose,
    environment: policy.environment,
    expires: policy.expires,
    policyHash: createHash('sha256').update(JSON.stringify(declared)).digest('hex').slice(0, 16),
    cadenceMs: policy.schedule.every ? durationMs(policy.schedule.every) : undefined,
    snapshot: policy,
  };
}
