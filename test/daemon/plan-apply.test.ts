/** `rotor plan` and `rotor apply` against a real Temporal (in-memory) and the store. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { captureOutput, cliFor } from '../harness/cli.js';

let env: RotorEnv;
let dir: string;
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-plan-'));
});
afterAll(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  output = captureOutput();
});
afterEach(() => vi.restoreAllMocks());

const cli = (...args: string[]) => cliFor(env, dir)(...args);

describe('rotor plan / apply', () => {
  it('plans creations without changing anything, applies them, then plans nothing', async () => {
    await writeFile(join(dir, 'a.yaml'), [dbPolicyYaml(env, 'plan-a', { role: 'plan_a' }), dbPolicyYaml(env, 'plan-b', { role: 'plan_b', extra: 'enabled: false' })].join('\n---\n'));
    expect(await cli('plan')).toBe(0);
    expect(output.text()).toContain('+ rotor/plan-a (create)');
    expect(output.text()).toMatch(/2 to create, 0 to change, 0 to pause\/unpause, 0 to delete, 0 unchanged/);
    const before: string[] = [];
    for await (const s of env.client.schedule.list()) before.push(s.scheduleId);
    expect(before).toEqual([]);

    expect(await cli('apply', '--json')).toBe(0);
    const paused = await env.client.schedule.getHandle('rotor/plan-b').describe();
    expect(paused.state.paused).toBe(true);

    output.clear();
    expect(await cli('plan', '--json')).toBe(0);
    const plan = JSON.parse(output.text()) as { changes: Array<{ kind: string }>; credentials: Array<{ credential: string; overdue: boolean }> };
    expect(plan.changes.map((c) => c.kind)).toEqual(['unchanged', 'unchanged']);
    // Never rotated: due now.
    expect(plan.credentials).toEqual(expect.arrayContaining([expect.objectContaining({ credential: 'plan-a', overdue: true })]));
  });

  it('a bad policy directory is refused with exit 2 and nothing changes', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'id: plan-c\nowner: x\n');
    expect(await cli('apply')).toBe(2);
    expect(output.text()).toMatch(/bad\.yaml.*purpose/);
    const ids: string[] = [];
    for await (const s of env.client.schedule.list()) ids.push(s.scheduleId);
    expect(ids.sort()).toEqual(['rotor/plan-a', 'rotor/plan-b']);
    await rm(join(dir, 'bad.yaml'));
  });
});

describe('manual credentials in plan and apply', () => {
  it('plan lists them with the days left; apply starts the reminders job and removing the last one stops it', async () => {
    const expires = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    const manual = `kind: manual-credential
id: plan-pat
owner: team-release
purpose: Fine-grained PAT of the release bot
environment: production
system: github
type: github-fine-grained-pat
expires: ${expires}
`;
    await writeFile(join(dir, 'manual.yaml'), manual);
    expect(await cli('plan')).toBe(0);
    expect(output.text()).toMatch(/manual credentials[^\n]*\n[\s\S]*plan-pat\s+github\s+github-fine-grained-pat\s+\S+\s+10/);
    const schedules = async () => {
      const ids: string[] = [];
      for await (const s of env.client.schedule.list()) ids.push(s.scheduleId);
      return ids;
    };
    expect(await schedules()).not.toContain('rotor/reminders');
    expect(await cli('apply')).toBe(0);
    expect(await schedules()).toContain('rotor/reminders');
    expect((await env.store.getCredential('plan-pat'))?.status).toBe('manual');
    await rm(join(dir, 'manual.yaml'));
    expect(await cli('apply')).toBe(0);
    expect(await schedules()).not.toContain('rotor/reminders');
    expect((await env.store.getCredential('plan-pat'))?.status).toBe('retired');
  });
});

describe('rotor plan --check', () => {
  it('runs every pre-flight without changing anything; a missing permission exits 1 and is named', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env.env);
    try {
      output.clear();
      expect(await cli('plan', '--check', '--json')).toBe(0);
      expect(JSON.parse(output.text()).preflight).toEqual({ 'plan-a': [], 'plan-b': [] });
      await writeFile(join(dir, 'a.yaml'), dbPolicyYaml(env, 'plan-a', { role: 'plan_a' }).replace('token: env:VAULT_TOKEN', 'token: env:NO_SUCH_TOKEN'));
      process.env.NO_SUCH_TOKEN = 'wrong';
      output.clear();
      expect(await cli('plan', '--check')).toBe(1);
      expect(output.text()).toMatch(/✗ plan-a: primary store: .*(403|permission denied)/);
    } finally {
      process.env = saved;
    }
  });
});
