import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { durationMs } from './duration.js';
import { DISCOVERY_KIND, isDiscoveryDocument, parseDiscoveryDocument, type DiscoveryConfig } from './discovery.js';
import { MAX_POLICY_FILE_BYTES, policyFiles, PolicyLoadError, type PolicyProblem, type ProviderCatalog } from './load.js';

/**
 * The `kind: discovery` documents under `target`, merged (targets concatenated, the shortest
 * `every` wins); null when there are none. Throws PolicyLoadError like the policy loader.
 */
export async function loadDiscoveryConfig(target: string, catalog: ProviderCatalog): Promise<DiscoveryConfig | null> {
  const problems: PolicyProblem[] = [];
  const found: DiscoveryConfig[] = [];
  for (const file of await policyFiles(target)) {
    const text = await readFile(file, 'utf8');
    if (text.length > MAX_POLICY_FILE_BYTES || !text.includes(DISCOVERY_KIND)) continue;
    for (const doc of parseAllDocuments(text, { uniqueKeys: true }) as ReturnType<typeof parseAllDocuments> & unknown[]) {
      if (doc.errors.length > 0) continue; // the policy loader reports YAML errors
      const value: unknown = doc.toJS({ maxAliasCount: 50 });
      if (!isDiscoveryDocument(value)) continue;
      const config = parseDiscoveryDocument(value, catalog, (path, message) => problems.push({ file, path: path.join('.'), message }));
      if (config) found.push(config);
    }
  }
  if (problems.length > 0) throw new PolicyLoadError(problems);
  if (found.length === 0) return null;
  const every = found.map((c) => c.every).sort((a, b) => durationMs(a) - durationMs(b))[0]!;
  return { every, targets: found.flatMap((c) => c.targets) };
}
