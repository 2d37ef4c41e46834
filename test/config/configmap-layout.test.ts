/**
 * Issue 13 item 4 (loader part): a Kubernetes ConfigMap mounted as a directory. The kubelet writes
 * each key into a timestamped directory `..2026_…`, points the symlink `..data` at it, and exposes
 * each key as `name.yaml -> ..data/name.yaml`; an update writes a new timestamped directory, renames
 * a new `..data_tmp` link over `..data` (atomic) and deletes the old directory. The test builds that
 * exact layout and swaps it the same way.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPolicies } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { tempDir, validPolicy, writeConfigMap } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => ({ dir, remove } = await tempDir('rotor-configmap-')));
afterEach(() => remove());

describe('a policy directory mounted from a ConfigMap', () => {
  it('is read through its symlinks, once, without the timestamped directories', async () => {
    await writeConfigMap(dir, '2026_01_01_00_00_00.000000001', { 'payments.yaml': validPolicy('payments-db'), 'billing.yml': validPolicy('billing-db') });
    const policies = await loadPolicies(dir, registry.catalog);
    expect(policies.map((p) => p.id).sort()).toEqual(['billing-db', 'payments-db']);
    // Reported under the name the user wrote, not the kubelet's hidden path.
    expect(policies.map((p) => p.source.file).sort()).toEqual([join(dir, 'billing.yml'), join(dir, 'payments.yaml')]);
  });

  it('an atomic swap of ..data is what the next load reads, also while the old generation still exists', async () => {
    await writeConfigMap(dir, '2026_01_01_00_00_00.000000001', { 'payments.yaml': validPolicy('payments-db', 'schedule:\n  every: 30d\n') });
    expect((await loadPolicies(dir, registry.catalog))[0]!.schedule.every).toBe('30d');
    await writeConfigMap(dir, '2026_01_02_00_00_00.000000002', { 'payments.yaml': validPolicy('payments-db', 'schedule:\n  every: 7d\n') });
    // The kubelet deletes the old generation only after the swap: both exist now.
    const [policy, ...rest] = await loadPolicies(dir, registry.catalog);
    expect(rest).toEqual([]);
    expect(policy!.schedule.every).toBe('7d');
    await rm(join(dir, '..2026_01_01_00_00_00.000000001'), { recursive: true });
    expect((await loadPolicies(dir, registry.catalog))[0]!.schedule.every).toBe('7d');
  });
});
