/**
 * Every provider Rotor knows, one registration line each. The protocol, the workflows and the
 * policy loader reach providers only through this registry and never name one.
 */
import type { ProviderCatalog } from './catalog.js';
import type { CredentialProvider, StoreProvider } from './contracts.js';
import { awsIamAccessKey } from './aws-iam-access-key/index.js';
import { awsSecretsManager } from './aws-secrets-manager/index.js';
import { azureKeyVault } from './azure-key-vault/index.js';
import { azureSpSecret } from './azure-sp-secret/index.js';
import { gcpSaKey } from './gcp-sa-key/index.js';
import { gcpSecretManager } from './gcp-secret-manager/index.js';
import { githubActionsSecret } from './github-actions-secret/index.js';
import { githubDeployKey } from './github-deploy-key/index.js';
import { gitlabToken } from './gitlab-token/index.js';
import { kubernetesSecret } from './kubernetes-secret/index.js';
import { ldapPassword } from './ldap-password/index.js';
import { mysqlPassword } from './mysql-password/index.js';
import { postgresPassword } from './postgres-password/index.js';
import { redisAclPassword } from './redis-acl-password/index.js';
import { vaultKv } from './vault-kv/index.js';

/** Rotor's credential types, one line each (tests build registries with more: createRegistry). */
export const credentialProviders: readonly CredentialProvider[] = [
  postgresPassword,
  awsIamAccessKey,
  githubDeployKey,
  gitlabToken,
  azureSpSecret,
  gcpSaKey,
  mysqlPassword,
  redisAclPassword,
  ldapPassword,
];

export const storeProviders: readonly StoreProvider[] = [
  vaultKv,
  awsSecretsManager,
  githubActionsSecret,
  azureKeyVault,
  gcpSecretManager,
  kubernetesSecret,
];

export interface ProviderRegistry {
  credential(type: string): CredentialProvider | undefined;
  store(type: string): StoreProvider | undefined;
  /** What the policy loader needs: spec schemas and the declared facts per type. */
  catalog: ProviderCatalog;
  /** The audit's long-lived threshold per credential type, in days (each type's `maxAgeDays`). */
  maxAgeDays(): Record<string, number>;
  /** Every workflow name a registered credential type starts its rotations with. */
  workflows(): string[];
}

/** A registry of these providers; refuses two providers of one type (one would silently win). */
export function createRegistry(credentials: readonly CredentialProvider[], stores: readonly StoreProvider[]): ProviderRegistry {
  const byCredential = byType('credential', credentials);
  const byStore = byType('store', stores);
  return {
    credential: (type) => byCredential.get(type),
    store: (type) => byStore.get(type),
    catalog: {
      credential(type) {
        const p = byCredential.get(type);
        return p && { spec: p.spec, strategies: p.source.strategies, defaultEvery: p.defaultEvery, produces: p.produces };
      },
      store(type) {
        const p = byStore.get(type);
        return p && { spec: p.spec, primary: p.primary !== undefined, holds: p.holds, ...(p.primary ? { idOnRead: p.primary.idOnRead } : {}) };
      },
      credentialTypes: () => [...byCredential.keys()].sort(),
      storeTypes: () => [...byStore.keys()].sort(),
    },
    maxAgeDays: () => Object.fromEntries([...byCredential.values()].map((p) => [p.type, p.maxAgeDays])),
    workflows: () => [...new Set([...byCredential.values()].map((p) => p.workflow))].sort(),
  };
}

function byType<P extends { type: string }>(kind: string, providers: readonly P[]): Map<string, P> {
  const map = new Map<string, P>();
  for (const p of providers) {
    if (map.has(p.type)) throw new Error(`two ${kind} providers are registered with type "${p.type}": each type is registered once`);
    map.set(p.type, p);
  }
  return map;
}

export const registry = createRegistry(credentialProviders, storeProviders);
