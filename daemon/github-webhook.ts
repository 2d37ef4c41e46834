/**
 * GitHub secret scanning → emergency rotation. GitHub posts `secret_scanning_alert` events signed
 * with HMAC SHA-256 (`X-Hub-Signature-256`) over the raw body; the delivery id (`X-GitHub-Delivery`)
 * makes a replay a no-op. The leaked value is matched by its SHA-256 against the fingerprints Rotor
 * keeps, and never stored or logged; an unknown secret is recorded as an unmanaged finding.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { fingerprintValue } from '../lib/material.js';
import type { Logger } from '../lib/logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import { recordLeakReport } from '../store/leaks.js';
import type { PolicySet } from './policies.js';
import { startRotation } from './rotations.js';

export interface WebhookDeps {
  client: Client;
  store: RotorStore;
  policies: PolicySet;
  providers: ProviderRegistry;
  taskQueue: string;
  logger: Logger;
  /** The webhook secret configured on GitHub (resolved from its secret reference). */
  secret: string;
}

export function signatureMatches(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`);
  const presented = Buffer.from(header);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

const AlertSchema = z.object({
  action: z.string(),
  alert: z.object({
    number: z.number().optional(),
    secret_type: z.string().optional(),
    secret: z.string().min(1),
    html_url: z.string().optional(),
  }),
  repository: z.object({ full_name: z.string() }).optional(),
});

export type WebhookOutcome =
  | { status: 202; body: { credential: string; workflowId: string } }
  | { status: 200; body: { result: 'ignored' | 'replay' | 'unmanaged' } }
  | { status: 400 | 401; body: { error: string } };

/** Handles one delivery; the caller has the raw body and headers. */
export async function handleSecretScanning(deps: WebhookDeps, raw: Buffer, headers: Record<string, string | undefined>): Promise<WebhookOutcome> {
  if (!signatureMatches(raw, headers['x-hub-signature-256'], deps.secret)) return { status: 401, body: { error: 'bad signature' } };
  const deliveryId = headers['x-github-delivery'];
  if (!deliveryId) return { status: 400, body: { error: 'missing X-GitHub-Delivery' } };
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
  const matches = [...(await deps.store.findMaterial(fingerprint)), ...(await deps.store.findMaterial(alert.secret))];
  const credentialId = matches[0]?.credentialId;
  const policy = credentialId ? deps.policies.get(credentialId) : undefined;
  const report = { deliveryId, source: 'github-secret-scanning', secretType: alert.secret_type, fingerprint, location: alert.html_url ?? repository?.full_name };
  if (!policy) {
    const fresh = await recordLeakReport(deps.store, { ...report, status: 'unmanaged' });
    deps.logger.warn({ deliveryId, secretType: alert.secret_type, location: report.location }, 'leaked secret matches no managed credential');
    return { status: 200, body: { result: fresh ? 'unmanaged' : 'replay' } };
  }
  if (!(await recordLeakReport(deps.store, { ...report, credentialId: policy.id, status: 'managed' }))) {
    return { status: 200, body: { result: 'replay' } };
  }
  const { handle } = await startRotation(deps.client, deps.providers, policy, {
    taskQueue: deps.taskQueue,
    trigger: 'emergency',
    reason: `GitHub secret scanning alert${alert.number ? ` #${alert.number}` : ''} (${alert.secret_type ?? 'secret'}) in ${report.location ?? 'unknown location'}`,
  });
  // The set in force is the last valid one; say when the directory has broken files meanwhile.
  const brokenPolicyFiles = [...new Set(deps.policies.refusedProblems().map((p) => p.file))];
  deps.logger.warn({ deliveryId, credentialId: policy.id, ...(brokenPolicyFiles.length > 0 ? { brokenPolicyFiles } : {}) }, 'leak reported by GitHub: emergency rotation started');
  return { status: 202, body: { credential: policy.id, workflowId: handle.workflowId } };
}
