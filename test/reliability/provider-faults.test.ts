/**
 * Provider faults from the emulators, end to end: throttling (429), server errors (5xx), latency
 * past an activity's start-to-close timeout, and slow eventual consistency (AWS IAM keys that take
 * a while to authenticate). Each rotation either completes within the policy's limits, doing its
 * work once, or rolls back cleanly with the old credential still served and working.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { closedAt, dbPolicyYaml, login, rotateDb, servedLogin, startDbRotation, untilStep, type DbLogin } from '../harness/db-rotation.js';
import { servedFields, type Fields } from '../harness/credential-fixtures.js';
import { startAwsEmulator, type AwsEmulator } from '../harness/aws/index.js';
import type { RotationResult } from '../../workflows/types.js';
import { findLeaks, rotorOutputs, vaultSecretValues } from './leaks.js';

let env: RotorEnv;
let aws: AwsEmulator;
let n = 0;
let id: string;
const seenLogins: DbLogin[] = [];

beforeAll(async () => {
  env = await startRotorEnv();
  aws = await startAwsEmulator();
  const rotor = aws.iam.createUser('rotor');
  env.env.ROTOR_AWS_KEY_ID = rotor.accessKeyId;
  env.env.ROTOR_AWS_SECRET = rotor.secretAccessKey;
  await env.startWorker();
});
afterAll(async () => {
  await env?.close();
  await aws?.close();
});
beforeEach(() => {
  n++;
  id = `fault-${n}`;
  env.vault.faults.clear();
});

const dependentPath = () => `/v1/secret/data/apps/${id}/db`;
const writesTo = (path: string) => env.vault.requests.filter((r) => r.method === 'POST' && r.path === path).length;

/** A dual DB login rotated once, so the next rotation has old material to keep or revoke. */
async function rotatedDbLogin(): Promise<DbLogin> {
  await env.usePolicies(dbPolicyYaml(env, id, { role: id.replace('-', '_') }));
  expect((await rotateDb(env, id)).outcome).toBe('succeeded');
  const before = await servedLogin(env, id);
  seenLogins.push(before);
  return before;
}

async function stepAttempts(rotationId: string, step: string): Promise<{ started: number; failed: number; succeeded: number }> {
  const steps = (await env.store.listSteps(rotationId)).filter((s) => s.step === step);
  return {
    started: steps.filter((s) => s.status === 'started').length,
    failed: steps.filter((s) => s.status === 'failed').length,
    succeeded: steps.filter((s) => s.status === 'succeeded').length,
  };
}

describe('Vault faults', () => {
  it('throttling (429) on the dependent write: retried with backoff, written exactly once', async () => {
    const before = await rotatedDbLogin();
    env.vault.faults.add({ match: (r) => r.method === 'POST' && r.path === dependentPath(), status: 429, body: { errors: ['rate limit quota exceeded'] }, times: 3 });
    const writesBefore = writesTo(dependentPath());
    const result = await rotateDb(env, id);
    expect(result.outcome).toBe('succeeded');
    expect(env.vault.faults.pending).toBe(0);
    expect(writesTo(dependentPath()) - writesBefore).toBe(4); // three refused, one that landed
    expect(await stepAttempts(result.rotationId, 'dependent.written')).toEqual({ started: 4, failed: 3, succeeded: 1 });
    const after = await servedLogin(env, id);
    seenLogins.push(after);
    expect(await login(env, after)).toBe(true);
    expect(await login(env, before)).toBe(false);
  });

  it('a dependent that keeps answering 503: retries stop at the policy limit and everything rolls back', async () => {
    const before = await rotatedDbLogin();
    env.vault.faults.add({ match: (r) => r.method === 'POST' && r.path === dependentPath(), status: 503, body: { errors: ['Vault is sealed'] }, times: Infinity });
    const startedAt = await env.temporal.now();
    const result = await rotateDb(env, id);
    env.vault.faults.clear();
    expect(result.outcome).toBe('rolled_back');
    expect(result.error).toMatch(/propagating to dependents: .*Vault answered HTTP 503/);
    // The activity retry policy allows six attempts with backoff (1s doubling): well under an hour.
    expect(await stepAttempts(result.rotationId, 'dependent.written')).toEqual({ started: 6, failed: 6, succeeded: 0 });
    expect((await closedAt(env, id)) - startedAt).toBeLessThan(3_600_000);
    const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(events).toContain('material.discarded');
    expect(events).not.toContain('material.promoted');
    expect(events).not.toContain('material.revoked');
    expect(await servedLogin(env, id)).toEqual(before);
    expect(await login(env, before)).toBe(true);
    expect(await env.store.getCredential(id)).toMatchObject({ currentMaterial: before.username });
  });
});

