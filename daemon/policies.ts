import {
  inspectChangedEntries,
  inspectPolicyDirectory,
  PolicyFileCache,
  PolicyLoadError,
  type ChangedEntry,
  type DeclaredManualCredential,
  type PolicyInspection,
  type PolicyProblem,
  type ProviderCatalog,
} from '../config/load.js';
import { mergeDiscovery } from '../config/discovery-load.js';
import type { DiscoveryConfig } from '../config/discovery.js';
import type { Policy } from '../config/policy.js';

/** The set in force at one moment, as an incremental apply compares it with the next. */
export interface PolicySnapshot {
  byId: ReadonlyMap<string, Policy>;
  manual: readonly DeclaredManualCredential[];
  discovery: DiscoveryConfig | null;
}

/**
 * The policies in force. A reload validates the whole directory first and swaps only when every
 * file is valid, so a bad edit never changes what is running.
 */
export class PolicySet {
  #byId = new Map<string, Policy>();
  #manual: DeclaredManualCredential[] = [];
  #discovery: DiscoveryConfig | null = null;
  #refused: PolicyProblem[] = [];
  /** Each file's last result: a reload after one edit parses that file only. */
  #files = new PolicyFileCache();

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
    return this.#take(await inspectPolicyDirectory(this.dir, this.catalog, { cache: this.#files }));
  }

  /**
   * reload() after a watcher named the entries that changed: only those are re-checked, unless they
   * cannot pin the change down (then the whole directory is walked). The same result as reload().
   */
  async reloadEntries(changed: ChangedEntry[]): Promise<Policy[]> {
    const inspection = await inspectChangedEntries(this.dir, this.catalog, changed, { cache: this.#files });
    return this.#take(inspection ?? (await inspectPolicyDirectory(this.dir, this.catalog, { cache: this.#files })));
  }

  #take({ policies, manual, discovery, problems }: PolicyInspection): Policy[] {
    this.#refused = problems;
    if (problems.length > 0) throw new PolicyLoadError(problems);
    this.replace(policies, manual, mergeDiscovery(discovery));
    return policies;
  }

  /** Puts an already validated set in force. */
  replace(policies: Policy[], manual: DeclaredManualCredential[] = [], discovery: DiscoveryConfig | null = null): void {
    this.#byId = new Map(policies.map((p) => [p.id, p]));
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

  /** The set in force now; later reloads do not change it. */
  snapshot(): PolicySnapshot {
    return { byId: this.#byId, manual: this.#manual, discovery: this.#discovery };
  }

  get(id: string): Policy | undefined {
    return this.#byId.get(id);
  }

  all(): Policy[] {
    return [...this.#byId.values()];
  }
}
