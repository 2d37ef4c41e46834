/**
 * The kubernetes-secret dependent against our Kubernetes API emulator (test/harness/kubernetes), through
 * the real @kubernetes/client-node over TLS with bearer tokens: server-side apply of one key as field
 * manager `rotor` (other keys and other managers' fields untouched), the replaced value kept for
 * restore, resourceVersion and field-manager conflicts, 401/403/404/422 Status answers, rollout
 * restarts counted as the check with a timeout, in-cluster and kubeconfig auth, the README's
 * least-privilege Role, and no value in any error or log.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { ProviderRefusal, type Dependent, type Receipt } from '../../providers/contracts.js';
import { ANNOTATIONS, kubernetesSecret, KubernetesSecretSpecSchema, type KubernetesSecretSpec } from '../../providers/kubernetes-secret/index.js';
import { registry } from '../../providers/registry.js';
import { startKubernetesEmulator, type KubernetesEmulator, type Rule, type ServiceAccount } from '../harness/kubernetes/index.js';
import { createProviderKit } from '../harness/provider-kit.js';

const dependent = kubernetesSecret.dependent as Dependent<KubernetesSecretSpec>;
const kit = createProviderKit({ credentialId: 'test-k8s' });
const { logs, errors, rejection } = kit;
const NS = 'payments';

/** The Role the README gives, verbatim in substance. */
const README_ROLE: Rule[] = [
  { resources: ['secrets'], verbs: ['get', 'patch', 'delete'], resourceNames: ['app-db', 'app-db-rotor-previous'] },
  { resources: ['secrets'], verbs: ['create'] },
  { resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'patch'] },
];
const EVERYTHING: Rule[] = [
  { resources: ['secrets'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
  { resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'patch'] },
];

let k8s: KubernetesEmulator;
let rotor: ServiceAccount;
/** Every secret value the tests used, for the leak check. */
const values: string[] = [];

beforeAll(async () => {
  k8s = await startKubernetesEmulator({ rolloutMs: 150 });
  rotor = k8s.serviceAccount(NS, 'rotor', EVERYTHING);
});
afterAll(async () => {
  await k8s?.close();
});

const context = (account: ServiceAccount = rotor, rotationId?: string) => kit.context({ KUBECONFIG_YAML: k8s.kubeconfig(account) }, rotationId);

function spec(secretName: string, extra: Record<string, unknown> = {}): KubernetesSecretSpec {
  return KubernetesSecretSpecSchema.parse({ auth: { kubeconfig: 'env:KUBECONFIG_YAML' }, namespace: NS, secretName, key: 'password', ...extra });
}

function password(): Material {
  const value = `pw-${randomUUID()}`;
  values.push(value);
  return new Material(`role_${randomUUID().slice(0, 6)}`, { password: value });
}

/** A Secret created by `kubectl create` with a password and a username key. */
function seeded(current: Material, name = `app-${randomUUID().slice(0, 8)}`): string {
  k8s.seed('Secret', NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data: { password: b64(current.reveal('password')), username: b64('app') } });
  return name;
}
const b64 = (text: string) => Buffer.from(text).toString('base64');
const rv = (name: string) => (k8s.get('Secret', NS, name)!.metadata as { resourceVersion: string }).resourceVersion;

function deployment(name: string, template: Record<string, unknown>, kind: 'Deployment' | 'StatefulSet' = 'Deployment') {
  k8s.seed(kind, NS, { apiVersion: 'apps/v1', kind, metadata: { name }, spec: { replicas: 2, selector: { matchLabels: { app: name } }, template } });
}
const template = (secretName: string, via: 'volume' | 'env' | 'none') => ({
  metadata: { labels: { app: 'x' } },
  spec: {
    containers: [{ name: 'app', image: 'app:1', ...(via === 'env' ? { env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: secretName, key: 'password' } } }] } : {}) }],
    ...(via === 'volume' ? { volumes: [{ name: 'db', secret: { secretName } }] } : {}),
  },
});
const templateAnnotations = (kind: 'Deployment' | 'StatefulSet', name: string) =>
  (((k8s.get(kind, NS, name)!.spec as { template: { metadata?: { annotations?: Record<string, string> } } }).template.metadata ?? {}).annotations ?? {});
