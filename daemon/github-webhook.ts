/**
 * GitHub secret scanning → emergency rotation. GitHub posts `secret_scanning_alert` events signed
 * with HMAC SHA-256 (`X-Hub-Signature-256`) over the raw body. A leak (the alert and the fingerprint
 * of the value) is acted on once, whatever delivery id it comes under. The leaked value is matched by
 * its SHA-256 against the fingerprints Rotor keeps, and never stored or logged; an unknown secret is
 * recorded as an unmanaged finding; material already revoked starts nothing and is recorded.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { fingerprintValue } from '../lib/material.js';
import type { Logger } from '../lib/logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import { claimPendingLeak, getLeakReport, markLeakStarted, markLeakStartFailed, pendingLeaks, recordLeakReport, revokedMaterial, type LeakAction } from '../store/leaks.js';
import type { PolicySet } from './policies.js';
import { startRotation } from './rotations.js';
import { GITHUB_SECRET_SCANNING_ACTOR } from './auth/actor.js';

export interface WebhookDeps {
  client: Client;
  store: RotorStore;
  policies: PolicySet;
  providers: ProviderRegistry;
  taskQueue: string;
  logger: Logger;
  /** The webhook secret configured on GitHub (resolved from its secret reference). */
  secret: string;
  /** How long a delivery waits for Temporal to accept the emergency (default 5 s). */
  startTimeoutMs?: number;
}

export function signatureMatches(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`);
  const presented = Buffer.from(header);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

const AlertSchema = z.object({
  action: z.string().max(64),
  alert: z.object({
    number: z.number().int().nonnegative().optional(),
    secret_type: z.string().max(200).optional(),
    secret: z.string().min(1).max(16 * 1024),
    html_url: z.string().max(1000).optional(),
  }),
  repository: z.object({ full_name: z.string().max(300) }).optional(),
});

/** GitHub's delivery ids are GUIDs; anything far longer or stranger is refused before any work. */
const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;

/** How long a delivery waits for Temporal to accept the emergency: under GitHub's 10 s timeout. */
const DEFAULT_START_TIMEOUT_MS = 5000;

export type WebhookOutcome =
  | { status: 202; body: { credential: string; workflowId: string } }
  | { status: 200; body: { result: 'ignored' | 'unmanaged' } | { result: 'replay'; action: LeakAction } | { result: 'already-revoked'; credential: string; material: string; revokedAt: string } }
  | { status: 503; body: { error: string } }
  | { status: 400 | 401; body: { error: string } };

const ACTOR = 'github-secret-scanning';

/**
 * Handles one delivery; the caller has the raw body and headers. A leak of managed material is
 * answered only once its emergency rotation is durably started (202); until then the leak waits in
 * the store as pending and the answer is 503, so GitHub shows the delivery failed (and a redelivery
 * acts), while Rotor retries it by itself (retryPendingLeaks).
 */
export async function handleSecretScanning(deps: WebhookDeps, raw: Buffer, headers: Record<string, string | undefined>): Promise<WebhookOutcome> {
  if (!signatureMatches(raw, headers['x-hub-signature-256'], deps.secret)) return { status: 401, body: { error: 'bad signature' } };
  const deliveryId = headers['x-github-delivery'];
  if (!deliveryId) return { status: 400, body: { error: 'missing X-GitHub-Delivery' } };
  if (!DELIVERY_ID.test(deliveryId)) return { status: 400, body: { error: 'X-GitHub-Delivery is not a delivery id' } };
  if (headers['x-github-event'] !== 'secret_scanning_alert') return { status: 200, body: { result: 'ignored' } };
  let parsed;
  try {
    parsed = AlertSchema.safeParse(JSON.parse(raw.toString('utf8')));
  } catch {
    return { status: 400, body: { error: 'body is not JSON' } };
  }
  if (!parsed.success) return { status: 400, body: { error: 'not a secret_scanning_alert payload' } };
  const { action, alert, repository } = parsed.data;
  if (action !== 'created' && action !== 'reopened') return { status: 200, body: { result: 'ignored' } };

  const fingerprint = fingerprintValue(alert.secret);
  // What was leaked, where: the HMAC covers the body, not the delivery id, so the body is the key.
  const leakKey = `github:${repository?.full_name ?? '-'}#${alert.number ?? '-'}:${fingerprint}`;
  const seen = await getLeakReport(deps.store, leakKey);
  if (seen && seen.action !== 'pending') return { status: 200, body: { result: 'replay', action: seen.action } };

  const location = alert.html_url ?? repository?.full_name;
  const report = { leakKey, deliveryId, source: 'github-secret-scanning', secretType: alert.secret_type, fingerprint, location };
  const audit = { alert: alert.number ?? null, secretType: alert.secret_type ?? null, location: location ?? null, deliveryId };
  if (!seen) {
    const matches = [...(await deps.store.findMaterial(fingerprint)), ...(await deps.store.findMaterial(alert.secret))];
    const match = matches[0];
    const policy = match ? deps.policies.get(match.credentialId) : undefined;
    if (!match || !policy) {
      const fresh = await recordLeakReport(deps.store, { ...report, status: 'unmanaged', action: 'none' });
      if (fresh) await deps.store.appendAudit({ actor: ACTOR, event: 'leak.unmanaged', detail: audit });
      deps.logger.warn({ deliveryId, secretType: alert.secret_type, location }, 'leaked secret matches no managed credential');
      return { status: 200, body: fresh ? { result: 'unmanaged' } : { result: 'replay', action: 'none' } };
    }
    const dead = await revokedMaterial(deps.store, match);
    if (dead) {
      if (await recordLeakReport(deps.store, { ...report, credentialId: policy.id, status: 'managed', action: 'already-revoked' })) {
        await deps.store.appendAudit({
          credentialId: policy.id,
          actor: ACTOR,
          event: 'leak.already-revoked',
          detail: { ...audit, material: dead.materialId, how: dead.how, revokedAt: dead.at.toISOString() },
        });
      }
      deps.logger.warn({ deliveryId, credentialId: policy.id, material: dead.materialId }, 'leak reported for material already revoked: nothing started');
      return { status: 200, body: { result: 'already-revoked', credential: policy.id, material: dead.materialId, revokedAt: dead.at.toISOString() } };
    }
    const reason = `GitHub secret scanning alert${alert.number !== undefined ? ` #${alert.number}` : ''} (${alert.secret_type ?? 'secret'}) in ${location ?? 'unknown location'}`;
    if (await recordLeakReport(deps.store, { ...report, credentialId: policy.id, status: 'managed', action: 'pending', reason })) {
      await deps.store.appendAudit({ credentialId: policy.id, actor: ACTOR, event: 'leak.reported', detail: { ...audit, material: match.materialId } });
    }
  }
  const started = await startPendingLeak(deps, leakKey);
  if (started.ok) return { status: 202, body: { credential: started.credentialId, workflowId: started.workflowId } };
  if (started.replay) return { status: 200, body: { result: 'replay', action: started.replay } };
  return { status: 503, body: { error: 'the emergency rotation is not started yet: Rotor keeps trying; redeliver to try now' } };
}

