import { durationMs } from './duration.js';
import type { DiscoveryConfig } from './discovery.js';
import { inspectPolicyDirectory, PolicyLoadError, type LoadOptions, type ProviderCatalog } from './load.js';

/**
 * The `kind: discovery` documents under `target`, merged (targets concatenated, the shortest
 * `every` wins); null when there are none. Throws PolicyLoadError when a discovery document is
 * invalid (problems of other documents are the policy loader's to report).
 */
export async function loadDiscoveryConfig(target: string, catalog: ProviderCatalog, options: LoadOptions = {}): Promise<DiscoveryConfig | null> {
  const inspection = await inspectPolicyDirectory(target, catalog, options);
  if (inspection.discoveryProblems.length > 0) throw new PolicyLoadError(inspection.discoveryProblems);
  return mergeDiscovery(inspection.discovery);
}

/** Several discovery documents as one configuration; null when there are none. */
export function mergeDiscovery(found: DiscoveryConfig[]): DiscoveryConfig | null {
  if (found.length === 0) return null;
  const every = found.map((c) => c.every).sort((a, b) => durationMs(a) - durationMs(b))[0]!;
  return { every, targets: found.flatMap((c) => c.targets) };
}
