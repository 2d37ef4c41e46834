/**
 * Decommission is a workflow: durable and visible. `rotor decommission` runs the
 * decommissionCredential workflow; its worker (a child process) is SIGKILLed with the dependent's
 * removal in flight, a new worker finishes it, and the command prints the same report and exits 0.
 * Every login is revoked, the dependent's copy is gone, each audit event is written once, the run
 * is found in Temporal's visibility by RotorCredentialId, and no secret value is in its history.
 *
 * On the dev server in real time, for the reasons given in worker-crash.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { captureOutput, cliFor } from '../harness/cli.js';
import { dbPolicyYaml, login, rotateDb, servedLogin, type DbLogin } from '../harness/db-rotation.js';
import { historyText } from '../harness/leaks.js';
import { findLeaks, rotorOutputs, vaultSecretValues } from './leaks.js';
import { workerProcesses, type WorkerProcesses } from './worker-processes.js';
import { DECOMMISSION_WORKFLOW, decommissionWorkflowId } from '../../workflows/decommission-types.js';

let env: RotorEnv;
let dir: string;
let workers: WorkerProcesses;
const logins: DbLogin[] = [];
const id = 'crash-decommission';

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-decommission-'));
  workers = await workerProcesses(env, dir);
});
afterAll(async () => {
  workers?.killAll();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Polls until the probe answers (the test's own timeout bounds it). */
async function until<T>(probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('worker killed mid-decommission', () => {
  it('a new worker finishes it: same report, every login revoked, the dependent removed once, each event once', { timeout: 180_000 }, async () => {
    const yaml = dbPolicyYaml(env, id, { role: 'crash_decom', extra: 'decommission:\n  removeFromDependents: true' }).replace('after: 24h', 'after: 0s');
    await env.usePolicies(yaml);
    const policyFile = join(dir, `${id}.yaml`);
    await writeFile(policyFile, yaml);
    const inProcess = await env.startWorker();
    for (let i = 0; i < 2; i++) {
      expect((await rotateDb(env, id)).outcome).toBe('succeeded');
      logins.push(await servedLogin(env, id));
    }
    await inProcess.stop();
    expect(await login(env, logins[1]!)).toBe(true);

    const doomed = await workers.start(policyFile);
    // Vault holds the dependent's removal: the worker dies with it in flight (it lands afterwards).
    const dependentPath = `/v1/secret/metadata/apps/${id}/db`;
    const removals = () => env.vault.requests.filter((r) => r.method === 'DELETE' && r.path === dependentPath).length;
    env.vault.faults.add({ match: (r) => r.method === 'DELETE' && r.path === dependentPath && removals() <= 1, delayMs: 1500 });
    const output = captureOutput();
    const decommissioned = cliFor(env, dir)('decommission', id, '--reason', 'workload retired');
    await until(() => (removals() > 0 ? true : undefined));
    expect(await workers.kill(doomed)).toBe('SIGKILL');
    const handle = env.client.workflow.getHandle(decommissionWorkflowId(id));
    expect((await handle.describe()).status.name).toBe('RUNNING');

    const replacement = await env.startWorker();
    const code = await decommissioned;
    await replacement.stop();
    const text = output.text();
    output.clear();

    expect(text).toContain(`${id}: decommissioned (previous crash_decom_a revoked, current crash_decom_b retired)`);
    expect(code).toBe(0);
    for (const l of logins) expect(await login(env, l)).toBe(false);
    await expect(servedLogin(env, id)).rejects.toThrow();
    expect((await env.store.getCredential(id))?.status).toBe('retired');
    // The removal was asked again by the new worker, and found nothing left to do.
    expect(removals()).toBe(2);
    const events = (await env.store.listAudit({ credentialId: id })).map((e) => e.event);
    expect(events.slice(events.indexOf('decommission.started'))).toEqual([
      'decommission.started', 'material.revoked', 'material.retired', 'dependent.removed', 'credential.decommissioned',
    ]);
    // The activity whose worker died was retried (attempt 2) by the server, not restarted by hand.
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : []));
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
  });

  it('is listed in Temporal visibility by its workflow type and RotorCredentialId', { timeout: 60_000 }, async () => {
    const query = `WorkflowType = '${DECOMMISSION_WORKFLOW}' AND RotorCredentialId = '${id}'`;
    const listed = await until(async () => {
      const found = [];
      for await (const w of env.client.workflow.list({ query })) found.push(w);
      return found.length > 0 && found.every((w) => w.status.name === 'COMPLETED') ? found : undefined;
    });
    expect(listed.map((w) => w.workflowId)).toEqual([decommissionWorkflowId(id)]);
  });

  it('no secret value is in its history, the logs (the killed worker too) or the store', async () => {
    const secrets = [...(await vaultSecretValues(env)), ...logins.map((l) => l.password)];
    expect(secrets.length).toBeGreaterThanOrEqual(2);
    const decommissionHistory = historyText(await env.client.workflow.getHandle(decommissionWorkflowId(id)).fetchHistory());
    expect(decommissionHistory).toContain('crash_decom_b'); // ids are there; values are not
    const outputs = await rotorOutputs(env, { 'decommission history': decommissionHistory, 'worker process output': workers.output.join('') });
    expect(findLeaks(secrets, outputs)).toEqual([]);
  });
});
