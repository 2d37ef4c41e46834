/**
 * The end-to-end half of the capability matrix (the validation half is test/config/capabilities):
 * every primary store policy validation accepts for a credential type completes a full rotation on
 * the emulators: moto for AWS Secrets Manager and IAM, our Azure and GCP emulators, the Vault
 * emulator, our GitLab emulator, real MariaDB, Redis and slapd. One Rotor environment per credential type; its pairs run
 * inside it. Pairs validation refuses are refused before anything runs (never at run time).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { awsFixture, fixturePolicy, seedVaultStore, servedFields, vaultStore as vaultStoreBlock, type CredentialFixture, type Fields } from '../harness/credential-fixtures.js';
import { moto, type AwsTarget } from '../harness/aws/targets.js';
import { azureFixture } from '../harness/azure/fixture.js';
import { gcpFixture } from '../harness/gcp/fixture.js';
import { ldapFixture, mysqlFixture, redisFixture } from '../harness/servers/fixtures.js';
import { startAzureEmulator, type AzureEmulator } from '../harness/azure/index.js';
import { startGcpEmulator, type GcpEmulator } from '../harness/gcp/index.js';
import { startGitLabEmulator, type GitLabEmulator } from '../harness/gitlab/index.js';
import { startGitHubEmulator, type GitHubEmulator } from '../harness/github/index.js';
import { startKubernetesEmulator, type KubernetesEmulator } from '../harness/kubernetes/index.js';
import { startRotation } from '../../daemon/rotations.js';
import { canBePrimary } from '../../config/capabilities.js';
import { PolicyLoadError } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import type { RotationResult } from '../../workflows/types.js';
import pg from 'pg';
import { generatePassword } from '../../lib/password.js';
import { generateSshKeyPair, normalizePublicKey } from '../../providers/github-deploy-key/ssh-key.js';
import { canLogin } from '../harness/postgres.js';

const GCP_PROJECT = 'rotor-matrix';

/** A primary store on its emulator: seeds a secret holding the material in service, and says how a policy names it. */
interface StoreSide {
  type: string;
  start(): Promise<void>;
  /** Puts `initial` in place as the current material; returns the policy's `store:` block (as an object). */
  seed(env: RotorEnv, id: string, initial: Fields): Promise<Record<string, unknown>>;
  /** What a consumer of the secret seeded for `id` reads now (a one-field store: that field only). */
  served?(id: string): Promise<Fields>;
  close(): Promise<void>;
}

function awsStore(): StoreSide {
  let aws: AwsTarget;
  return {
    type: 'aws-secrets-manager',
    async start() {
      aws = await moto.start();
    },
    async seed(env, id, initial) {
      const rotor = await aws.iam.rotorUser(`rotor-store-${id}`);
      env.env.STORE_AWS_KEY_ID = rotor.accessKeyId;
      env.env.STORE_AWS_SECRET = rotor.secretAccessKey;
      const sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: aws.admin, maxAttempts: 1 });
      await sm.send(new CreateSecretCommand({ Name: `matrix/${id}`, SecretString: JSON.stringify(initial) }));
      sm.destroy();
      return {
        type: 'aws-secrets-manager',
        secretId: `matrix/${id}`,
        endpoint: aws.endpoint,
        region: aws.region,
        credentials: { accessKeyId: 'env:STORE_AWS_KEY_ID', secretAccessKey: 'env:STORE_AWS_SECRET' },
      };
    },
    async served(id) {
      const sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: aws.admin, maxAttempts: 1 });
      try {
        return JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: `matrix/${id}` }))).SecretString!) as Fields;
      } finally {
        sm.destroy();
      }
    },
    close: async () => aws?.close(),
  };
}

function azureStore(): StoreSide {
  let az: AzureEmulator;
  let rotor: { clientId: string; clientSecret: string };
  const client = () =>
    new SecretClient(
      az.vaultUrl,
      new ClientSecretCredential(az.tenantId, rotor.clientId, rotor.clientSecret, { authorityHost: az.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: az.caPem } }),
      { disableChallengeResourceVerification: true, tlsOptions: { ca: az.caPem } },
    );
  return {
    type: 'azure-key-vault',
    async start() {
      az = await startAzureEmulator();
      rotor = az.directory.registerApp('rotor-store');
      az.keyVault.grant(rotor.clientId, 'Key Vault Secrets Officer');
    },
    async seed(env, id, initial) {
      env.env.STORE_AZ_ID = rotor.clientId;
      env.env.STORE_AZ_SECRET = rotor.clientSecret;
      env.env.STORE_AZ_CA = az.caPem;
      await client().setSecret(`matrix-${id}`, JSON.stringify(initial));
      return {
        type: 'azure-key-vault',
        vaultUrl: az.vaultUrl,
        secretName: `matrix-${id}`,
        disableChallengeResourceVerification: true,
        tenantId: az.tenantId,
        authorityHost: az.authorityHost,
        credentials: { clientId: 'env:STORE_AZ_ID', clientSecret: 'env:STORE_AZ_SECRET' },
        caCertificate: 'env:STORE_AZ_CA',
      };
    },
    served: async (id) => JSON.parse((await client().getSecret(`matrix-${id}`)).value!) as Fields,
    close: async () => az?.close(),
  };
}

