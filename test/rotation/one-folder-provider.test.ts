/**
 * Adding a provider is one folder and one registration: a credential type and a store defined only
 * in test/fixtures/providers, registered through the public createRegistry, go through policy
 * validation, the whole rotation protocol on the real Temporal worker (generic `rotateCredential`
 * workflow), pre-flight, discovery and the posture audit, with no other file knowing them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startRotorEnv, type RotorEnv } from '../harness/env.js';
import { createRegistry, credentialProviders, storeProviders } from '../../providers/registry.js';
import { startRotation } from '../../daemon/rotations.js';
import { preflightPolicy } from '../../activities/preflight.js';
import { checkWorkflowNames } from '../../daemon/worker.js';
import { createLogger } from '../../lib/logger.js';
import { collectFacts } from '../../audit/facts.js';
import { runAudit } from '../../audit/index.js';
import { DEFAULT_THRESHOLDS } from '../../audit/types.js';
import { listDiscovered } from '../../store/discovery.js';
import { PolicyLoadError } from '../../config/load.js';
import type { RotationResult } from '../../workflows/types.js';
import type { DiscoveryResult } from '../../workflows/discovery.js';
import { fixtureToken, tokenService } from '../fixtures/providers/fixture-token/index.js';
import { fixtureStore, memoryStore } from '../fixtures/providers/fixture-store/index.js';

const providers = createRegistry([...credentialProviders, fixtureToken], [...storeProviders, fixtureStore]);
const DAY = 86_400_000;

const policy = (id: string, principal: string, extra = '') => `
id: ${id}
owner: team-payments
purpose: one-folder provider
environment: test
credential:
  type: fixture-token
  principal: ${principal}
  adminKey: env:FIXTURE_ADMIN_KEY
store:
  type: fixture-store
  slot: primary-${id}
dependents:
  - name: app
    type: fixture-store
    slot: app-${id}
  - name: vault
    type: vault-kv
    address: VAULT
    token: env:VAULT_TOKEN
    path: apps/${id}
revoke:
  after: 1h
${extra}`;

describe('a provider defined only in its own folder', () => {
  let env: RotorEnv;
  beforeAll(async () => {
    env = await startRotorEnv({ providers });
    env.env.FIXTURE_ADMIN_KEY = 'admin';
    await env.startWorker();
  });
  afterAll(async () => {
    await env?.close();
  });
  const yaml = (id: string, principal: string, extra = '') => policy(id, principal, extra).replace('VAULT', env.vault.address);

  it('is validated like any other, capabilities included', async () => {
    await expect(env.usePolicies(yaml('x', 'svc-x').replace('type: vault-kv', 'type: github-actions-secret'))).rejects.toThrow(PolicyLoadError);
    // The fixture store keeps ids itself, so a token whose id is none of its fields may live there; Secrets Manager may not hold it as primary.
    const bad = yaml('x', 'svc-x').replace(/store:\n {2}type: fixture-store\n {2}slot: primary-x/, 'store:\n  type: aws-secrets-manager\n  secretId: rotor/x');
    await expect(env.usePolicies(bad)).rejects.toThrow(/aws-secrets-manager cannot be the primary store of fixture-token material/);
    // The workflow it names exists in the worker's bundle: checked at start-up.
    expect(() => checkWorkflowNames(providers)).not.toThrow();
    const wrong = createRegistry([{ ...fixtureToken, workflow: 'rotateNothing' }], []);
    expect(() => checkWorkflowNames(wrong)).toThrow('credential types name workflows the worker does not have: rotateNothing');
  });

  it('passes pre-flight, and pre-flight finds its problems', async () => {
    const [p] = await env.usePolicies(yaml('pre', 'svc-pre'));
    const ctx = { rotationId: 'preflight', logger: createLogger({ level: 'silent' }), resolveSecret: async (ref: string) => env.env[ref.slice(4)] ?? '' };
    expect(await preflightPolicy(p!, providers, ctx)).toEqual([]);
    const refused = await preflightPolicy(p!, providers, { ...ctx, resolveSecret: async () => 'wrong' });
    expect(refused).toContain('credential: the admin key for svc-pre is not accepted');
  });

  it('rotates through the whole protocol on the generic workflow: new token served everywhere, old one revoked after the grace', async () => {
    const id = `fx-${randomUUID().slice(0, 6)}`;
    const initial = tokenService.issue(`svc-${id}`);
    const { Material } = await import('../../lib/material.js');
    memoryStore.slot(`primary-${id}`).current = new Material(initial.id, { token: initial.value });
    const [p] = await env.usePolicies(yaml(id, `svc-${id}`));
    const { handle } = await startRotation(env.client, providers, p!, { taskQueue: env.taskQueue, trigger: 'manual', reason: 'test' });
    expect((await handle.describe()).type).toBe('rotateCredential');
    const result = (await handle.result()) as RotationResult;
    expect(result).toMatchObject({ outcome: 'succeeded', oldMaterialId: initial.id });
    const next = memoryStore.slot(`primary-${id}`).current!;
    expect(next.id).toBe(result.newMaterialId);
    expect(memoryStore.slot(`primary-${id}`).previous?.id).toBe(initial.id);
    expect(memoryStore.slot(`app-${id}`).versions.at(-1)?.id).toBe(next.id);
    expect(tokenService.works(next.id, next.reveal('token'))).toBe(true);
    expect(tokenService.tokens.has(initial.id)).toBe(false);
    const events = (await env.store.listAudit()).filter((e) => e.credentialId === id).map((e) => e.event);
    expect(events).toEqual([
      'rotation.started',
      'rotation.preflight',
      'material.created',
      'material.verified',
      'dependent.written',
      'dependent.written',
      'dependent.checked',
      'dependent.checked',
      'material.promoted',
      'material.revoked',
      'rotation.finished',
    ]);
    // The Vault dependent (a built-in store) holds the new token too.
    const vault = (await import('node-vault')).default({ endpoint: env.vault.address, token: env.vault.token, noCustomHTTPVerbs: true });
    const served = (await vault.read(`secret/data/apps/${id}`)) as { data: { data: Record<string, string> } };
    expect(served.data.data).toEqual({ token: next.reveal('token') });
  });

  it('is discovered and audited: its registration says how old a token may get', async () => {
    const id = `fx-${randomUUID().slice(0, 6)}`;
    await env.usePolicies(yaml(id, `svc-${id}`));
    const old = tokenService.issue(`svc-${id}`);
    old.createdAt = new Date(Date.now() - 10 * DAY).toISOString();
    const result = (await env.client.workflow.execute('discoverCredentials', { taskQueue: env.taskQueue, workflowId: `discovery-${id}` })) as DiscoveryResult;
    expect(result.failed).toEqual([]);
    const row = (await listDiscovered(env.store)).find((r) => r.credentialId === old.id);
    expect(row).toMatchObject({ sourceType: 'fixture-token', principal: `svc-${id}`, managedBy: null, status: 'active' });
    const now = new Date();
    const facts = await collectFacts(env.store, { now, failureWindowDays: 7 });
    const thresholds = { ...DEFAULT_THRESHOLDS, maxAgeDays: { ...DEFAULT_THRESHOLDS.maxAgeDays, ...providers.maxAgeDays() } };
    const { findings } = runAudit(facts, { now, policies: env.policies.all(), allowedOwners: [], thresholds });
    // 10 days is long-lived for this type (maxAgeDays 7), though not by the default of 90.
    expect(findings.filter((f) => f.subject.endsWith(`/${old.id}`)).map((f) => f.rule).sort()).toEqual(['long-lived', 'unmanaged']);
  });
});
