/**
 * One fixture per credential type for the shared end-to-end suite (test/rotation/credential-types):
 * each prepares a credential in service in its emulator, writes the policy (its primary store plus a
 * Vault dependent), and says how to tell whether material works, how to throttle its system and how
 * to make verification fail. A new credential type adds a fixture here; the suite stays the same.
 */
import vault from 'node-vault';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CreateSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { RotorEnv } from './env.js';
import { awsFault } from './aws/index.js';
import { ourAwsEmulator, type AwsTarget, type AwsTargetKind } from './aws/targets.js';

export type Fields = Record<string, string>;

export interface PreparedCredential {
  /** Policy YAML for the credential id given to prepare(). */
  yaml: string;
  /** The material that is in service before Rotor's first rotation. */
  initial: Fields;
  /** Whether these fields authenticate against the credential's system. */
  works(fields: Fields): Promise<boolean>;
  /**
   * The credential system answers the next `times` calls to create material with throttling.
   * Absent where the real server has no way to provoke it (the suite then skips that test).
   */
  throttleCreate?(times: number): void | Promise<void>;
  /** What the throttled create's error says; default /Rate exceeded|Throttl/. */
  throttled?: RegExp;
  /** New material stops verifying (until restoreVerify); absent where the server cannot be made to. */
  breakVerify?(): void | Promise<void>;
  restoreVerify?(): void | Promise<void>;
  /**
   * For usage signals that are open sessions (database process lists): an application connected with
   * these fields until the returned function disconnects it. Absent for last-used signals.
   */
  keepUsing?(fields: Fields): Promise<() => Promise<void>>;
  /** Every secret value the emulator issued (or, against a real server, the fixture saw issued), for leak scans. */
  issuedSecrets(): string[] | Promise<string[]>;
}

export interface CredentialFixture {
  type: string;
  /** What the type's system is, when not its only emulator (e.g. `moto 5.2.5`), for the test names. */
  against?: string;
  workflow: string;
  /** Starts the emulators the type needs (once per file). */
  start(env: RotorEnv): Promise<void>;
  prepare(env: RotorEnv, id: string): Promise<PreparedCredential>;
  close(): Promise<void>;
}

/** Puts the material in service into the primary store's Vault path, with its id as Rotor's bookkeeping names it. */
export async function seedVaultStore(env: RotorEnv, id: string, materialId: string, fields: Fields): Promise<void> {
  const client = vault({ endpoint: env.vault.address, token: env.vault.token, noCustomHTTPVerbs: true });
  await client.write(`secret/data/rotor/${id}`, { data: fields });
  await client.write(`secret/metadata/rotor/${id}`, { custom_metadata: { rotor_current_version: '1', rotor_current_id: materialId } });
}

/** The `store:` block of a policy whose primary store is that Vault path. */
export const vaultStore = (env: RotorEnv, id: string) => `store:
  type: vault-kv
  address: ${env.vault.address}
  token: env:VAULT_TOKEN
  path: rotor/${id}`;

/** What a consumer reads from the Vault dependent every fixture's policy writes. */
export async function servedFields(env: RotorEnv, id: string): Promise<Fields> {
  const client = vault({ endpoint: env.vault.address, token: env.vault.token, noCustomHTTPVerbs: true });
  const { data } = (await client.read(`secret/data/apps/${id}/secret`)) as { data: { data: Fields } };
  return data.data;
}

/**
 * A fixture's policy: `credentialAndStore` (its `credential:` and `store:` blocks) between the
 * same owner and environment, the Vault dependent servedFields reads, and the same verify and grace.
 */
export function fixturePolicy(env: RotorEnv, id: string, purpose: string, credentialAndStore: string): string {
  return `
id: ${id}
owner: team-payments
purpose: ${purpose}
environment: test
${credentialAndStore}
dependents:
  - name: app
    type: vault-kv
    address: ${env.vault.address}
    token: env:VAULT_TOKEN
    path: apps/${id}/secret
verify:
  timeout: 2m
revoke:
  after: 24h
`;
}

