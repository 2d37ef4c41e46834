/**
 * Every provider Rotor knows, one registration line each. The protocol, the workflows and the
 * policy loader reach providers only through this registry and never name one.
 */
import type { ProviderCatalog } from '../config/load.js';
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

const credentialProviders: CredentialProvider[] = [
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

const storeProviders: StoreProvider[] = [
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
  /** What the policy loader needs: spec schemas and a few facts per type. */
  catalog: ProviderCatalog;
}

export function createRegistry(credentials: CredentialProvider[], stores: StoreProvider[]): ProviderRegistry {
  const byCredential = new Map(credentials.map((p) => [p.type, p]));
  const byStore = new Map(stores.map((p) => [p.type, p]));
  return {
    credential: (type) => byCredential.get(type),
    store: (type) => byStore.get(type),
    catalog: {
      credential(type) {
        const p = byCredential.get(type);
        return p && { spec: p.spec, strategies: p.source.strategies, defaultEvery: p.defaultEvery };
      },
      store(type) {
        const p = byStore.get(type);
        return p && { spec: p.spec, primary: p.primary !== undefined };
      },
      credentialTypes: () => [...byCredential.keys()].sort(),
      storeTypes: () => [...byStore.keys()].sort(),
    },
  };
}

export const registry = createRegistry(credentialProviders, storeProviders);
