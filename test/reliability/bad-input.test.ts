/**
 * Bad input, as users and scripts really send it. A corpus of malformed policy files
 * (test/reliability/bad-policies/, each naming in its header the path and reason it must be refused
 * for) is refused with file, path and reason, and a running daemon that finds one of them in its
 * directory changes no schedule. Malformed HTTP requests get a 4xx and start nothing.
 */
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLogs, startRotorEnv, type RotorEnv } from '../harness/env.js';
import { dbPolicyYaml } from '../harness/db-rotation.js';
import { loadPolicies, MAX_POLICY_FILE_BYTES, PolicyLoadError } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import type { RunningDaemon } from '../../daemon/run.js';
import { startTestDaemon } from '../harness/daemon.js';
import { findLeaks, rotorOutputs } from './leaks.js';

const CORPUS = fileURLToPath(new URL('./bad-policies/', import.meta.url));

interface BadPolicy {
  file: string;
  path: string;
  reason: RegExp;
}

/** Secret-looking values filled into the corpus at run time, so none is committed in a real format. */
const GENERATED: Record<string, string> = {
  GITHUB_TOKEN: `ghp_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`,
  PRIVATE_KEY_BEGIN: ['-----BEGIN', 'RSA PRIVATE', 'KEY-----'].join(' '),
  PRIVATE_KEY_END: ['-----END', 'RSA PRIVATE', 'KEY-----'].join(' '),
};
let materialized: string | undefined;

/**
 * Each corpus file starts with `# refused at: <path>` and `# because: /<regex>/`. Files with
 * `{{NAME}}` placeholders are written, filled in, to a temporary copy.
 */
async function corpus(): Promise<BadPolicy[]> {
  const files = (await readdir(CORPUS)).filter((f) => f.endsWith('.yaml')).sort();
  materialized ??= await mkdtemp(join(tmpdir(), 'rotor-corpus-'));
  return Promise.all(
    files.map(async (name) => {
      let text = await readFile(join(CORPUS, name), 'utf8');
      let file = join(CORPUS, name);
      if (text.includes('{{')) {
        text = text.replace(/\{\{(\w+)\}\}/g, (_m, key: string) => GENERATED[key] ?? `{{${key}}}`);
        file = join(materialized!, name);
        await writeFile(file, text);
      }
      const path = /^# refused at: (.*)$/m.exec(text)?.[1];
      const reason = /^# because: \/(.*)\/$/m.exec(text)?.[1];
      if (path === undefined || reason === undefined) throw new Error(`${name}: header must say "# refused at:" and "# because: /…/"`);
      return { file, path: path === '(file)' ? '' : path, reason: new RegExp(reason) };
    }),
  );
}

async function refusal(target: string): Promise<PolicyLoadError> {
  const error = await loadPolicies(target, registry.catalog).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof PolicyLoadError)) throw new Error(`${basename(target)} was not refused with a PolicyLoadError: ${String(error)}`);
  return error;
}

let env: RotorEnv;
let daemon: RunningDaemon;
let dir: string;
const apiToken = randomBytes(24).toString('base64url');
/** The token with its last character changed (to one it is not: one in 64 tokens already ends in x). */
const wrongToken = `${apiToken.slice(0, -1)}${apiToken.endsWith('x') ? 'y' : 'x'}`;

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-bad-input-'));
  // The daemon's valid set: one policy, scheduled at start.
  await writeFile(join(dir, 'good.yaml'), dbPolicyYaml(env, 'good-db', { role: 'good_app' }));
  daemon = await startTestDaemon(env, dir, { apiToken });
});
afterAll(async () => {
  await daemon?.stop();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (materialized) await rm(materialized, { recursive: true, force: true });
});