/** Every version of the fields a fixture's Vault paths held (primary store and dependent): the passwords Rotor generated. */
export async function vaultSecrets(env: RotorEnv, ids: string[]): Promise<string[]> {
  const client = vault({ endpoint: env.vault.address, token: env.vault.token, noCustomHTTPVerbs: true });
  const values: string[] = [];
  for (const id of ids) {
    for (const path of [`secret/data/rotor/${id}`, `secret/data/apps/${id}/secret`]) {
      for (let version = 1; ; version++) {
        const read = await client.read(`${path}?version=${version}`).catch(() => null);
        const data = (read as { data?: { data?: Fields } } | null)?.data?.data;
        if (!data) break;
        values.push(...Object.entries(data).filter(([k]) => k !== 'username').map(([, v]) => v));
      }
    }
  }
  return values;
}

/** AWS IAM access key, Secrets Manager as primary store; against our emulator or moto (then without faults). */
export function awsFixture(kind: AwsTargetKind = ourAwsEmulator): CredentialFixture {
  let aws: AwsTarget;
  /** The Secrets Manager secrets of every prepared credential. */
  const prepared: string[] = [];
  return {
    type: 'aws-iam-access-key',
    against: kind.name,
    workflow: 'rotateAwsAccessKey',
    async start(env) {
      aws = await kind.start();
      const rotor = await aws.iam.rotorUser();
      env.env.ROTOR_AWS_KEY_ID = rotor.accessKeyId;
      env.env.ROTOR_AWS_SECRET = rotor.secretAccessKey;
    },
    async prepare(env, id) {
      const user = await aws.iam.createUser(`app-${id}`);
      prepared.push(`rotor/${id}`);
      const initial = { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey };
      const sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: aws.admin, maxAttempts: 1 });
      await sm.send(new CreateSecretCommand({ Name: `rotor/${id}`, SecretString: JSON.stringify(initial) }));
      sm.destroy();
      const connection = `  endpoint: ${aws.endpoint}
  region: ${aws.region}
  credentials:
    accessKeyId: env:ROTOR_AWS_KEY_ID
    secretAccessKey: env:ROTOR_AWS_SECRET`;
      const ours = aws.ours;
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Payments API access to S3',
          `credential:
  type: aws-iam-access-key
  userName: ${user.userName}
${connection}
store:
  type: aws-secrets-manager
  secretId: rotor/${id}
${connection}`,
        ),
        async works(fields) {
          const sts = new STSClient({ endpoint: aws.endpoint, region: aws.region, maxAttempts: 1, credentials: fields as never });
          try {
            return await sts.send(new GetCallerIdentityCommand({})).then(() => true, () => false);
          } finally {
            sts.destroy();
          }
        },
        ...(ours && {
          throttleCreate(times: number) {
            ours.faults.add({ match: (r) => r.path === '/iam/CreateAccessKey', status: 400, ...awsFault('iam', 'Throttling', 'Rate exceeded'), times });
          },
          breakVerify: () => ours.iam.setPropagationDelay(24 * 3_600_000),
          restoreVerify: () => ours.iam.setPropagationDelay(0),
        }),
        // moto cannot list the secrets it issued: every version the primary stores hold has Rotor's keys.
        issuedSecrets: async () => (ours ? ours.iam.issuedSecrets() : [...aws.iam.issuedSecrets(), ...(await storedSecretKeys(aws, prepared))]),
      };
    },
    close: async () => aws?.close(),
  };
}

/** The secretAccessKey of every version (labelled or not) of these secrets. */
async function storedSecretKeys(aws: AwsTarget, secretIds: string[]): Promise<string[]> {
  const sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: aws.admin, maxAttempts: 1 });
  const found: string[] = [];
  try {
    for (const SecretId of secretIds) {
      const { Versions = [] } = await sm.send(new ListSecretVersionIdsCommand({ SecretId, IncludeDeprecated: true }));
      for (const { VersionId } of Versions) {
        const { SecretString } = await sm.send(new GetSecretValueCommand({ SecretId, VersionId }));
        const key = (JSON.parse(SecretString ?? '{}') as Fields).secretAccessKey;
        if (key) found.push(key);
      }
    }
  } finally {
    sm.destroy();
  }
  return found;
}
