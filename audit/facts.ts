import type { RotorStore } from '../store/index.js';
import { failedRunsSince, listDiscovered, listInventory, type DiscoveredRow, type FailedRun, type InventoryFacts } from '../store/discovery.js';
import { DAY_MS, type CredentialFacts } from './types.js';
import { listLeakReports, type LeakReport } from '../store/leaks.js';

/** The subject name of a discovered credential: `<type>:<principal>/<credential id>`. */
export function discoveredSubject(row: Pick<DiscoveredRow, 'sourceType' | 'principal' | 'credentialId'>): string {
  return `${row.sourceType}:${row.principal}/${row.credentialId}`;
}

/** Facts of every managed and discovered credential, from the inventory, discovery and rotation runs. */
export async function collectFacts(store: RotorStore, options: { now: Date; failureWindowDays: number }): Promise<CredentialFacts[]> {
  const inventory = await listInventory(store);
  const discovered = await listDiscovered(store);
  const failures = await failedRunsSince(store, new Date(options.now.getTime() - options.failureWindowDays * DAY_MS));
  const leaks = (await listLeakReports(store)).filter((r) => r.status === 'unmanaged');
  return [...buildFacts(inventory, discovered, failures), ...leaks.map(leakFacts)];
}

/** An unmanaged leak report as facts: subject by source and delivery, the fingerprint never shown. */
export function leakFacts(r: LeakReport): CredentialFacts {
  return {
    subject: `leak:${r.source}/${r.deliveryId}`,
    kind: 'discovered',
    type: r.secretType ?? 'secret',
    principal: r.location,
    managedBy: null,
    owner: null,
    purpose: null,
    status: 'unmanaged',
    leaked: { at: r.receivedAt ?? new Date(0), source: r.source, location: r.location },
  };
}

/** Pure part of collectFacts: joins discovered credentials to the policies that manage them. */
export function buildFacts(inventory: InventoryFacts[], discovered: DiscoveredRow[], failures: FailedRun[]): CredentialFacts[] {
  const byId = new Map(inventory.map((c) => [c.id, c]));
  const managed: CredentialFacts[] = inventory
    .filter((c) => c.status !== 'unmanaged')
    .map((c) => ({
      subject: c.id,
      kind: 'managed',
      type: c.type,
      owner: c.owner,
      purpose: c.purpose,
      environment: c.environment,
      status: c.status,
      policyExpires: c.expires,
      lastRotatedAt: c.lastRotatedAt,
      nextDueAt: c.nextDueAt,
      cadenceMs: c.cadenceMs,
      firstSeenAt: c.firstSeenAt,
      recentFailures: failures.filter((f) => f.credentialId === c.id),
    }));
  const found: CredentialFacts[] = discovered.map((d) => {
    const policy = d.managedBy ? byId.get(d.managedBy) : undefined;
    return {
      subject: discoveredSubject(d),
      kind: 'discovered',
      type: d.sourceType,
      principal: d.principal,
      materialId: d.credentialId,
      managedBy: d.managedBy,
      owner: policy?.owner ?? null,
      purpose: policy?.purpose ?? null,
      environment: policy?.environment ?? null,
      status: d.status,
      createdAt: d.createdAt,
      lastUsedAt: d.lastUsedAt,
      usageTracked: d.usageTracked,
      expiresAt: d.expiresAt,
      firstSeenAt: d.firstSeenAt,
      broadPrivileges: d.broadPrivileges,
    };
  });
  return [...managed, ...found];
}