const generation = (kind: 'Deployment' | 'StatefulSet', name: string) => (k8s.get(kind, NS, name)!.metadata as { generation: number }).generation;

describe('kubernetes-secret: spec and registration', () => {
  it('is registered as a dependent only, and refuses bad names, keys and inline kubeconfigs', () => {
    expect(registry.store('kubernetes-secret')).toBe(kubernetesSecret);
    expect(kubernetesSecret.primary).toBeUndefined();
    expect(spec('app-db')).toMatchObject({ forceConflicts: false, auth: { kubeconfig: 'env:KUBECONFIG_YAML' } });
    expect(KubernetesSecretSpecSchema.parse({ auth: { inCluster: true }, namespace: NS, secretName: 'a', key: 'k' }).auth).toEqual({
      inCluster: true,
      serviceAccountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
    });
    const bad = (fields: Record<string, unknown>) => KubernetesSecretSpecSchema.safeParse({ auth: { kubeconfig: 'env:K' }, namespace: NS, secretName: 'a', key: 'k', ...fields }).success;
    expect(bad({ secretName: 'App_DB' })).toBe(false);
    expect(bad({ secretName: 'app-rotor-previous' })).toBe(false);
    expect(bad({ key: 'bad key' })).toBe(false);
    expect(bad({ namespace: 'a.b' })).toBe(false);
    expect(bad({ auth: { kubeconfig: 'apiVersion: v1' } })).toBe(false);
    expect(bad({ restart: { workloads: 'mounting', timeout: 'soon' } })).toBe(false);
    expect(bad({ restart: { workloads: [{ kind: 'DaemonSet', name: 'x' }] } })).toBe(false);
  });
});

