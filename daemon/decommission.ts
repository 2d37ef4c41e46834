/**
 * Decommissioning a credential whose identity is no longer needed (the last lifecycle stage in the
 * seeds): revoke its previous and current material, remove it from dependents where the policy
 * says so, mark it retired in the inventory, and record every step in the audit log. Always asked
 * for explicitly (`rotor decommission`); an expired policy is only flagged by the audit.
 */
import { ProviderRefusal, type CredentialSource, type Dependent, type PrimaryStore, type ProviderContext } from '../providers/contracts.js';
import type { Policy } from '../config/policy.js';
import type { Logger } from '../lib/logger.js';
import type { Material } from '../lib/material.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import { markDecommissioned } from '../store/discovery.js';
import { actorId, actorRecord, type Actor } from './auth/actor.js';

export interface DecommissionDeps {
  store: RotorStore;
  providers: ProviderRegistry;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
  /** Who asked, for the audit log (e.g. the CLI's local user, `cli:alice`). */
  actor: Actor;
}

export interface DecommissionReport {
  credential: string;
  /** Material ids made invalid, with how. */
  material: Array<{ id: string; which: 'current' | 'previous'; how: 'revoked' | 'retired' }>;
  dependents: Array<{ name: string; removed: boolean }>;
  /** What could not be done and must be done by hand; empty when complete. */
  problems: string[];
}

export class DecommissionRefused extends Error {
  override readonly name = 'DecommissionRefused';
}

/** Whether the policy's `expires` date is before today (UTC). */
export function isExpired(policy: Policy, now: Date): boolean {
  return policy.expires !== undefined && policy.expires < now.toISOString().slice(0, 10);
}

export async function decommissionCredential(deps: DecommissionDeps, policy: Policy, options: { reason?: string } = {}): Promise<DecommissionReport> {
  const { store } = deps;
  const credentialId = policy.id;
  const [latest] = await store.listRuns(credentialId, 1);
  if (latest?.outcome === 'running') {
    throw new DecommissionRefused(`a rotation of ${credentialId} is running (${latest.rotationId}): abort it or let it finish first`);
  }
  const provider = deps.providers.credential(policy.credential.type);
  const primaryProvider = deps.providers.store(policy.store.type);
  if (!provider || !primaryProvider?.primary) throw new DecommissionRefused(`providers of ${credentialId} are not registered`);
  const source = provider.source as CredentialSource<unknown>;
  const primary = primaryProvider.primary as PrimaryStore<unknown>;
  const ctx: ProviderContext = {
    rotationId: `decommission/${credentialId}`,
    credentialId,
    logger: deps.logger.child({ credentialId, decommission: true }),
    resolveSecret: deps.resolveSecret,
  };
  const audit = (event: string, detail: Record<string, unknown>) =>
    store.appendAudit({ credentialId, actor: actorId(deps.actor), actorInfo: actorRecord(deps.actor), ...(options.reason !== undefined ? { reason: options.reason } : {}), event, detail });
  const report: DecommissionReport = { credential: credentialId, material: [], dependents: [], problems: [] };
  await audit('decommission.started', { reason: options.reason ?? null, expires: policy.expires ?? null });

  const current = await primary.read(ctx, policy.store.spec, 'current');
  const previous = await primary.read(ctx, policy.store.spec, 'previous');
  // Previous first: while current is valid, the provider's revoke guards allow it.
  const materials: Array<{ which: 'current' | 'previous'; material: Material }> = [];
  if (previous && previous.id !== current?.id) materials.push({ which: 'previous', material: previous });
  if (current) materials.push({ which: 'current', material: current });
  if (!current) report.problems.push(`no current material in the primary store: Rotor never rotated ${credentialId}; revoke its credential in its system by hand`);

  for (const { which, material } of materials) {
    try {
      const how = await invalidate(ctx, source, policy, which, material);
      report.material.push({ id: material.id, which, how });
      await audit(`material.${how}`, { material: material.id, which, decommission: true });
    } catch (error) {
      const message = scrub(error, materials.map((m) => m.material));
      report.problems.push(`${which} material ${material.id}: ${message}`);
      await audit('material.revoke-failed', { material: material.id, which, error: message });
    }
  }

  if (policy.decommission?.removeFromDependents) {
    for (const d of policy.dependents) {
      const dependent = deps.providers.store(d.type)?.dependent as Dependent<unknown> | undefined;
      if (!dependent?.remove) {
        report.dependents.push({ name: d.name, removed: false });
        report.problems.push(`dependent ${d.name} (${d.type}) cannot remove material: remove it by hand`);
        continue;
      }
      try {
        await dependent.remove(ctx, d.spec);
        report.dependents.push({ name: d.name, removed: true });
        await audit('dependent.removed', { dependent: d.name });
      } catch (error) {
        const message = scrub(error, materials.map((m) => m.material));
        report.dependents.push({ name: d.name, removed: false });
        report.problems.push(`dependent ${d.name}: ${message}`);
        await audit('dependent.remove-failed', { dependent: d.name, error: message });
      }
    }
  }

  await markDecommissioned(store, credentialId);
  await audit('credential.decommissioned', {
    material: report.material.map((m) => m.id),
    dependentsRemoved: report.dependents.filter((d) => d.removed).map((d) => d.name),
    complete: report.problems.length === 0,
  });
  ctx.logger.info({ material: report.material.map((m) => m.id), problems: report.problems.length }, 'credential decommissioned');
  return report;
}

/**
 * Revokes the previous material the ordinary way; the current one is retired (the provider's
 * revoke keeps the last valid credential on purpose), falling back to revoke where a provider
 * has no retire.
 */
async function invalidate(ctx: ProviderContext, source: CredentialSource<unknown>, policy: Policy, which: 'current' | 'previous', material: Material): Promise<'revoked' | 'retired'> {
  const spec = policy.credential.spec;
  if (which === 'previous' || !source.retire) {
    try {
      await source.revoke(ctx, spec, policy.strategy, material);
      return 'revoked';
    } catch (error) {
      if (!(error instanceof ProviderRefusal) || !source.retire) throw error;
    }
  }
  await source.retire!(ctx, spec, policy.strategy, material);
  return 'retired';
}

/** The error's message without any secret value of the materials handled. */
function scrub(error: unknown, materials: Material[]): string {
  let message = error instanceof Error ? error.message : String(error);
  for (const m of materials) {
    for (const field of m.fieldNames()) {
      const value = m.reveal(field);
      if (value.length >= 4 && value !== m.id) message = message.split(value).join('[redacted]');
    }
  }
  return message;
}
