import type { Policy } from '../config/policy.js';
import type { ProviderContext } from '../providers/contracts.js';
import type { ProviderRegistry } from '../providers/registry.js';

/**
 * Pre-flight for one policy, changing nothing: Rotor's identity can do every step for the
 * credential, its primary store and each dependent, and limits allow a new credential. Returns
 * every problem found, each naming where. Used by the rotation's first step and `rotor plan --check`.
 */
export async function preflightPolicy(
  policy: Policy,
  providers: ProviderRegistry,
  ctx: Omit<ProviderContext, 'credentialId'>,
): Promise<string[]> {
  const context: ProviderContext = { ...ctx, credentialId: policy.id };
  const problems: string[] = [];
  const source = providers.credential(policy.credential.type)?.source;
  const found = (await source?.preflight?.(context, policy.credential.spec, policy.strategy)) ?? [];
  problems.push(...found.map((p) => `credential: ${p}`));
  const stores = [
    { where: 'primary store', type: policy.store.type, spec: policy.store.spec },
    ...policy.dependents.map((d) => ({ where: `dependent ${d.name}`, type: d.type, spec: d.spec })),
  ];
  for (const store of stores) {
    const dependent = providers.store(store.type)?.dependent;
    const storeProblems = (await dependent?.preflight?.(context, store.spec)) ?? [];
    problems.push(...storeProblems.map((p) => `${store.where}: ${p}`));
  }
  return problems;
}
