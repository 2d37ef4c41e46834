/**
 * Discovery and posture end to end: the discoverCredentials workflow on a real worker (started by
 * the rotor/discovery schedule) scans the AWS emulator and PostgreSQL, finds the managed key, an
 * unmanaged extra key on the same IAM user, and a stale never-used key on an admin user listed
 * only in a `kind: discovery` document; then `rotor audit` reports it as a table, JSON and HTML.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type NativeConnection, Worker } from '@temporalio/worker';
import { connectTemporalWorker, loopbackTemporalTarget } from '../../daemon/temporal-connection.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, workflowBundle, type RotorEnv } from '../harness/env.js';
import { startAwsEmulator, type AwsEmulator } from '../harness/aws/index.js';
import { dbPolicyYaml, rotateDb, servedLogin } from '../harness/db-rotation.js';
import { createDiscoveryActivities } from '../../activities/discovery.js';
import { loadDiscoveryConfig } from '../../config/discovery-load.js';
import { loadPolicies } from '../../config/load.js';
import { createLogger } from '../../lib/logger.js';
import { registry } from '../../providers/registry.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { DISCOVERY_JOB, reconcileDiscoverySchedule } from '../../daemon/job-schedules.js';
import { listRotorSchedules } from '../../daemon/schedules.js';
import { listDiscovered } from '../../store/discovery.js';
import { collectFacts } from '../../audit/facts.js';
import { runAudit } from '../../audit/index.js';
import { DEFAULT_THRESHOLDS } from '../../audit/types.js';
import { runCli } from '../../cli/main.js';
import type { DiscoveryResult } from '../../workflows/discovery.js';

let env: RotorEnv;
let aws: AwsEmulator;
let dir: string;
let native: NativeConnection;
let worker: Worker;
let running: Promise<void>;
const discoveryQueue = `discovery-${Date.now()}`;
const DAY = 86_400_000;
let extraKey: string;
let staleKey: string;

function awsPolicyYaml(id: string, userName: string): string {
  const connection = `  endpoint: ${aws.endpoint}
  region: ${aws.region}
  credentials:
    accessKeyId: env:ROTOR_AWS_KEY_ID
    secretAccessKey: env:ROTOR_AWS_SECRET`;
  return `
id: ${id}
owner: team-deploy
purpose: Deploys the web app
environment: test
credential:
  type: aws-iam-access-key
  userName: ${userName}
${connection}
store:
  type: aws-secrets-manager
  secretId: rotor/${id}
${connection}
revoke:
  after: 0s
`;
}

function discoveryYaml(): string {
  return `kind: discovery
every: 12h
targets:
  - type: aws-iam-access-key
    connection:
      endpoint: ${aws.endpoint}
      region: ${aws.region}
      credentials: { accessKeyId: env:ROTOR_AWS_KEY_ID, secretAccessKey: env:ROTOR_AWS_SECRET }
    principals:
      - userName: legacy-batch
`;
}

/** Runs a CLI command with the test's settings, capturing stdout. */
async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const saved = { ...process.env };
  Object.assign(process.env, env.env, { ROTOR_ALLOWED_OWNERS: 'team-payments' });
  try {
    const code = await runCli(['--database-url', env.postgres.url, '--policies', dir, ...args]);
    return { code, out };
  } finally {
    spy.mockRestore();
    process.env = saved;
  }
}

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  aws = await startAwsEmulator();
  const rotor = aws.iam.createUser('rotor');
  env.env.ROTOR_AWS_KEY_ID = rotor.accessKeyId;
  env.env.ROTOR_AWS_SECRET = rotor.secretAccessKey;

  // The deployer's key is in service and stored in Secrets Manager, where Rotor will rotate it.
  const deployer = aws.iam.createUser('app-deployer');
  const sm = new SecretsManagerClient({ endpoint: aws.endpoint, region: aws.region, credentials: rotor, maxAttempts: 1 });
  await sm.send(new CreateSecretCommand({ Name: 'rotor/deployer-key', SecretString: JSON.stringify({ accessKeyId: deployer.accessKeyId, secretAccessKey: deployer.secretAccessKey }) }));
  sm.destroy();
  // A batch user nobody manages: admin rights, and a key made 120 days ago and never used.
  aws.iam.createUser('legacy-batch');
  aws.iam.attachPolicy('legacy-batch', 'arn:aws:iam::aws:policy/AdministratorAccess');
  aws.iam.putUserPolicy('legacy-batch', 'everything', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });
  staleKey = aws.iam.addAccessKey('legacy-batch', { createdAt: new Date(Date.now() - 120 * DAY) }).accessKeyId;

  dir = await mkdtemp(join(tmpdir(), 'rotor-discovery-'));
  const policiesYaml = `${awsPolicyYaml('deployer-key', 'app-deployer')}\n---\n${dbPolicyYaml(env, 'orders-db', { role: 'orders' }).replace('after: 24h', 'after: 0s')}`;
  await writeFile(join(dir, 'policies.yaml'), policiesYaml);
  await writeFile(join(dir, 'discovery.yaml'), discoveryYaml());
  await env.usePolicies(policiesYaml);
  await env.startWorker();

  const logger = createLogger({ level: 'silent' });
  native = await connectTemporalWorker(loopbackTemporalTarget(env.temporal.address, env.temporal.namespace));
  worker = await Worker.create({
    connection: native,
    namespace: env.temporal.namespace,
    taskQueue: discoveryQueue,
    workflowBundle: await workflowBundle(),
    activities: createDiscoveryActivities({
      store: env.store,
      policies: () => env.policies.all(),
      discoveryTargets: async () => (await loadDiscoveryConfig(dir, registry.catalog))?.targets ?? [],
      providers: registry,
      logger,
      resolveSecret: createSecretResolver({ env: env.env }),
    }),
  });
  running = worker.run();
});

afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await native?.close();
  await env?.close();
  await aws?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('discovery', () => {
  it('the policy directory with a kind: discovery document loads, and the document is validated with it', async () => {
    expect((await loadPolicies(dir, registry.catalog)).map((p) => p.id).sort()).toEqual(['deployer-key', 'orders-db']);
    const config = await loadDiscoveryConfig(dir, registry.catalog);
    expect(config).toMatchObject({ every: '12h', targets: [{ type: 'aws-iam-access-key', spec: { userName: 'legacy-batch' } }] });
    const bad = await mkdtemp(join(tmpdir(), 'rotor-discovery-bad-'));
    try {
      await writeFile(join(bad, 'discovery.yaml'), 'kind: discovery\ntargets:\n  - type: aws-iam-access-key\n    principals:\n      - userName: "not a user!"\n');
      await expect(loadPolicies(bad, registry.catalog)).rejects.toThrow(/targets\[0\]\.principals\[0\]\.userName/);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it('after a rotation, the rotor/discovery schedule finds the managed key, an unmanaged extra key and a stale admin key', async () => {
    expect((await rotateDb(env, 'orders-db')).outcome).toBe('succeeded');
    const { startRotation } = await import('../../daemon/rotations.js');
    const { handle } = await startRotation(env.client, registry, env.policies.get('deployer-key')!, { taskQueue: env.taskQueue, trigger: 'manual' });
    expect(await handle.result()).toMatchObject({ outcome: 'succeeded' });
    const managedKey = (await env.store.getCredential('deployer-key'))!.currentMaterial!;
    extraKey = aws.iam.addAccessKey('app-deployer').accessKeyId;

    const config = await loadDiscoveryConfig(dir, registry.catalog);
    expect(await reconcileDiscoverySchedule(env.client, config, discoveryQueue)).toBe('create');
    expect(await reconcileDiscoverySchedule(env.client, config, discoveryQueue)).toBe('unchanged');
    // The rotation reconciler leaves the discovery schedule alone (it is not a credential's schedule).
    expect((await listRotorSchedules(env.client)).map((s) => s.scheduleId)).not.toContain(DISCOVERY_JOB.scheduleId);

    await env.client.schedule.getHandle(DISCOVERY_JOB.scheduleId).trigger();
    let run: { workflowId: string; runId: string } | undefined;
    while (!run) {
      for await (const w of env.client.workflow.list({ query: `WorkflowType = 'discoverCredentials'` })) run = w;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const result = (await env.client.workflow.getHandle(run.workflowId, run.runId).result()) as DiscoveryResult;
    expect(result.failed).toEqual([]);
    expect(result.targets).toBe(3);

    const rows = await listDiscovered(env.store);
    const row = (id: string) => rows.find((r) => r.credentialId === id);
    expect(row(managedKey)).toMatchObject({ principal: 'app-deployer', managedBy: 'deployer-key', status: 'active' });
    expect(row(extraKey)).toMatchObject({ principal: 'app-deployer', managedBy: null, status: 'active' });
    expect(row(staleKey)).toMatchObject({ principal: 'legacy-batch', managedBy: null, lastUsedAt: null });
    expect(row(staleKey)!.broadPrivileges).toEqual(['AdministratorAccess attached', 'inline policy "everything" allows Action "*"']);
    const currentRole = (await env.store.getCredential('orders-db'))!.currentMaterial!;
    expect(row(currentRole)).toMatchObject({ sourceType: 'postgres-password', principal: 'orders', managedBy: 'orders-db', status: 'active' });

    const audit = await env.store.listAudit();
    expect(audit.filter((e) => e.event === 'discovery.completed').at(-1)?.detail).toMatchObject({ unmanaged: expect.any(Number), failedTargets: [] });
  });

  it('the posture audit flags the unmanaged key, the stale key and the admin user, not the managed key', async () => {
    const now = new Date();
    const facts = await collectFacts(env.store, { now, failureWindowDays: 7 });
    const { findings } = runAudit(facts, { now, policies: env.policies.all(), allowedOwners: [], thresholds: DEFAULT_THRESHOLDS });
    const about = (id: string) => findings.filter((f) => f.subject.endsWith(`/${id}`)).map((f) => f.rule).sort();
    expect(about(extraKey)).toEqual(['unmanaged']);
    expect(about(staleKey)).toEqual(['long-lived', 'over-privileged', 'unmanaged', 'unused']);
    const managedKey = (await env.store.getCredential('deployer-key'))!.currentMaterial!;
    expect(about(managedKey)).toEqual([]);
  });

  it('a principal whose grants cannot be read is still listed, keeps its last evidence, and the run says so', async () => {
    const seenBefore = (await listDiscovered(env.store)).find((r) => r.credentialId === staleKey)!.lastSeenAt;
    aws.iam.deny('rotor', 'iam:ListAttachedUserPolicies');
    try {
      const result = (await env.client.workflow.execute('discoverCredentials', { taskQueue: discoveryQueue, workflowId: 'discovery-partial', args: [] })) as DiscoveryResult;
      expect(result.failed).toEqual(
        expect.arrayContaining([{ target: expect.stringContaining('aws-iam-access-key'), error: expect.stringMatching(/^credentials listed; privileges not read: .*AccessDenied/) }]),
      );
      const rows = await listDiscovered(env.store);
      const stale = rows.find((r) => r.credentialId === staleKey)!;
      expect(stale.status).toBe('active');
      expect(stale.lastSeenAt.getTime()).toBeGreaterThan(seenBefore.getTime()); // listed again
      expect(stale.broadPrivileges).toEqual(['AdministratorAccess attached', 'inline policy "everything" allows Action "*"']);
    } finally {
      aws.iam.allow('rotor', 'iam:ListAttachedUserPolicies');
    }
  });
});

describe('rotor audit', () => {
  it('prints a table without colour when stdout is not a TTY, and JSON with --json', async () => {
    const table = await cli(['audit']);
    expect(table.code).toBe(0);
    expect(table.out).toContain('Over-privileged principal');
    expect(table.out).not.toContain('\x1b[');
    const json = await cli(['audit', '--json']);
    const parsed = JSON.parse(json.out) as { findings: Array<{ rule: string; owner: string | null }>; bySeverity: Record<string, number> };
    expect(parsed.bySeverity.critical).toBe(2); // both keys of the admin user
    // Owner team-deploy is not in ROTOR_ALLOWED_OWNERS (team-payments only): orphaned.
    expect(parsed.findings.some((f) => f.rule === 'orphaned-owner' && f.owner === 'team-deploy')).toBe(true);
  });

  it('exits 3 when findings at or above --fail-on exist, 2 for an unknown severity', async () => {
    expect((await cli(['audit', '--json', '--fail-on', 'critical'])).code).toBe(3);
    expect((await cli(['audit', '--fail-on', 'bogus'])).code).toBe(2);
  });

  it('writes a self-contained HTML report: counts, an SVG age chart, no external URLs, no secret values', async () => {
    const file = join(dir, 'report.html');
    expect((await cli(['audit', '--html', file])).code).toBe(0);
    const html = await readFile(file, 'utf8');
    expect(html).toMatch(/<span class="count" data-severity="critical">2<\/span>/);
    expect(html).toContain('data-counts="Findings by owner"');
    expect(html).toContain('data-counts="Findings by type"');
    expect(html).toMatch(/<svg id="age-chart"[^>]*>.*<rect /s);
    expect(html).not.toMatch(/https?:\/\/|src=|href=|<script|@import|url\(/i);
    const served = await servedLogin(env, 'orders-db').catch(() => undefined);
    const secrets = [...aws.iam.issuedSecrets(), env.postgres.adminPassword, ...(served ? [served.password] : [])];
    for (const secret of secrets) expect(html).not.toContain(secret);
    const auditRows = JSON.stringify(await env.store.listAudit());
    for (const secret of secrets) expect(auditRows).not.toContain(secret);
  });

  it('rotor discover --local scans from the CLI and lists the unmanaged keys', async () => {
    const { code, out } = await cli(['discover', '--local', '--json']);
    expect(code).toBe(0);
    const parsed = JSON.parse(out) as DiscoveryResult & { credentials: Array<{ credentialId: string; managedBy: string | null }> };
    expect(parsed.credentials.find((c) => c.credentialId === extraKey)?.managedBy).toBeNull();
    for (const secret of aws.iam.issuedSecrets()) expect(out).not.toContain(secret);
  });
});