describe('AWS IAM eventual consistency', () => {
  /** An IAM user in service with one key, its Secrets Manager secret, and a policy (0s grace). */
  async function awsCredential(verifyTimeout: string): Promise<{ userName: string; initial: Fields }> {
    const user = aws.iam.createUser(`app-${id}`);
    const initial = { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey };
    const admin = { accessKeyId: env.env.ROTOR_AWS_KEY_ID!, secretAccessKey: env.env.ROTOR_AWS_SECRET! };
    const sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: admin, maxAttempts: 1 });
    await sm.send(new CreateSecretCommand({ Name: `rotor/${id}`, SecretString: JSON.stringify(initial) }));
    sm.destroy();
    const connection = `  endpoint: ${aws.endpoint}\n  region: ${aws.region}\n  credentials:\n    accessKeyId: env:ROTOR_AWS_KEY_ID\n    secretAccessKey: env:ROTOR_AWS_SECRET`;
    await env.usePolicies(`
id: ${id}
owner: team-payments
purpose: Payments API access to S3
environment: test
credential:
  type: aws-iam-access-key
  userName: ${user.userName}
${connection}
store:
  type: aws-secrets-manager
  secretId: rotor/${id}
${connection}
dependents:
  - name: app
    type: vault-kv
    address: ${env.vault.address}
    token: env:VAULT_TOKEN
    path: apps/${id}/secret
verify:
  timeout: ${verifyTimeout}
revoke:
  after: 0s
`);
    return { userName: user.userName, initial };
  }

  async function works(fields: Fields): Promise<boolean> {
    const sts = new STSClient({ endpoint: aws.endpoint, region: aws.region, maxAttempts: 1, credentials: fields as never });
    try {
      return await sts.send(new GetCallerIdentityCommand({})).then(() => true, () => false);
    } finally {
      sts.destroy();
    }
  }

  it('a new key that takes a while to authenticate is verified by retrying, then rotated in', async () => {
    const { userName, initial } = await awsCredential('2m');
    aws.iam.setPropagationDelay(1500);
    try {
      const handle = await startDbRotation(env, id);
      // Wall time runs here (no waiter on the result): verify retries every 2s+ until the key works.
      await untilStep(env, id, /^(propagating to dependents|checking dependents|promoting new material|grace period|waiting)/);
      const result = (await handle.result()) as RotationResult;
      expect(result.outcome).toBe('succeeded');
      const verify = await stepAttempts(result.rotationId, 'material.verified');
      expect(verify.failed).toBeGreaterThanOrEqual(1);
      expect(verify.succeeded).toBe(1);
      const served = await servedFields(env, id);
      expect(served.accessKeyId).not.toBe(initial.accessKeyId);
      expect(await works(served)).toBe(true);
      expect(await works(initial)).toBe(false);
      expect(aws.iam.accessKeys(userName).map((k) => k.accessKeyId)).toEqual([served.accessKeyId]);
    } finally {
      aws.iam.setPropagationDelay(0);
    }
  });

  it('a key that never authenticates within verify.timeout is rolled back: the new key deleted, the old one served', async () => {
    const { userName, initial } = await awsCredential('2m');
    aws.iam.setPropagationDelay(24 * 3_600_000);
    try {
      const startedAt = await env.temporal.now();
      const result = (await (await startDbRotation(env, id)).result()) as RotationResult;
      expect(result.outcome).toBe('rolled_back');
      expect(result.error).toMatch(/^verifying new material: /);
      expect((await closedAt(env, id)) - startedAt).toBeLessThan(10 * 60_000);
      expect(aws.iam.accessKeys(userName).map((k) => k.accessKeyId)).toEqual([initial.accessKeyId]);
      expect(await works(initial)).toBe(true);
      const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
      expect(events).not.toContain('dependent.written');
      expect(events).toContain('material.discarded');
    } finally {
      aws.iam.setPropagationDelay(0);
    }
  });
});

describe('after the faults', () => {
  it('no secret value (Vault versions, DB passwords, AWS secret keys) appears in histories, logs, metrics or the store', async () => {
    const secrets = [...(await vaultSecretValues(env)), ...seenLogins.map((l) => l.password), ...aws.iam.issuedSecrets()];
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    const outputs = await rotorOutputs(env);
    expect(findLeaks(secrets, outputs)).toEqual([]);
    const planted = aws.iam.issuedSecrets().at(-1)!;
    expect(findLeaks([planted], { ...outputs, metrics: `${outputs.metrics}\n# ${planted}` }).map((h) => h.where)).toEqual(['metrics']);
  });
});