function gcpStore(): StoreSide {
  let gcp: GcpEmulator;
  let key: string;
  return {
    type: 'gcp-secret-manager',
    async start() {
      gcp = await startGcpEmulator();
      const rotor = await gcp.iam.createServiceAccount(`rotor-store@${GCP_PROJECT}.iam.gserviceaccount.com`);
      gcp.iam.grant(rotor.email, `projects/${GCP_PROJECT}`, 'roles/secretmanager.admin');
      key = rotor.keyJson;
    },
    async seed(env, id, initial) {
      env.env.STORE_GCP_KEY = key;
      const name = `projects/${GCP_PROJECT}/secrets/matrix-${id}`;
      gcp.secretManager.createSecret(name, { payloads: [JSON.stringify(initial)] });
      return { type: 'gcp-secret-manager', secretId: name, endpoint: gcp.endpoint, tokenEndpoint: gcp.tokenEndpoint, credentials: 'env:STORE_GCP_KEY' };
    },
    served: async (id) => JSON.parse(gcp.secretManager.payload(`projects/${GCP_PROJECT}/secrets/matrix-${id}`, 'latest')!) as Fields,
    close: async () => gcp?.close(),
  };
}

const NS = 'apps';

/** One key of a Kubernetes Secret (a one-field store), on the Kubernetes emulator. */
function kubernetesStore(): StoreSide {
  let k8s: KubernetesEmulator;
  let kubeconfig: string;
  return {
    type: 'kubernetes-secret',
    async start() {
      k8s = await startKubernetesEmulator({ rolloutMs: 100 });
      kubeconfig = k8s.kubeconfig(k8s.serviceAccount(NS, 'rotor', [{ resources: ['secrets'], verbs: ['get', 'patch', 'delete', 'create'] }]));
    },
    async seed(env, id) {
      env.env.STORE_KUBECONFIG = kubeconfig;
      return { type: 'kubernetes-secret', auth: { kubeconfig: 'env:STORE_KUBECONFIG' }, namespace: NS, secretName: `matrix-${id}`, key: 'value' };
    },
    served: async (id) => ({ value: k8s.secretData(NS, `matrix-${id}`)?.value ?? '' }),
    close: async () => k8s?.close(),
  };
}

/** A repository Actions secret (a one-field store), on the GitHub emulator. */
function githubStore(): StoreSide {
  let github: GitHubEmulator;
  return {
    type: 'github-actions-secret',
    async start() {
      github = await startGitHubEmulator();
      github.createRepo('acme', 'matrix');
    },
    async seed(env, id) {
      env.env.STORE_GITHUB_TOKEN = github.token;
      return { type: 'github-actions-secret', baseUrl: github.baseUrl, token: 'env:STORE_GITHUB_TOKEN', target: { repo: 'acme/matrix' }, secretName: `M_${id.replace(/-/g, '_').toUpperCase()}` };
    },
    served: async (id) => ({ value: github.secret({ repo: 'acme/matrix' }, `M_${id.replace(/-/g, '_').toUpperCase()}`)?.value ?? '' }),
    close: async () => github?.close(),
  };
}

/** Vault as primary store: a fresh path, no current material (the first rotation takes the credential over). */
const vaultStore: StoreSide = {
  type: 'vault-kv',
  start: async () => undefined,
  seed: async (env, id) => ({ type: 'vault-kv', address: env.vault.address, token: 'env:VAULT_TOKEN', path: `matrix/${id}` }),
  close: async () => undefined,
};