describe('kubernetes-secret: write, check, restore', () => {
  it('applies only its key as field manager rotor, keeps the old value, and a retry returns the same receipt', async () => {
    const old = password();
    const name = seeded(old);
    const before = rv(name);
    const ctx = context();
    const next = password();
    const receipt = await dependent.write(ctx, spec(name), next);
    expect(receipt).toEqual({ version: rv(name), previousVersion: before });
    expect(receipt.version).not.toBe(before);
    expect(k8s.secretData(NS, name)).toEqual({ password: next.reveal('password'), username: 'app' });
    expect(k8s.secretData(NS, `${name}-rotor-previous`)).toEqual({ value: old.reveal('password') });
    const stored = k8s.get('Secret', NS, name)!;
    const meta = stored.metadata as { annotations: Record<string, string>; managedFields: Array<{ manager: string; operation: string; fieldsV1: Record<string, Record<string, unknown>> }> };
    expect(meta.annotations[ANNOTATIONS.rotation]).toBe(ctx.rotationId);
    expect(meta.annotations[ANNOTATIONS.fingerprint]).toMatch(/^sha256:[0-9a-f]{64}$/);
    const byManager = new Map(meta.managedFields.map((f) => [f.manager, f]));
    expect(byManager.get('rotor')).toMatchObject({ operation: 'Apply', fieldsV1: { 'f:data': { 'f:password': {} } } });
    expect(Object.keys(byManager.get('kubectl-create')!.fieldsV1['f:data']!)).toEqual(['f:username']); // the password moved to rotor
    await dependent.check(ctx, spec(name), next);

    expect(await dependent.write(ctx, spec(name), next)).toEqual(receipt);
    expect(rv(name)).toBe(receipt.version); // nothing written again
    const stale = await rejection(dependent.check(ctx, spec(name), old));
    expect(stale).not.toBeInstanceOf(ProviderRefusal);
    expect(stale.message).toContain(`does not hold material ${old.id}`);
  });

  it('restore puts the kept value back; a repeat is a no-op; other keys stay', async () => {
    const old = password();
    const name = seeded(old);
    const ctx = context();
    const receipt = await dependent.write(ctx, spec(name), password());
    await dependent.restore(ctx, spec(name), receipt);
    expect(k8s.secretData(NS, name)).toEqual({ password: old.reveal('password'), username: 'app' });
    const restoredAt = rv(name);
    await dependent.restore(ctx, spec(name), receipt);
    expect(rv(name)).toBe(restoredAt);
    await dependent.check(ctx, spec(name), old);
  });

  it('restore refuses when someone wrote the key after the rotation, and leaves their value', async () => {
    const name = seeded(password());
    const ctx = context();
    const receipt = await dependent.write(ctx, spec(name), password());
    const later = password();
    k8s.writeSecretKey(NS, name, 'password', later.reveal('password'), 'external-secrets');
    const refused = await rejection(dependent.restore(ctx, spec(name), receipt));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('changed since');
    expect(k8s.secretData(NS, name)!.password).toBe(later.reveal('password'));
  });

  it('creates a missing Secret (404) and restore deletes it; a new key in an existing Secret is removed alone', async () => {
    const created = `new-${randomUUID().slice(0, 8)}`;
    const ctx = context();
    const receipt = await dependent.write(ctx, spec(created), password());
    expect(receipt.previousVersion).toBeNull();
    expect((k8s.get('Secret', NS, created) as { type: string }).type).toBe('Opaque');
    await dependent.restore(ctx, spec(created), receipt);
    expect(k8s.get('Secret', NS, created)).toBeUndefined();
    await dependent.restore(ctx, spec(created), receipt); // gone: done

    const name = seeded(password());
    const other = context();
    const keyReceipt = await dependent.write(other, spec(name, { key: 'token' }), password());
    expect(keyReceipt.previousVersion).toBeNull();
    await dependent.restore(other, spec(name, { key: 'token' }), keyReceipt);
    expect(Object.keys(k8s.secretData(NS, name)!).sort()).toEqual(['password', 'username']);
  });

  it('refuses a key another server-side applier owns, changing nothing, unless forceConflicts', async () => {
    const name = seeded(password());
    const theirs = password();
    k8s.writeSecretKey(NS, name, 'password', theirs.reveal('password'), 'external-secrets', 'Apply');
    const before = rv(name);
    const refused = await rejection(dependent.write(context(), spec(name), password()));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain('HTTP 409 Conflict');
    expect(refused.message).toContain('conflict with "external-secrets"');
    expect(refused.message).toContain('.data.password');
    expect(refused.message).toContain('forceConflicts');
    expect(rv(name)).toBe(before);
    expect(k8s.get('Secret', NS, `${name}-rotor-previous`)).toBeUndefined(); // the dry run refused before anything was written

    const next = password();
    await dependent.write(context(), spec(name, { forceConflicts: true }), next);
    expect(k8s.secretData(NS, name)!.password).toBe(next.reveal('password'));
  });

  it('a concurrent write between read and apply is a retryable resourceVersion conflict; the retry succeeds', async () => {
    const name = seeded(password());
    const concurrent = password();
    let interfered = false;
    k8s.beforeRequest = ({ method, path, query }) => {
      if (!interfered && method === 'PATCH' && path.endsWith(`/secrets/${name}`) && query.get('dryRun') !== 'All') {
        interfered = true;
        k8s.writeSecretKey(NS, name, 'username', 'someone-else', 'kubectl-edit');
      }
    };
    const ctx = context();
    const next = password();
    try {
      const conflict = await rejection(dependent.write(ctx, spec(name), next));
      expect(conflict).not.toBeInstanceOf(ProviderRefusal);
      expect(conflict.message).toContain('HTTP 409 Conflict');
      expect(conflict.message).toContain('the object has been modified');
    } finally {
      k8s.beforeRequest = undefined;
    }
    values.push(concurrent.reveal('password'));
    await dependent.write(ctx, spec(name), next);
    expect(k8s.secretData(NS, name)).toEqual({ password: next.reveal('password'), username: 'someone-else' });
  });

  it('answers 422 (too large) and 403 (no patch right) with refusals that name the cause', async () => {
    const big = `big-${randomUUID().slice(0, 8)}`;
    k8s.seed('Secret', NS, { apiVersion: 'v1', kind: 'Secret', metadata: { name: big }, data: { blob: Buffer.alloc(1024 * 1024 - 8).toString('base64') } });
    const tooLarge = await rejection(dependent.write(context(), spec(big), password()));
    expect(tooLarge).toBeInstanceOf(ProviderRefusal);
    expect(tooLarge.message).toContain('HTTP 422 Invalid');
    expect(tooLarge.message).toContain('Too long');

    const reader = k8s.serviceAccount(NS, 'reader', [{ resources: ['secrets'], verbs: ['get'] }]);
    const name = seeded(password());
    const forbidden = await rejection(dependent.write(context(reader), spec(name), password()));
    expect(forbidden).toBeInstanceOf(ProviderRefusal);
    expect(forbidden.message).toContain('HTTP 403 Forbidden');
    expect(forbidden.message).toContain(`User "system:serviceaccount:${NS}:reader" cannot patch resource "secrets"`);
    expect(await dependent.preflight!(context(reader), spec(name))).toEqual([]); // it may read: preflight cannot see a missing patch right
  });

  it('refuses a token the API server does not know (401) and a server whose certificate it cannot verify', async () => {
    const name = seeded(password());
    const unknown = await rejection(dependent.write(kit.context({ KUBECONFIG_YAML: k8s.kubeconfig({ ...rotor, token: 'sa-forged' }) }), spec(name), password()));
    expect(unknown).toBeInstanceOf(ProviderRefusal);
    expect(unknown.message).toContain('HTTP 401 Unauthorized');
    const noCa = k8s.kubeconfig(rotor).replace(/^\s+certificate-authority-data:.*\n/m, '');
    const untrusted = await rejection(dependent.write(kit.context({ KUBECONFIG_YAML: noCa }), spec(name), password()));
    expect(untrusted).not.toBeInstanceOf(ProviderRefusal);
    expect(untrusted.message).toContain('could not be reached');
    expect((await dependent.preflight!(kit.context({ KUBECONFIG_YAML: 'not: [a kubeconfig' }), spec(name)))[0]).toContain('is not a valid kubeconfig');
  });

  it('authenticates in-cluster with the mounted service-account token and CA', async () => {
    const root = await mkdtemp(join(tmpdir(), 'rotor-sa-'));
    const { hostname, port } = new URL(k8s.server);
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    try {
      await writeFile(join(root, 'token'), rotor.token);
      await writeFile(join(root, 'ca.crt'), k8s.caPem);
      process.env.KUBERNETES_SERVICE_HOST = hostname;
      process.env.KUBERNETES_SERVICE_PORT = port;
      const name = seeded(password());
      const inCluster = KubernetesSecretSpecSchema.parse({ auth: { inCluster: true, serviceAccountPath: root }, namespace: NS, secretName: name, key: 'password' });
      const next = password();
      await dependent.write(kit.context({}), inCluster, next);
      expect(k8s.secretData(NS, name)!.password).toBe(next.reveal('password'));
      expect(k8s.requests.at(-1)!.user).toBe(`system:serviceaccount:${NS}:rotor`);
      const missing = await rejection(dependent.write(kit.context({}), { ...inCluster, auth: { inCluster: true, serviceAccountPath: join(root, 'none') } }, next));
      expect(missing).toBeInstanceOf(ProviderRefusal);
      expect(missing.message).toContain('no service account token');
    } finally {
      process.env.KUBERNETES_SERVICE_HOST = saved.host;
      process.env.KUBERNETES_SERVICE_PORT = saved.port;
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('kubernetes-secret: restarts and rollout readiness', () => {
  it('restarts the workloads that use the Secret once per rotation, and check waits for their rollouts', async () => {
    const name = seeded(password());
    const suffix = randomUUID().slice(0, 6);
    deployment(`api-${suffix}`, template(name, 'volume'));
    deployment(`db-${suffix}`, template(name, 'env'), 'StatefulSet');
    deployment(`other-${suffix}`, template('unrelated', 'volume'));
    const restart = { restart: { workloads: 'mounting', timeout: '2m' } };
    const ctx = context();
    const next = password();
    await dependent.write(ctx, spec(name, restart), next);
    for (const [kind, w] of [['Deployment', `api-${suffix}`], ['StatefulSet', `db-${suffix}`]] as const) {
      expect(templateAnnotations(kind, w)[ANNOTATIONS.restartedFor]).toBe(ctx.rotationId);
      expect(Date.parse(templateAnnotations(kind, w)[ANNOTATIONS.restartedAt]!)).toBeGreaterThan(Date.now() - 60_000);
      expect(generation(kind, w)).toBe(2);
    }
    expect(generation('Deployment', `other-${suffix}`)).toBe(1);
    await dependent.write(ctx, spec(name, restart), next); // retry: no second restart
    expect(generation('Deployment', `api-${suffix}`)).toBe(2);

    const started = Date.now();
    await dependent.check(ctx, spec(name, restart), next);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50); // it waited for the rollouts (150 ms each)
    const api = k8s.get('Deployment', NS, `api-${suffix}`)!.status as { updatedReplicas: number; availableReplicas: number };
    expect(api).toMatchObject({ updatedReplicas: 2, availableReplicas: 2 });
  });

  it('a rollout not ready within the timeout fails the check for good; restore restarts the workloads again', async () => {
    const old = password();
    const name = seeded(old);
    const w = `stuck-${randomUUID().slice(0, 6)}`;
    deployment(w, template(name, 'volume'));
    const restart = { restart: { workloads: [{ kind: 'Deployment', name: w }], timeout: '1s' } };
    k8s.setStuck('Deployment', NS, w, true);
    const ctx = context();
    const next = password();
    const receipt: Receipt = await dependent.write(ctx, spec(name, restart), next);
    const failed = await rejection(dependent.check(ctx, spec(name, restart), next));
    expect(failed).toBeInstanceOf(ProviderRefusal);
    expect(failed.message).toMatch(new RegExp(`rollout of Deployment ${NS}/${w} is not ready 1s after its restart: 0 of 2 replicas updated`));

    k8s.setStuck('Deployment', NS, w, false);
    await dependent.restore(ctx, spec(name, restart), receipt);
    expect(k8s.secretData(NS, name)!.password).toBe(old.reveal('password'));
    expect(templateAnnotations('Deployment', w)[ANNOTATIONS.restartedFor]).toBe(`${ctx.rotationId}/restore`);
    expect(generation('Deployment', w)).toBe(3);
  });

  it('a named workload that does not exist refuses the write', async () => {
    const name = seeded(password());
    const refused = await rejection(dependent.write(context(), spec(name, { restart: { workloads: [{ kind: 'StatefulSet', name: 'ghost' }] } }), password()));
    expect(refused).toBeInstanceOf(ProviderRefusal);
    expect(refused.message).toContain(`StatefulSet ${NS}/ghost: it does not exist`);
  });
});

describe('kubernetes-secret: the README Role is enough', () => {
  it('write, check, restore and decommission with restarts work with exactly the least-privilege Role', async () => {
    const account = k8s.serviceAccount(NS, `rotor-${randomUUID().slice(0, 6)}`, README_ROLE);
    const old = password();
    const name = seeded(old, 'app-db');
    const w = `web-${randomUUID().slice(0, 6)}`;
    deployment(w, template(name, 'volume'));
    const s = spec(name, { restart: { workloads: 'mounting', timeout: '2m' } });
    const ctx = context(account);
    expect(await dependent.preflight!(ctx, s)).toEqual([]);
    const next = password();
    const receipt = await dependent.write(ctx, s, next);
    await dependent.check(ctx, s, next);
    await dependent.restore(ctx, s, receipt);
    expect(k8s.secretData(NS, name)!.password).toBe(old.reveal('password'));
    await dependent.remove!(ctx, s);
    expect(Object.keys(k8s.secretData(NS, name)!)).toEqual(['username']);
    expect(k8s.get('Secret', NS, 'app-db-rotor-previous')).toBeUndefined();
    const denied = k8s.requests.filter((r) => r.user?.endsWith(account.name) && r.status === 403);
    expect(denied).toEqual([]);
  });
});

describe('kubernetes-secret: no secret leaks', () => {
  it('no value appears in any thrown error or log line', () => {
    expect(errors.length).toBeGreaterThan(8);
    expect(logs.length).toBeGreaterThan(10);
    const text = kit.errorsAndLogsText();
    for (const value of values) expect(text).not.toContain(value);
  });
});
