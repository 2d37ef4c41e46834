import { loadPolicyDirectory, type DeclaredManualCredential, type ProviderCatalog } from '../config/load.js';
import type { Policy } from '../config/policy.js';

/**
 * The policies in force. A reload validates the whole directory first and swaps only when every
 * file is valid, so a bad edit never changes what is running.
 */
export class PolicySet {
  #byId = new Map<string, Policy>();
  #manual: DeclaredManualCredential[] = [];

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
    const { policies, manual } = await loadPolicyDirectory(this.dir, this.catalog);
    this.replace(policies, manual);
    return policies;
  }

  /** Puts an already validated set in force. */
  replace(policies: Policy[], manual: DeclaredManualCredential[] = []): void {
    this.#byId = new Map(policies.map((p) => [p.id, p]));
    this.#manual = manual;
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