/** A GitLab personal access token (single strategy: GitLab revokes the old token when it rotates), Vault as its own primary store. */
function gitlabFixture(): CredentialFixture {
  let gitlab: GitLabEmulator;
  return {
    type: 'gitlab-token',
    workflow: 'rotateCiToken',
    async start(env) {
      gitlab = await startGitLabEmulator();
      env.env.GITLAB_ADMIN_TOKEN = gitlab.createPersonalToken({ admin: true, name: 'rotor' }).token;
    },
    async prepare(env, id) {
      const target = gitlab.createPersonalToken({ name: `ci-${id}`, scopes: ['api'] });
      return {
        initial: { token: target.token },
        yaml: fixturePolicy(
          env,
          id,
          'CI deploy token',
          `credential:
  type: gitlab-token
  baseUrl: ${gitlab.baseUrl}
  token: env:GITLAB_ADMIN_TOKEN
  scope: { personal: ${target.id} }
store:
  type: vault-kv
  address: ${env.vault.address}
  token: env:VAULT_TOKEN
  path: rotor/${id}`,
        ),
        works: async (fields) => (await fetch(`${gitlab.baseUrl}/api/v4/personal_access_tokens/self`, { headers: { 'PRIVATE-TOKEN': fields.token! } })).status === 200,
        issuedSecrets: () => [],
      };
    },
    close: async () => gitlab?.close(),
  };
}

/** PostgreSQL (the environment's own server): the group role, its login `_a` in service, `_b` not yet able to log in. */
function postgresFixture(): CredentialFixture {
  return {
    type: 'postgres-password',
    workflow: 'rotateDatabasePassword',
    start: async () => undefined,
    async prepare(env, id) {
      const role = id.replace(/[^a-z0-9]/g, '_');
      const password = generatePassword();
      const { postgres } = env;
      const admin = new pg.Client({ host: postgres.host, port: postgres.port, database: postgres.database, user: postgres.adminUser, password: postgres.adminPassword });
      await admin.connect();
      try {
        await admin.query(`CREATE ROLE ${role} NOLOGIN`);
        await admin.query(`CREATE ROLE ${role}_a LOGIN PASSWORD '${password}' IN ROLE ${role}`);
        await admin.query(`CREATE ROLE ${role}_b NOLOGIN IN ROLE ${role}`);
      } finally {
        await admin.end();
      }
      const initial = { username: `${role}_a`, password };
      await seedVaultStore(env, id, `${role}_a`, initial);
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Payments database login',
          `credential:
  type: postgres-password
  host: ${postgres.host}
  port: ${postgres.port}
  database: ${postgres.database}
  admin:
    user: ${postgres.adminUser}
    password: env:PG_ADMIN_PASSWORD
  role: ${role}
strategy: dual
${vaultStoreBlock(env, id)}`,
        ),
        works: (fields) => canLogin({ host: postgres.host, port: postgres.port, database: postgres.database, user: fields.username!, password: fields.password! }),
        issuedSecrets: () => [],
      };
    },
    close: async () => undefined,
  };
}

