/**
 * The leak scan the reliability suite ends each file with: every secret value the emulators hold
 * or issued, searched for in everything Rotor wrote that a person or a system could read —
 * Temporal histories (payloads decoded), captured logs (also of worker child processes), the
 * Prometheus output and the store's tables.
 */
import type { RotorEnv } from '../harness/env.js';
import { capturedLogs } from '../harness/env.js';
import { historyText } from '../harness/leaks.js';
import { RotorMetrics } from '../../daemon/metrics.js';

/** Fields that name material publicly (a login role, an AWS key id): they may appear, by design. */
const PUBLIC_FIELDS = new Set(['username', 'accessKeyId', 'userName']);
/** Shorter values could match by chance (e.g. a version number); every generated secret is longer. */
const MIN_SECRET_LENGTH = 12;

/**
 * Every secret value in the Vault emulator: all versions of every secret under every path, soft-deleted
 * ones included (undeleted to read them, then deleted again: the scan runs last, so nothing else reads).
 */
export async function vaultSecretValues(env: RotorEnv, mount = 'secret'): Promise<string[]> {
  const { address, token } = env.vault;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${address}/v1/${mount}/${path}`, {
      method,
      headers: { 'x-vault-token': token, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, json: (response.status === 204 ? {} : await response.json()) as { data?: Record<string, unknown> } };
  };
  const leaves: string[] = [];
  const walk = async (prefix: string): Promise<void> => {
    const { status, json } = await call('GET', `metadata/${prefix}?list=true`);
    if (status !== 200) return;
    for (const key of (json.data?.keys as string[]) ?? []) {
      if (key.endsWith('/')) await walk(`${prefix}${key}`);
      else leaves.push(`${prefix}${key}`);
    }
  };
  await walk('');
  const values: string[] = [];
  for (const path of leaves) {
    const meta = (await call('GET', `metadata/${path}`)).json.data as { versions: Record<string, { deletion_time: string; destroyed: boolean }> };
    for (const [number, version] of Object.entries(meta.versions)) {
      if (version.destroyed) continue;
      const deleted = version.deletion_time !== '';
      if (deleted) await call('POST', `undelete/${path}`, { versions: [Number(number)] });
      const read = await call('GET', `data/${path}?version=${number}`);
      if (deleted) await call('POST', `delete/${path}`, { versions: [Number(number)] });
      const data = (read.json.data?.data ?? {}) as Record<string, unknown>;
      for (const [field, value] of Object.entries(data)) {
        if (typeof value === 'string' && !PUBLIC_FIELDS.has(field)) values.push(value);
      }
    }
  }
  return values;
}

/** Everything readable that Rotor produced: named haystacks to search. */
export async function rotorOutputs(env: RotorEnv, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const histories: string[] = [];
  for (const execution of await env.executions()) {
    histories.push(historyText(await env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory()));
  }
  const { rows } = await env.store.query<{ row: string }>(
    `SELECT row_to_json(t)::text AS row FROM audit_log t UNION ALL SELECT row_to_json(t)::text FROM rotation_runs t
     UNION ALL SELECT row_to_json(t)::text FROM rotation_steps t UNION ALL SELECT row_to_json(t)::text FROM credentials t
     UNION ALL SELECT row_to_json(t)::text FROM material_fingerprints t`,
  );
  return {
    'Temporal history': histories.join('\n'),
    logs: capturedLogs.join('\n'),
    metrics: await new RotorMetrics(env.store).registry.metrics(),
    'store tables': rows.map((r) => r.row).join('\n'),
    ...extra,
  };
}

export interface LeakHit {
  where: string;
  /** The first characters of the leaked value only: a report must not leak it again. */
  secretPrefix: string;
}

/** Where each secret appears; an empty list means nothing leaked. */
export function findLeaks(secrets: Iterable<string>, haystacks: Record<string, string>): LeakHit[] {
  const hits: LeakHit[] = [];
  for (const secret of new Set(secrets)) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    for (const [where, text] of Object.entries(haystacks)) {
      if (text.includes(secret)) hits.push({ where, secretPrefix: `${secret.slice(0, 3)}…` });
    }
  }
  return hits;
}
