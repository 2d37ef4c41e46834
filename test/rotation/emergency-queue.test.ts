/**
 * Emergencies have their own task queue: with 50 scheduled rotations waiting on the normal queue
 * (its worker stopped, the worst backlog there is), an emergency rotation still runs to the end.
 * The test records how long it took, on the virtual and the wall clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml, login, rotateDb, servedLogin } from '../harness/db-rotation.js';
import { startRotation } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';

let env: RotorEnv;
const QUEUED = 50;

beforeAll(async () => {
  env = await startRotorEnv();
});
afterAll(async () => {
  await env?.close();
});

describe('emergency queue', () => {
  it(`completes an emergency while ${QUEUED} scheduled rotations are queued`, async () => {
    const yaml = [dbPolicyYaml(env, 'leaked-db', { role: 'leaked_app' })];
    for (let i = 0; i < QUEUED; i++) yaml.push(dbPolicyYaml(env, `batch-${i}`, { role: `batch_${i}` }));
    await env.usePolicies(yaml.join('\n---\n'));
    const running = await env.startWorker();
    await rotateDb(env, 'leaked-db');
    const before = await servedLogin(env, 'leaked-db');

    // Stop the normal queue's worker, then queue the backlog on it.
    const [normal] = running.workers;
    normal!.shutdown();
    await new Promise<void>((resolve) => {
      const check = () => (normal!.getState() === 'STOPPED' ? resolve() : setImmediate(check));
      check();
    });
    const backlog = await Promise.all(
      Array.from({ length: QUEUED }, (_, i) =>
        startRotation(env.client, registry, env.policies.get(`batch-${i}`)!, { taskQueue: env.taskQueue, trigger: 'scheduled' }),
      ),
    );

    const wallStart = performance.now();
    const virtualStart = await env.temporal.now();
    const result = await rotateDb(env, 'leaked-db', { trigger: 'emergency', reason: 'leak drill' });
    const figures = { wallMs: Math.round(performance.now() - wallStart), virtualMs: (await env.temporal.now()) - virtualStart };
    console.log(`emergency rotation with ${QUEUED} queued: ${JSON.stringify(figures)}`);

    expect(result.outcome).toBe('succeeded');
    expect(await login(env, before)).toBe(false);
    // The backlog is still waiting: nothing of it ran, the emergency did not wait for it.
    const states = await Promise.all(backlog.map(({ handle }) => handle.describe().then((d) => d.status.name)));
    expect(states.every((s) => s === 'RUNNING')).toBe(true);
    expect((await env.store.listRuns('batch-0')).length).toBe(0);
    await Promise.all(backlog.map(({ handle }) => handle.terminate('test over')));
  });
});
