/**
 * Every registered credential type × every store type, as primary store and as a dependent, through
 * the policy loader: a pairing the capability declarations rule out is refused with the file, the
 * line of the store and why; every other pairing is accepted. The refusal of a GitLab token kept in
 * AWS Secrets Manager (which lost the token at run time) is one of them. The end-to-end half (every
 * accepted pairing rotates) is test/rotation/capability-matrix.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parsePolicyText, type PolicyProblem } from '../../config/load.js';
import { canBePrimary } from '../../config/capabilities.js';
import { operatorSettingsFromEnv } from '../../config/operator.js';
import { createRegistry, registry } from '../../providers/registry.js';
import { gitlabToken } from '../../providers/gitlab-token/index.js';
import { vaultKv } from '../../providers/vault-kv/index.js';

const AWS = `  endpoint: http://127.0.0.1:4566
  credentials:
    accessKeyId: env:AWS_KEY_ID
    secretAccessKey: env:AWS_SECRET`;
const AZURE = `  tenantId: c0ffee00-0000-4000-8000-000000000000
  credentials:
    clientId: env:AZ_ID
    clientSecret: env:AZ_SECRET`;

/** A valid `credential:` block body per type (indented under `credential:`). */
export const SAMPLE_CREDENTIALS: Record<string, string> = {
  'postgres-password': `  host: 127.0.0.1
  database: orders
  admin: { user: rotor_admin, password: env:PG }
  role: payments`,
  'mysql-password': `  host: 127.0.0.1
  admin: { user: rotor_admin, password: env:MY }
  user: payments`,
  'ldap-password': `  url: ldaps://127.0.0.1:636
  admin: { dn: "cn=rotor,dc=example,dc=org", password: env:LDAP }
  dn: "cn=svc,ou=services,dc=example,dc=org"`,
  'redis-acl-password': `  host: 127.0.0.1
  admin: { user: rotor, password: env:REDIS }
  user: payments`,
  'aws-iam-access-key': `  userName: app
${AWS}`,
  'azure-sp-secret': `${AZURE}
  applicationObjectId: c0ffee00-0000-4000-8000-000000000001
  clientId: c0ffee00-0000-4000-8000-000000000002`,
  'gcp-sa-key': `  serviceAccount: app@my-project.iam.gserviceaccount.com
  credentials: env:GCP_KEY`,
  'github-deploy-key': `  token: env:GH_TOKEN
  repo: acme/app`,
  'gitlab-token': `  token: env:GL_TOKEN
  scope: { project: acme/app, tokenId: 7 }`,
};

/** A valid store block body per type. */
export const SAMPLE_STORES: Record<string, string> = {
  'vault-kv': `  address: http://127.0.0.1:8200
  token: env:VAULT_TOKEN
  path: rotor/x`,
  'aws-secrets-manager': `  secretId: rotor/x
${AWS}`,
  'azure-key-vault': `  vaultUrl: https://payments-kv.vault.azure.net
  secretName: x
${AZURE}`,
  'gcp-secret-manager': `  secretId: projects/my-project/secrets/x
  credentials: env:GCP_KEY`,
  'kubernetes-secret': `  auth: { kubeconfig: env:KUBECONFIG_YAML }
  namespace: apps
  secretName: x
  key: value`,
  'github-actions-secret': `  token: env:GH_TOKEN
  target: { repo: acme/app }
  secretName: X`,
};

function policyYaml(credential: string, primary: string, dependent?: { type: string; extra?: string }): string {
  return `id: cred
owner: team-payments
purpose: capability matrix
environment: test
credential:
  type: ${credential}
${SAMPLE_CREDENTIALS[credential]}
store:
  type: ${primary}
${SAMPLE_STORES[primary]}
${dependent ? `dependents:\n  - name: d\n    type: ${dependent.type}\n${SAMPLE_STORES[dependent.type]!.replace(/^ {2}/gm, '    ')}${dependent.extra ? `\n    ${dependent.extra}` : ''}\n` : ''}`;
}

function validate(yaml: string, catalog = registry.catalog): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  parsePolicyText(yaml, 'policy.yaml', catalog, problems, [], { settings: operatorSettingsFromEnv({}) });
  return problems;
}

const credentialTypes = registry.catalog.credentialTypes();
const storeTypes = registry.catalog.storeTypes();

