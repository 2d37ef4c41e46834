/**
 * The kubernetes-secret dependent end to end: a real PostgreSQL login rotated by the real Temporal
 * worker, with a Kubernetes Secret (our API emulator, the real client) beside the Vault dependent.
 * The Secret's key follows the rotation and the workloads using it restart; a rollout that never
 * becomes ready fails the check and rolls the rotation back: the key holds the old password again,
 * the workload restarts once more, the old login still works. No password reaches a history or log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLogs, startRotorEnv, type RotorEnv } from '../harness/env.js';
import { historyText } from '../harness/leaks.js';
import { dbPolicyYaml, login, rotateDb, servedLogin } from '../harness/db-rotation.js';
import { startKubernetesEmulator, type KubernetesEmulator } from '../harness/kubernetes/index.js';

const NS = 'orders';
let env: RotorEnv;
let k8s: KubernetesEmulator;
const passwords = new Set<string>();

beforeAll(async () => {
  env = await startRotorEnv();
  k8s = await startKubernetesEmulator({ rolloutMs: 100 });
  const account = k8s.serviceAccount(NS, 'rotor', [
    { resources: ['secrets'], verbs: ['get', 'patch', 'delete', 'create'] },
    { resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'patch'] },
  ]);
  env.env.KUBECONFIG_YAML = k8s.kubeconfig(account);
  await env.startWorker();
});

afterAll(async () => {
  await env?.close();
  await k8s?.close();
});

function policy(id: string, timeout: string): string {
  return dbPolicyYaml(env, id, { strategy: 'dual', role: `${id.replace(/-/g, '_')}_app` }).replace(
    'dependents:\n',
    `dependents:
  - name: cluster
    type: kubernetes-secret
    auth: { kubeconfig: env:KUBECONFIG_YAML }
    namespace: ${NS}
    secretName: ${id}
    key: password
    field: password
    restart: { workloads: mounting, timeout: ${timeout} }
`,
  );
}

function deployment(name: string, secretName: string): void {
  k8s.seed('Deployment', NS, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { spec: { containers: [{ name: 'app', image: 'app:1' }], volumes: [{ name: 'db', secret: { secretName } }] } } },
  });
}
const restartedFor = (name: string) =>
  ((k8s.get('Deployment', NS, name)!.spec as { template: { metadata?: { annotations?: Record<string, string> } } }).template.metadata?.annotations ?? {})['rotor.dev/restarted-for'];

describe('kubernetes-secret through the rotation protocol', () => {
  it('the key follows the rotation and the mounting workload restarts and rolls out', async () => {
    deployment('orders-api', 'orders-db');
    await env.usePolicies(policy('orders-db', '2m'));
    const result = await rotateDb(env, 'orders-db', { reason: 'test' });
    expect(result.outcome).toBe('succeeded');
    const served = await servedLogin(env, 'orders-db');
    passwords.add(served.password);
    expect(k8s.secretData(NS, 'orders-db')).toEqual({ password: served.password });
    expect(restartedFor('orders-api')).toBe(result.rotationId);
    expect(k8s.get('Deployment', NS, 'orders-api')!.status).toMatchObject({ updatedReplicas: 2, availableReplicas: 2 });
    const events = (await env.store.listAudit({ rotationId: result.rotationId })).map((e) => e.event);
    expect(events.filter((e) => e === 'dependent.checked')).toHaveLength(2);
  });

  it('a rollout that never gets ready rolls the rotation back: old password in the key, workload restarted again', async () => {
    deployment('billing-api', 'billing-db');
    await env.usePolicies(policy('billing-db', '1s'));
    const first = await rotateDb(env, 'billing-db', { reason: 'test' });
    expect(first.outcome).toBe('succeeded');
    const before = await servedLogin(env, 'billing-db');
    passwords.add(before.password);

    k8s.setStuck('Deployment', NS, 'billing-api', true);
    const second = await rotateDb(env, 'billing-db', { reason: 'test' });
    k8s.setStuck('Deployment', NS, 'billing-api', false);
    expect(second.outcome).toBe('rolled_back');
    expect(k8s.secretData(NS, 'billing-db')!.password).toBe(before.password);
    expect(restartedFor('billing-api')).toBe(`${second.rotationId}/restore`);
    expect(await login(env, before)).toBe(true);
    const steps = await env.store.listSteps(second.rotationId);
    expect(steps.find((s) => s.step === 'dependent.checked' && s.status === 'failed')?.detail).toMatch(/rollout of Deployment orders\/billing-api is not ready 1s after its restart/);
    const kept = k8s.secretData(NS, 'billing-db-rotor-previous')!.value!;
    expect(kept).toBe(before.password);
  });

  it('no password appears in histories or logs', async () => {
    expect(passwords.size).toBe(2);
    const histories: string[] = [];
    for (const w of await env.executions()) histories.push(historyText(await env.client.workflow.getHandle(w.workflowId, w.runId).fetchHistory()));
    const haystack = [...histories, ...capturedLogs].join('\n');
    expect(haystack).toContain('kubernetes secret key written'); // the scan reads real content
    for (const password of passwords) expect(haystack.includes(password)).toBe(false);
  });
});