/** Every schedule as Temporal holds it: id, policy hash and creation time (a replaced one changes). */
async function schedules(): Promise<string[]> {
  const out: string[] = [];
  for await (const s of env.client.schedule.list()) {
    const described = await env.client.schedule.getHandle(s.scheduleId).describe();
    out.push(`${s.scheduleId} ${String(described.memo?.rotorPolicyHash)} ${described.info.createdAt.toISOString()}`);
  }
  return out.sort();
}

describe('malformed policy files', () => {
  it('the corpus holds at least 30 cases, and its base policy is valid (each file fails for its own reason)', async () => {
    expect((await corpus()).length).toBeGreaterThanOrEqual(30);
    const base = await readFile(join(CORPUS, 'missing-owner.yaml'), 'utf8');
    const fixed = base.replace('id: orders-db\n', 'id: orders-db\nowner: team-payments\n');
    const file = join(dir, '..', `${basename(dir)}-base.yaml`);
    await writeFile(file, fixed);
    try {
      expect((await loadPolicies(file, registry.catalog)).map((p) => p.id)).toEqual(['orders-db']);
    } finally {
      await rm(file);
    }
  });

  it('each file is refused with its file, the path and the reason', async () => {
    for (const bad of await corpus()) {
      const error = await refusal(bad.file);
      const name = basename(bad.file);
      expect(error.problems.length, name).toBeGreaterThan(0);
      for (const problem of error.problems) expect(problem.file, name).toBe(bad.file);
      const match = error.problems.find((p) => p.path === bad.path && bad.reason.test(p.message));
      expect(match, `${name}: expected "${bad.path}: ${bad.reason}", got ${JSON.stringify(error.problems)}`).toBeDefined();
      // What an operator reads names the file and the path.
      expect(error.message).toContain(`${bad.file}`);
      expect(error.message).toContain(bad.path || '(file)');
    }
  });

  it('a huge file is refused by its size, before it is parsed', async () => {
    const file = join(dir, '..', `${basename(dir)}-huge.yaml`);
    const padding = `# ${'x'.repeat(1022)}\n`.repeat(Math.ceil((2 * MAX_POLICY_FILE_BYTES) / 1024));
    await writeFile(file, dbPolicyYaml(env, 'huge-db', { role: 'huge_app' }) + padding);
    try {
      const error = await refusal(file);
      expect(error.problems).toEqual([{ file, path: '', message: expect.stringMatching(/^file is \d+ bytes; policy files are limited to 262144$/) }]);
    } finally {
      await rm(file);
    }
  });

  it('a directory holding one bad file among good ones is refused as a whole', async () => {
    const mixed = await mkdtemp(join(tmpdir(), 'rotor-mixed-'));
    try {
      await writeFile(join(mixed, 'a-good.yaml'), dbPolicyYaml(env, 'a-db', { role: 'a_app' }));
      await copyFile(join(CORPUS, 'cron-typo.yaml'), join(mixed, 'b-bad.yaml'));
      await writeFile(join(mixed, 'c-good.yaml'), dbPolicyYaml(env, 'c-db', { role: 'c_app' }));
      const error = await refusal(mixed);
      expect(error.problems.map((p) => `${basename(p.file)} ${p.path}`)).toEqual(['b-bad.yaml schedule.cron']);
    } finally {
      await rm(mixed, { recursive: true, force: true });
    }
  });

  it('the daemon refuses each of them on reconcile and leaves every schedule as it was', async () => {
    const before = await schedules();
    expect(before).toHaveLength(1);
    expect(before[0]).toMatch(/^rotor\/good-db /);
    for (const bad of await corpus()) {
      const target = join(dir, `zz-${basename(bad.file)}`);
      await copyFile(bad.file, target);
      const refused = await daemon.reconcile();
      await rm(target);
      expect(refused, basename(bad.file)).toEqual({ ok: false, changes: [] });
    }
    expect(await schedules()).toEqual(before);
    expect((await env.store.listCredentials()).map((c) => c.id)).toEqual(['good-db']);
    // The refusal is logged with the file and path, so the operator knows what to fix.
    expect(capturedLogs.join('\n')).toMatch(/zz-cron-typo\.yaml:\d+: schedule\.cron: must be a five-field cron.*policies refused; nothing changed/);
    // And the daemon still works: the valid set reconciles with no change.
    expect(await daemon.reconcile()).toMatchObject({ ok: true, changes: [{ kind: 'unchanged' }] });
  });
});