type StartAttempt = { ok: true; credentialId: string; workflowId: string } | { ok: false; replay?: LeakAction };

/** Starts the emergency of one pending leak, if no other start holds it. Never throws on a Temporal failure. */
async function startPendingLeak(deps: WebhookDeps, leakKey: string): Promise<StartAttempt> {
  const timeoutMs = deps.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  if (!(await claimPendingLeak(deps.store, leakKey, timeoutMs * 3))) {
    const now = await getLeakReport(deps.store, leakKey);
    return { ok: false, replay: now && now.action !== 'pending' ? now.action : undefined };
  }
  const leak = (await getLeakReport(deps.store, leakKey))!;
  const policy = leak.credentialId ? deps.policies.get(leak.credentialId) : undefined;
  if (!policy) {
    await markLeakStartFailed(deps.store, leakKey, `no policy for credential ${leak.credentialId} in force`);
    deps.logger.error({ credentialId: leak.credentialId }, 'leak pending: its credential has no policy in force');
    return { ok: false };
  }
  try {
    const { handle } = await deps.client.connection.withDeadline(Date.now() + timeoutMs, () =>
      startRotation(deps.client, deps.providers, policy, { taskQueue: deps.taskQueue, trigger: 'emergency', reason: leak.reason, actor: GITHUB_SECRET_SCANNING_ACTOR, audit: deps.store }),
    );
    await markLeakStarted(deps.store, leakKey, handle.workflowId);
    await deps.store.appendAudit({ credentialId: policy.id, actor: ACTOR, event: 'leak.emergency-started', detail: { workflowId: handle.workflowId, deliveryId: leak.deliveryId } });
    // The set in force is the last valid one; say when the directory has broken files meanwhile.
    const brokenPolicyFiles = [...new Set(deps.policies.refusedProblems().map((p) => p.file))];
    deps.logger.warn({ deliveryId: leak.deliveryId, credentialId: policy.id, ...(brokenPolicyFiles.length > 0 ? { brokenPolicyFiles } : {}) }, 'leak reported by GitHub: emergency rotation started');
    return { ok: true, credentialId: policy.id, workflowId: handle.workflowId };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await markLeakStartFailed(deps.store, leakKey, message);
    deps.logger.error({ credentialId: policy.id, error: message }, 'leak pending: the emergency rotation could not be started; retrying');
    return { ok: false };
  }
}

/** Starts the emergencies of leaks still pending (Temporal was down when they came). Returns how many started. */
export async function retryPendingLeaks(deps: WebhookDeps): Promise<number> {
  let started = 0;
  for (const leak of await pendingLeaks(deps.store)) if ((await startPendingLeak(deps, leak.leakKey)).ok) started++;
  return started;
}