describe('capability matrix at validation', () => {
  it('has a sample spec for every registered type', () => {
    expect(Object.keys(SAMPLE_CREDENTIALS).sort()).toEqual(credentialTypes);
    expect(Object.keys(SAMPLE_STORES).sort()).toEqual(storeTypes);
  });

  it('accepts the sample of every credential type on vault-kv (the samples are valid)', () => {
    for (const type of credentialTypes) expect(validate(policyYaml(type, 'vault-kv')), type).toEqual([]);
  });

  describe.each(credentialTypes)('%s', (credential) => {
    const produces = registry.catalog.credential(credential)!.produces;

    it.each(storeTypes)('as primary store: %s', (storeType) => {
      const store = registry.catalog.store(storeType)!;
      const yaml = policyYaml(credential, storeType);
      const problems = validate(yaml);
      if (canBePrimary(registry.catalog.credential(credential)!, store)) {
        expect(problems).toEqual([]);
        return;
      }
      expect(problems).toHaveLength(1);
      const typeLine = yaml.split('\n').findIndex((l) => l === `  type: ${storeType}`) + 1;
      expect(problems[0]).toMatchObject({ file: 'policy.yaml', path: 'store.type', line: typeLine });
      expect(problems[0]!.message).toMatch(store.primary ? /cannot be the primary store of .* reads a material's id back from one of its fields/ : /cannot be a primary store/);
    });

    it.each(storeTypes)('as a dependent: %s', (storeType) => {
      const store = registry.catalog.store(storeType)!;
      const yaml = policyYaml(credential, 'vault-kv', { type: storeType });
      const problems = validate(yaml);
      if (store.holds === 'all-fields' || produces.fields.length === 1) {
        expect(problems).toEqual([]);
        return;
      }
      // A one-field store needs `field` when the material has several: refused without, accepted with each real field, refused with an unknown one.
      expect(problems).toMatchObject([{ path: 'dependents[0].type', message: expect.stringContaining(`set "field" to one of ${produces.fields.join(', ')}`) }]);
      for (const field of produces.fields) expect(validate(policyYaml(credential, 'vault-kv', { type: storeType, extra: `field: ${field}` })), field).toEqual([]);
      const unknown = validate(policyYaml(credential, 'vault-kv', { type: storeType, extra: 'field: nope' }));
      expect(unknown).toMatchObject([{ path: 'dependents[0].field', message: expect.stringContaining('has no field "nope"') }]);
    });
  });

  it('refuses a GitLab token kept in AWS Secrets Manager: the store would refuse it after GitLab revoked the old token', () => {
    const yaml = policyYaml('gitlab-token', 'aws-secrets-manager');
    const problems = validate(yaml);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'policy.yaml', path: 'store.type', line: 10 });
    expect(yaml.split('\n')[9]).toBe('  type: aws-secrets-manager');
    expect(problems[0]!.message).toContain('aws-secrets-manager cannot be the primary store of gitlab-token material (fields token)');
    // As a dependent it is fine: a dependent receives the whole material and keeps no id.
    expect(validate(policyYaml('gitlab-token', 'vault-kv', { type: 'aws-secrets-manager' }))).toEqual([]);
  });

  it('the matrix as the README shows it', () => {
    const matrix = Object.fromEntries(
      credentialTypes.map((c) => [c, storeTypes.filter((s) => canBePrimary(registry.catalog.credential(c)!, registry.catalog.store(s)!))]),
    );
    expect(matrix).toEqual({
      'aws-iam-access-key': ['aws-secrets-manager', 'azure-key-vault', 'gcp-secret-manager', 'vault-kv'],
      'azure-sp-secret': ['aws-secrets-manager', 'azure-key-vault', 'gcp-secret-manager', 'vault-kv'],
      'gcp-sa-key': ['aws-secrets-manager', 'azure-key-vault', 'gcp-secret-manager', 'vault-kv'],
      'github-deploy-key': ['azure-key-vault', 'vault-kv'],
      'gitlab-token': ['azure-key-vault', 'vault-kv'],
      'ldap-password': ['aws-secrets-manager', 'azure-key-vault', 'gcp-secret-manager', 'vault-kv'],
      'mysql-password': ['aws-secrets-manager', 'azure-key-vault', 'gcp-secret-manager', 'vault-kv'],
      'postgres-password': ['aws-secrets-manager', 'azure-key-vault', 'gcp-secret-manager', 'vault-kv'],
      'redis-acl-password': ['azure-key-vault', 'vault-kv'],
    });
  });
});

describe('the registry', () => {
  it('refuses two providers of one type', () => {
    expect(() => createRegistry([gitlabToken, gitlabToken], [vaultKv])).toThrow('two credential providers are registered with type "gitlab-token"');
    expect(() => createRegistry([gitlabToken], [vaultKv, vaultKv])).toThrow('two store providers are registered with type "vault-kv"');
  });
});