/** A GitHub deploy key (its id is its fingerprint, no field): a key already attached to the repository is in service. */
function deployKeyFixture(): CredentialFixture {
  let github: GitHubEmulator;
  return {
    type: 'github-deploy-key',
    workflow: 'rotateCiToken',
    async start(env) {
      github = await startGitHubEmulator();
      env.env.DEPLOY_KEY_GITHUB_TOKEN = github.token;
    },
    async prepare(env, id) {
      github.createRepo('acme', id);
      const pair = generateSshKeyPair(`operator-${id}`);
      const added = await fetch(`${github.baseUrl}/repos/acme/${id}/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${github.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: `operator ${id}`, key: pair.publicKey, read_only: true }),
      });
      expect(added.status).toBe(201);
      const initial = { privateKey: pair.privateKey, publicKey: pair.publicKey };
      await seedVaultStore(env, id, pair.fingerprint, initial);
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Deploy key of the payments repository',
          `credential:
  type: github-deploy-key
  baseUrl: ${github.baseUrl}
  token: env:DEPLOY_KEY_GITHUB_TOKEN
  repo: acme/${id}
${vaultStoreBlock(env, id)}`,
        ),
        works: async (fields) => github.deployKeys('acme', id).some((k) => normalizePublicKey(k.key) === normalizePublicKey(fields.publicKey!)),
        issuedSecrets: () => [],
      };
    },
    close: async () => github?.close(),
  };
}

const stores: StoreSide[] = [vaultStore, awsStore(), azureStore(), gcpStore()];
/** Every store as a dependent (Vault is every fixture's own dependent already). */
const dependentStores: StoreSide[] = [stores[1]!, stores[2]!, stores[3]!, kubernetesStore(), githubStore()];
const fixtures: CredentialFixture[] = [postgresFixture(), awsFixture(moto), azureFixture(), gcpFixture(), mysqlFixture(), redisFixture(), ldapFixture(), gitlabFixture(), deployKeyFixture()];

const allStores = [...new Set([...stores, ...dependentStores])];
beforeAll(async () => {
  for (const s of allStores) await s.start();
});
afterAll(async () => {
  for (const s of allStores) await s.close();
});

it('covers every credential type, and every store type as primary store and as a dependent', () => {
  expect(fixtures.map((f) => f.type).sort()).toEqual(registry.catalog.credentialTypes());
  expect(stores.map((s) => s.type).sort()).toEqual(registry.catalog.storeTypes().filter((t) => registry.catalog.store(t)!.primary));
  expect([...dependentStores.map((s) => s.type), 'vault-kv'].sort()).toEqual(registry.catalog.storeTypes());
});

describe.each(fixtures)('$type', (fixture) => {
  let env: RotorEnv;
  let n = 0;
  const credential = registry.catalog.credential(fixture.type)!;

  beforeAll(async () => {
    env = await startRotorEnv();
    await fixture.start(env);
    await env.startWorker();
  });
  afterAll(async () => {
    await env?.close();
    await fixture.close();
  });

  it.each(stores.map((s) => ({ store: s, name: s.type })))('with $name as primary store', async ({ store }) => {
    const id = `m${++n}-${fixture.type.split('-')[0]}`;
    const prepared = await fixture.prepare(env, id);
    const doc = parse(prepared.yaml) as Record<string, unknown> & { store: { type: string } };
    const ownStore = doc.store.type === store.type;
    if (!ownStore) doc.store = (await store.seed(env, id, prepared.initial)) as { type: string };
    const yaml = stringify(doc);
    if (!canBePrimary(credential, registry.catalog.store(store.type)!)) {
      // Refused before anything runs: nothing is rotated.
      await expect(env.usePolicies(yaml)).rejects.toThrow(PolicyLoadError);
      await expect(env.usePolicies(yaml)).rejects.toThrow(`${store.type} cannot be the primary store of ${fixture.type}`);
      expect(await prepared.works(prepared.initial)).toBe(true);
      return;
    }
    const [policy] = await env.usePolicies(yaml);
    const { handle } = await startRotation(env.client, registry, policy!, { taskQueue: env.taskQueue, trigger: 'manual', reason: 'capability matrix' });
    const result = (await handle.result()) as RotationResult;
    expect(result, result.error).toMatchObject({ outcome: 'succeeded' });
    const served = await servedFields(env, id);
    expect(served).not.toEqual(prepared.initial);
    expect(await prepared.works({ ...served })).toBe(true); // a copy: the AWS SDK marks a credentials object it is given
    // Where the store knew the id of the material in service (the fixture's own seeded store, or a
    // secret whose id field names it), the rotation revoked it; GitLab revokes the old token itself.
    const storeKnewOld = ownStore ? fixture.type !== 'gitlab-token' : store.type !== 'vault-kv' && credential.produces.idField !== null;
    if (storeKnewOld) expect(result.oldMaterialId).toBeTruthy();
    if (storeKnewOld || fixture.type === 'gitlab-token') expect(await prepared.works(prepared.initial)).toBe(false);
  });

  it('with every store as a dependent at once: each serves the new material', async () => {
    const id = `m${++n}-${fixture.type.split('-')[0]}`;
    const prepared = await fixture.prepare(env, id);
    const doc = parse(prepared.yaml) as Record<string, unknown> & { dependents: Array<Record<string, unknown>> };
    const { fields, idField } = credential.produces;
    // A one-field store is given the secret field (a material with one field needs no `field`).
    const secretField = fields.find((f) => f !== idField && f !== 'username') ?? fields[0]!;
    for (const store of dependentStores) {
      const block = await store.seed(env, `${id}-${store.type.split('-')[0]}`, prepared.initial);
      const oneField = registry.catalog.store(store.type)!.holds === 'one-field' && fields.length > 1;
      doc.dependents.push({ name: store.type, ...block, ...(oneField ? { field: secretField } : {}) });
    }
    const [policy] = await env.usePolicies(stringify(doc));
    const { handle } = await startRotation(env.client, registry, policy!, { taskQueue: env.taskQueue, trigger: 'manual', reason: 'capability matrix' });
    const result = (await handle.result()) as RotationResult;
    expect(result, result.error).toMatchObject({ outcome: 'succeeded' });
    const served = await servedFields(env, id);
    expect(await prepared.works({ ...served })).toBe(true); // a copy: the AWS SDK marks a credentials object it is given
    for (const store of dependentStores) {
      const seen = await store.served!(`${id}-${store.type.split('-')[0]}`);
      if (registry.catalog.store(store.type)!.holds === 'all-fields') expect(seen, store.type).toEqual(served);
      else expect(seen, store.type).toEqual({ value: served[secretField] });
    }
  });
});
