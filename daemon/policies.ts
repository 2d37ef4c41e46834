import {
  inspectChangedEntries,
  inspectPolicyDirectory,
  PolicyFileCache,
  PolicyLoadError,
  type ChangedEntry,
  type DeclaredManualCredential,
  type PolicyProblem,
  type ProviderCatalog,
} from '../config/load.js';
import { mergeDiscovery } from '../config/discovery-load.js';
import type { DiscoveryConfig } from '../config/discovery.js';
import type { Policy } from '../config/policy.js';

/**
 * What a reload changed in the set in force: each policy whose object is new or gone (a policy of
 * a file not re-read keeps its object), with the one in force before; the manual credentials and
 * discovery configuration in force before. An incremental apply works from it (daemon/apply.ts).
 */
export interface PolicySetChange {
  policies: Map<string, { before?: Policy; after?: Policy }>;
  manualBefore: readonly DeclaredManualCredential[];
  discoveryBefore: DiscoveryConfig | null;
}

/**
 * The policies in force. A reload validates the whole directory first and swaps only when every
 * file is valid, so a bad edit never changes what is running.
 */
export class PolicySet {
  #byId = new Map<string, Policy>();
  /** The policies in walk order, built when asked: an incremental reload changes #byId in place. */
  #ordered: () => Policy[] = () => [];
  #orderedNow: Policy[] | undefined;
  #manual: DeclaredManualCredential[] = [];
  #discovery: DiscoveryConfig | null = null;
  #refused: PolicyProblem[] = [];
  /** Each file's last result: a reload after one edit parses that file only. */
  #files = new PolicyFileCache();
  /** False after a refused reload: the walk the file cache holds is then ahead of the set in force. */
  #walkInForce = false;

  constructor(private readonly dir: string, private readonly catalog: ProviderCatalog) {}

  static async load(dir: string, catalog: ProviderCatalog): Promise<PolicySet> {
    const set = new PolicySet(dir, catalog);
    await set.reload();
    return set;
  }

  static of(policies: Policy[], catalog: ProviderCatalog): PolicySet {
    const set = new PolicySet('', catalog);
    set.replace(policies);
    return set;
  }

  /** Throws PolicyLoadError (and keeps the old set) when any file is invalid. */
  async reload(): Promise<Policy[]> {
    const { policies, manual, discovery, problems } = await inspectPolicyDirectory(this.dir, this.catalog, { cache: this.#files });
    this.#refuseOn(problems);
    this.replace(policies, manual, mergeDiscovery(discovery));
    this.#walkInForce = true;
    return policies;
  }

  /**
   * reload() after a watcher named the entries that changed (undefined: it could not name them):
   * only those are re-checked, unless they cannot pin the change down (then the whole directory is
   * walked); the set in force is then exactly what reload() gives. Says what changed.
   */
  async reloadEntries(changed: ChangedEntry[] | undefined): Promise<PolicySetChange> {
    const before = { byId: this.#byId, manualBefore: this.#manual, discoveryBefore: this.#discovery };
    const found = changed && (await inspectChangedEntries(this.dir, this.catalog, changed, { cache: this.#files }));
    if (!found || !this.#walkInForce) {
      // A walk of the whole directory, or a set in force that is not the walk patched: compare all.
      if (found) this.#refuseOn(found.problems);
      const all = found ? found.inspection() : undefined;
      if (all) this.replace(all.policies, all.manual, mergeDiscovery(all.discovery));
      else await this.reload();
      this.#walkInForce = true;
      return { ...before, policies: changedPolicies(before.byId, this.#byId) };
    }
    this.#refuseOn(found.problems);
    const policies: PolicySetChange['policies'] = new Map();
    for (const r of found.before) for (const p of r.policies) policies.set(p.id, { before: this.#byId.get(p.id) });
    for (const r of found.after) for (const p of r.policies) policies.set(p.id, { before: this.#byId.get(p.id), after: p });
    for (const [id, { after }] of policies) {
      if (after) this.#byId.set(id, after);
      else this.#byId.delete(id);
    }
    this.#ordered = () => found.inspection().policies;
    this.#orderedNow = undefined;
    this.#manual = found.manual;
    this.#discovery = mergeDiscovery(found.discovery);
    return { ...before, policies };
  }

  #refuseOn(problems: PolicyProblem[]): void {
    this.#refused = problems;
    if (problems.length > 0) {
      this.#walkInForce = false;
      throw new PolicyLoadError(problems);
    }
  }

  /** Puts an already validated set in force. */
  replace(policies: Policy[], manual: DeclaredManualCredential[] = [], discovery: DiscoveryConfig | null = null): void {
    this.#byId = new Map(policies.map((p) => [p.id, p]));
    this.#walkInForce = false;
    this.#ordered = () => policies;
    this.#orderedNow = undefined;
    this.#manual = manual;
    this.#discovery = discovery;
  }

  /** The `kind: discovery` documents of the set in force, merged; null when there are none. */
  discovery(): DiscoveryConfig | null {
    return this.#discovery;
  }

  /**
   * The problems of the last reload, when it was refused (the set in force is then the last good
   * one): an incident handled meanwhile says which files are broken.
   */
  refusedProblems(): PolicyProblem[] {
    return this.#refused;
  }

  /** The `kind: manual-credential` documents: credentials Rotor reminds of but cannot rotate. */
  manual(): DeclaredManualCredential[] {
    return this.#manual;
  }

  /** How many policies are in force. */
  get size(): number {
    return this.#byId.size;
  }

  get(id: string): Policy | undefined {
    return this.#byId.get(id);
  }

  /** The members of these groups in the set in force. */
  members(groups: Set<string>): Policy[] {
    const found: Policy[] = [];
    for (const p of this.#byId.values()) if (p.group !== undefined && groups.has(p.group)) found.push(p);
    return found;
  }

  /** Every policy, in the order of the files (as a walk of the directory reads them). */
  all(): Policy[] {
    this.#orderedNow ??= this.#ordered();
    return [...this.#orderedNow];
  }
}

/** The policies whose object differs between two sets (a full reload keeps those of unchanged files). */
function changedPolicies(before: ReadonlyMap<string, Policy>, after: ReadonlyMap<string, Policy>): PolicySetChange['policies'] {
  const changed: PolicySetChange['policies'] = new Map();
  for (const [id, p] of after) if (before.get(id) !== p) changed.set(id, { before: before.get(id), after: p });
  for (const [id, p] of before) if (!after.has(id)) changed.set(id, { before: p });
  return changed;
}