describe('malformed HTTP requests', () => {
  const url = () => `${daemon.httpAddress}/v1/rotations`;
  const auth = () => ({ authorization: `Bearer ${apiToken}` });
  const json = { 'content-type': 'application/json' };

  async function rotationsStarted(): Promise<number> {
    let n = 0;
    for await (const _ of env.client.workflow.list({ query: `WorkflowType != 'scheduledRotation'` })) n++;
    return n;
  }

  const cases: Array<[string, number, () => RequestInit]> = [
    ['no token', 401, () => ({ method: 'POST', headers: json, body: '{"credential":"good-db"}' })],
    ['a wrong token', 401, () => ({ method: 'POST', headers: { ...json, authorization: `Bearer ${wrongToken}` }, body: '{"credential":"good-db"}' })],
    ['a token without the Bearer scheme', 401, () => ({ method: 'POST', headers: { ...json, authorization: apiToken }, body: '{"credential":"good-db"}' })],
    ['basic auth', 401, () => ({ method: 'POST', headers: { ...json, authorization: `Basic ${Buffer.from(`rotor:${apiToken}`).toString('base64')}` }, body: '{"credential":"good-db"}' })],
    ['bad JSON', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"credential": "good-db",' })],
    ['an empty body', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '' })],
    ['a JSON array', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '["good-db"]' })],
    ['JSON null', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: 'null' })],
    // Fastify parses text/plain as a string, which the body schema then refuses.
    ['a text/plain body', 400, () => ({ method: 'POST', headers: { 'content-type': 'text/plain', ...auth() }, body: '{"credential":"good-db"}' })],
    ['a form body', 415, () => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth() }, body: 'credential=good-db' })],
    ['a 1 MB body', 413, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: JSON.stringify({ credential: 'good-db', reason: 'x'.repeat(1024 * 1024) }) })],
    ['credential as a number', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"credential":42}' })],
    ['emergency as a string', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"credential":"good-db","emergency":"yes"}' })],
    ['an unknown field', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"credential":"good-db","force":true}' })],
    ['a missing credential', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"emergency":true}' })],
    ['a too long reason', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: JSON.stringify({ credential: 'good-db', reason: 'r'.repeat(501) }) })],
    ['revokeFirst without emergency', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"credential":"good-db","revokeFirst":true}' })],
    ['an unknown credential', 404, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"credential":"no-such-db"}' })],
    ['a prototype-pollution body', 400, () => ({ method: 'POST', headers: { ...json, ...auth() }, body: '{"credential":"good-db","__proto__":{"emergency":true}}' })],
    ['GET on the rotations endpoint', 404, () => ({ method: 'GET', headers: auth() })],
  ];

  it.each(cases)('refuses %s with %i and starts nothing', async (_what, status, init) => {
    const before = await rotationsStarted();
    const response = await fetch(url(), init());
    expect(response.status).toBe(status);
    const body = await response.text();
    expect(body).not.toContain(apiToken);
    expect(await rotationsStarted()).toBe(before);
    expect((await env.store.listRuns('good-db')).length).toBe(0);
  });

  it('nothing a refused request carried reached logs, histories or the store', async () => {
    const outputs = await rotorOutputs(env, { metrics: await (await fetch(`${daemon.httpAddress}/metrics`)).text() });
    expect(findLeaks([apiToken], outputs)).toEqual([]);
    expect(findLeaks([apiToken], { ...outputs, logs: `${outputs.logs} Bearer ${apiToken}` })).toHaveLength(1);
  });
});
