import { inspectPolicyDirectory, PolicyFileCache, PolicyLoadError, type DeclaredManualCredential, type PolicyProblem, type ProviderCatalog } from '../config/load.js';
import { mergeDiscovery } from '../config/discovery-load.js';
import type { DiscoveryConfig } from '../config/discovery.js';
import type { Policy } from '../config/policy.js';

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
    const { policies, manual, discovery, problems } = await inspectPolicyDirectory(this.dir, this.catalog, { cache: this.#files });
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

  get(id: string): Policy | undefined {
    return this.#byId.get(id);
  }

  all(): Policy[] {
    return [...this.#byId.values()];
  }
}
