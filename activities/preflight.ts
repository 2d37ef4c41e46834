/**
 * Pre-flight for one policy, changing nothing: Rotor's identity can do every step for the
 * credential, its primary store and each dependent, and limits allow a new credential. The
 * rotation's first step, and `rotor plan --check` (cli/).
 */
import type { Policy } from '../config/policy.js';
import { ProviderRefusal, type ProviderContext } from '../providers/contracts.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { Ref, RunStep } from './step.js';

/** Every problem found, each naming where; empty when the rotation can go ahead. */
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

export function preflightActivities(providers: ProviderRegistry, step: RunStep) {
  return {
    /** Pre-flight as the rotation's first step: a refusal lists every problem; nothing was changed. */
    async preflight(ref: Ref): Promise<void> {
      await step(ref, 'rotation.preflight', async (s) => {
        const problems = await preflightPolicy(s.policy, providers, s.ctx);
        if (problems.length > 0) throw new ProviderRefusal(`pre-flight failed, nothing was changed: ${problems.join('; ')}`);
      });
    },
  };
}
