/**
 * Which stores can hold which credential's material, checked when a policy is validated (`rotor
 * validate`, `rotor plan`, the daemon's loader), so no pairing fails at run time, after the
 * credential's system has already changed. Each credential type declares what it produces (its
 * fields and which one is its id); each store what it holds and, as a primary store, how it reads a
 * material's id back (providers/contracts.ts).
 */
import type { CatalogCredential, CatalogStore, ProviderCatalog } from '../providers/catalog.js';

type Report = (path: PropertyKey[], message: string) => void;

interface StoreUse {
  type: string;
  spec: Record<string, unknown>;
}

/** Reports every store of a policy that cannot hold its credential's material, at the store's path. */
export function capabilityProblems(
  catalog: ProviderCatalog,
  credentialType: string,
  primary: StoreUse,
  dependents: ReadonlyArray<StoreUse | undefined>,
  report: Report,
): void {
  const credential = catalog.credential(credentialType);
  if (!credential) return;
  const check = (use: StoreUse, path: PropertyKey[], asPrimary: boolean) => {
    const store = catalog.store(use.type);
    const refusal = store && whyNot(credentialType, credential, use, store, asPrimary);
    if (refusal) report([...path, refusal.key], refusal.message);
  };
  check(primary, ['store'], true);
  dependents.forEach((d, i) => d && check(d, ['dependents', i], false));
}

/** Whether a store of this type could be a primary store of this credential type (for `rotor` help and tests). */
export function canBePrimary(credential: CatalogCredential, store: CatalogStore): boolean {
  return store.primary && store.holds === 'all-fields' && (store.idOnRead === 'kept' || credential.produces.idField !== null);
}

function whyNot(
  credentialType: string,
  credential: CatalogCredential,
  use: StoreUse,
  store: CatalogStore,
  asPrimary: boolean,
): { key: string; message: string } | undefined {
  const { fields, idField } = credential.produces;
  const material = `${credentialType} material (fields ${fields.join(', ')})`;
  if (asPrimary && store.holds !== 'all-fields') {
    return { key: 'type', message: `${use.type} cannot be the primary store of ${material}: it holds one field, and a rotation reads the whole material back from its primary store` };
  }
  if (asPrimary && store.idOnRead === 'id-field' && idField === null) {
    return {
      key: 'type',
      message:
        `${use.type} cannot be the primary store of ${material}: it reads a material's id back from one of its fields, ` +
        `and a ${credentialType}'s id is none of them, so the staged material could never be read back as the credential Rotor made ` +
        `(a rotation would fail after ${credentialType} already changed). Use a primary store that keeps ids itself, e.g. vault-kv or azure-key-vault, and ${use.type} as a dependent`,
    };
  }
  if (store.holds === 'one-field') {
    const field = typeof use.spec.field === 'string' ? use.spec.field : undefined;
    if (field !== undefined && !fields.includes(field)) {
      return { key: 'field', message: `${material} has no field "${field}" for ${use.type} to write` };
    }
    if (field === undefined && fields.length !== 1) {
      return { key: 'type', message: `${use.type} writes one field and ${material} has ${fields.length}: set "field" to one of ${fields.join(', ')}` };
    }
  }
  return undefined;
}
